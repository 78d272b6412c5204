import { gens, type InvalidationChannel } from '../coordination.ts'
import type { Entry } from '../entry.ts'
import type { Serializer } from '../serializer.ts'
import type { Begun, FencedWrite, Receipt, Store } from './store.ts'

/**
 * How an L1 tier settles what it holds with the shared store, once it missed messages or was cut
 * off from the store. One `begin` per copy (entry and fence, in few round trips) shows, key by
 * key, whether a write landed since the copy was made: a different entry, or none where a fence
 * says a write or delete happened. A key the store holds nothing of (neither entry nor fence:
 * its data was lost, or nothing touched the key for longer than a fence lives) was not written
 * since; its copy stays, and may be written back.
 */
export interface Comparison {
  /** Indexes of the copies the store shows were replaced or deleted since they were made. */
  changed: number[]
  /** Indexes of the copies whose key the store holds nothing of (no entry, no fence). */
  absent: number[]
}

export async function compareWithStore(
  store: Store,
  keys: readonly string[],
  copies: readonly (Entry | undefined)[],
): Promise<Comparison> {
  const begun: Begun[] = store.beginMany
    ? await store.beginMany(keys)
    : await Promise.all(keys.map((key) => store.begin(key)))
  const changed: number[] = []
  const absent: number[] = []
  const now = Date.now()
  begun.forEach((found, i) => {
    const copy = copies[i]
    if (!copy) return
    if (found.entry) {
      if (!sameWrite(found.entry, copy)) changed.push(i)
    } else if (found.token === 0 && fencesCover(copy, now)) absent.push(i)
    else changed.push(i)
  })
  return { changed, absent }
}

/**
 * A fence outlives a delete by an hour on Redis (src/redis/scripts.ts), so a key with no fence
 * shows no delete since a copy made less than that ago. Half of it, for clocks that differ.
 */
const FENCES_COVER_MS = 30 * 60_000

/** Whether a missing fence still proves that nothing wrote or deleted the copy's key since it was made. */
export function fencesCover(copy: Entry, now: number): boolean {
  return now * 1000 - copy.createdAtUs < FENCES_COVER_MS * 1000
}

/** One load or `set` gives one birth time and one expiry: a copy of it matches on all three. */
function sameWrite(stored: Entry, copy: Entry): boolean {
  return (
    stored.createdAtUs === copy.createdAtUs &&
    stored.freshUntilMs === copy.freshUntilMs &&
    stored.staleUntilMs === copy.staleUntilMs
  )
}

/**
 * The fenced writes that put fresh copies back into a store that lost them: each with token 0,
 * so it lands only while the key still has no fence (no write or delete since, by any process),
 * kept to the end of the copy's grace as the original write was. A value the serializer refuses
 * now is left out.
 */
export function writesBack(
  serializer: Serializer,
  keys: readonly string[],
  copies: readonly (Entry | undefined)[],
  indexes: readonly number[],
  now: number,
): FencedWrite[] {
  const writes: FencedWrite[] = []
  for (const i of indexes) {
    const copy = copies[i]
    // Counters (createdAtUs 0) are never kept; a stale copy is not worth spreading.
    if (!copy || copy.createdAtUs === 0 || now >= copy.freshUntilMs) continue
    let payload: string | Buffer
    try {
      payload = copy.negative ? '' : serializer.serialize(copy.value)
    } catch {
      continue
    }
    writes.push({ key: keys[i] as string, entry: copy, payload, ttlMs: copy.staleUntilMs - now, token: 0 })
  }
  return writes
}

/**
 * Writes them, announced like every write (as a drop: other processes' copies of those keys go,
 * and they read the one written), so their tiers account for the generations they moved.
 */
export async function writeBack(
  store: Store,
  channel: InvalidationChannel,
  writes: readonly FencedWrite[],
): Promise<(Receipt | undefined)[]> {
  const receipts: (Receipt | undefined)[] = []
  // A slice at a time, one after the other: every process of a fleet writes back at once when
  // Redis returns, and one script over thousands of keys would hold every read queued behind it.
  for (let i = 0; i < writes.length; i += WRITE_BACK_SLICE) {
    receipts.push(...(await writeSlice(store, channel, writes.slice(i, i + WRITE_BACK_SLICE))))
  }
  return receipts
}

/** Keys per write-back script. */
const WRITE_BACK_SLICE = 100

async function writeSlice(
  store: Store,
  channel: InvalidationChannel,
  writes: readonly FencedWrite[],
): Promise<(Receipt | undefined)[]> {
  const canAnnounce = channel.announcement?.({ kind: 'drop', keys: [] }) !== undefined
  const announce = (keys: string[]) => channel.announcement?.({ kind: 'drop', keys }) ?? { channel: '', message: '' }
  const receipts = store.commitMany
    ? await store.commitMany(writes, canAnnounce ? announce : undefined)
    : await Promise.all(
        writes.map((w) =>
          store.commit(w.key, w.entry, w.payload, w.ttlMs, w.token, canAnnounce ? announce([w.key]) : undefined),
        ),
      )
  if (!canAnnounce) {
    const landed = writes.filter((_, i) => receipts[i]).map((w) => w.key)
    if (landed.length > 0) await channel.publish({ kind: 'drop', keys: landed, ...gens(...receipts) })
  }
  return receipts
}
