import calculateSlot from 'cluster-key-slot'
import pLimit from 'p-limit'
import type { RedisClient } from './client.ts'

/**
 * Keys per Redis command when a batch is read or written: large enough that a 100,000-key batch
 * is a hundred commands, small enough that one command of 1 KiB values (about 1 MB) takes Redis a
 * few milliseconds, far from any store timeout. Measured with `npm run bench -- batch`.
 */
export const DEFAULT_CHUNK = 1_000

/**
 * Commands of one batch in flight at once. Each command's timeout runs from the moment it is
 * sent, so sending a hundred at once would have the last one wait for all the others (and for
 * this process to decode their replies); two keep Redis busy while one reply is decoded.
 */
const IN_FLIGHT = 2

/** Bytes of values per write command: a chunk of large values is cut smaller, so no command carries megabytes. */
export const CHUNK_BYTES = 512 * 1024

/**
 * Splits the indexes of `names` (one Redis key name per item, the one whose slot counts) into
 * groups that one command may touch: chunks of `chunk` on a standalone Redis, and on a Cluster,
 * items of one slot (then chunked), since a command or script may only touch one slot there.
 * With `bytesOf`, a group also ends once it holds CHUNK_BYTES.
 */
export function groupsFor(
  client: RedisClient,
  names: readonly string[],
  chunk: number,
  bytesOf?: (i: number) => number,
): number[][] {
  const groups: number[][] = []
  const bytes = new Map<number[], number>()
  const full = (group: number[]) => group.length >= chunk || (bytes.get(group) ?? 0) >= CHUNK_BYTES
  const add = (group: number[], i: number) => {
    group.push(i)
    if (bytesOf) bytes.set(group, (bytes.get(group) ?? 0) + bytesOf(i))
  }
  if (!client.isCluster) {
    let group: number[] = []
    names.forEach((_, i) => {
      if (group.length === 0) groups.push(group)
      add(group, i)
      if (full(group)) group = []
    })
    return groups
  }
  const bySlot = new Map<number, number[]>()
  names.forEach((name, i) => {
    const slot = calculateSlot(name)
    let group = bySlot.get(slot)
    if (!group || full(group)) bySlot.set(slot, (group = []))
    if (group.length === 0) groups.push(group)
    add(group, i)
  })
  return groups
}

/** Runs `work` for every group, a few at a time, and returns the results in group order. */
export function eachGroup<R>(groups: readonly number[][], work: (group: number[]) => Promise<R>): Promise<R[]> {
  const limit = pLimit(IN_FLIGHT)
  return Promise.all(groups.map((group) => limit(() => work(group))))
}

/** The names of a group's items: a slice where the group is a run of indexes (always, off Cluster), else picked. */
export function namesOf(names: readonly string[], group: readonly number[]): string[] {
  const first = group[0] as number
  const last = group[group.length - 1] as number
  if (last - first + 1 === group.length) return names.slice(first, last + 1)
  return group.map((i) => names[i] as string)
}
