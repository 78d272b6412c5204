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
 * this process to decode their replies); four keep Redis busy while replies are decoded (a warm
 * read of 20,000 keys took 2-4% less time than with two, a cold one the same, measured A/B).
 */
const IN_FLIGHT = 4

/** Bytes of values per write command: a chunk of large values is cut smaller, so no command carries megabytes. */
export const CHUNK_BYTES = 512 * 1024

/**
 * Splits the indexes of `count` items into groups that one command may touch: chunks of `chunk`
 * on a standalone Redis, and on a Cluster, items of one slot (then chunked), since a command or
 * script may only touch one slot there; `nameOf(i)` is the Redis key name whose slot counts for
 * item `i`, asked for on a Cluster only (elsewhere no name need be made before its command is).
 * With `bytesOf`, a group also ends once it holds CHUNK_BYTES.
 */
export function groupsFor(
  client: RedisClient,
  count: number,
  nameOf: (i: number) => string,
  chunk: number,
  bytesOf?: (i: number) => number,
): number[][] {
  const groups: number[][] = []
  if (!client.isCluster && !bytesOf) {
    // Runs of `chunk` indexes, each array made at its size (no pushes, no byte counts).
    for (let from = 0; from < count; from += chunk) {
      const group = new Array<number>(Math.min(chunk, count - from))
      for (let j = 0; j < group.length; j++) group[j] = from + j
      groups.push(group)
    }
    return groups
  }
  const bytes = new Map<number[], number>()
  const full = (group: number[]) => group.length >= chunk || (bytes.get(group) ?? 0) >= CHUNK_BYTES
  const add = (group: number[], i: number) => {
    group.push(i)
    if (bytesOf) bytes.set(group, (bytes.get(group) ?? 0) + bytesOf(i))
  }
  if (!client.isCluster) {
    let group: number[] = []
    for (let i = 0; i < count; i++) {
      if (group.length === 0) groups.push(group)
      add(group, i)
      if (full(group)) group = []
    }
    return groups
  }
  const bySlot = new Map<number, number[]>()
  for (let i = 0; i < count; i++) {
    const slot = calculateSlot(nameOf(i))
    let group = bySlot.get(slot)
    if (!group || full(group)) bySlot.set(slot, (group = []))
    if (group.length === 0) groups.push(group)
    add(group, i)
  }
  return groups
}

/** Runs `work` for every group, a few at a time, and returns the results in group order. */
export function eachGroup<R>(groups: readonly number[][], work: (group: number[]) => Promise<R>): Promise<R[]> {
  const limit = pLimit(IN_FLIGHT)
  return Promise.all(groups.map((group) => limit(() => work(group))))
}
