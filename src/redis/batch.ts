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
 * sent, so sending a hundred at once would have the last one wait for all the others; a few at a
 * time keep Redis busy without any command waiting long.
 */
const IN_FLIGHT = 4

/**
 * Splits the indexes of `names` (one Redis key name per item, the one whose slot counts) into
 * groups that one command may touch: chunks of `chunk` on a standalone Redis, and on a Cluster,
 * items of one slot (then chunked), since a command or script may only touch one slot there.
 */
export function groupsFor(client: RedisClient, names: readonly string[], chunk: number): number[][] {
  const groups: number[][] = []
  if (!client.isCluster) {
    for (let i = 0; i < names.length; i += chunk) {
      groups.push(Array.from({ length: Math.min(chunk, names.length - i) }, (_, j) => i + j))
    }
    return groups
  }
  const bySlot = new Map<number, number[]>()
  names.forEach((name, i) => {
    const slot = calculateSlot(name)
    let group = bySlot.get(slot)
    if (!group || group.length >= chunk) bySlot.set(slot, (group = []))
    if (group.length === 0) groups.push(group)
    group.push(i)
  })
  return groups
}

/** Runs `work` for every group, a few at a time, and returns the results in group order. */
export function eachGroup<R>(groups: readonly number[][], work: (group: number[]) => Promise<R>): Promise<R[]> {
  const limit = pLimit(IN_FLIGHT)
  return Promise.all(groups.map((group) => limit(() => work(group))))
}
