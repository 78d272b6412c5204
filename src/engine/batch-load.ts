import type { Announcement, BatchLease, LockMode } from '../coordination.ts'
import { announceWritten, unheldBatchLease } from '../coordination-local.ts'
import { classify, type Entry } from '../entry.ts'
import type { Policy } from '../options.ts'
import { withSignal } from '../origin.ts'
import type { Begun, FencedWrite } from '../stores/store.ts'
import { readBatchAnswer } from './batch-answer.ts'
import { waitForOthers } from './batch-coordination.ts'
import { buildEntry, failSafeEntry, graced, mayStandIn, servedValue } from './entry-building.ts'
import { beginAll, bornAt, commitAll } from './fenced-write.ts'
import { countServed } from './hit-path.ts'
import { type EngineParts, publishRefresh, storeFailed } from './parts.ts'
import { join } from './single-load.ts'
import { afterInvalidation, validBegun, voidedByTags } from './tag-voiding.ts'
import type { BatchLoader, Loaded } from './types.ts'

/** Keys built between two turns of the event loop. */
const YIELD_EVERY = 1_000

/** One key of a batch load: what the first read found, and how to settle its flight. */
export interface BatchItem {
  key: string
  storeKey: string
  seen: Entry | undefined
  settle: { resolve(loaded: Loaded): void; reject(error: unknown): void }
}

/** The batch's shared inputs: one loader call serves many keys. */
interface BatchCall<T> {
  loadMany: BatchLoader<T>
  policy: Policy
  tags: readonly string[]
}

/** Entries of many keys, tag-checked, in as few round trips as the store allows; unreadable ones are misses. */
async function readAll(parts: EngineParts, storeKeys: readonly string[]): Promise<(Entry | undefined)[]> {
  let entries: (Entry | undefined)[]
  try {
    entries = await parts.store.getMany(storeKeys)
  } catch (error) {
    storeFailed(parts, 'getMany', error)
    return storeKeys.map(() => undefined)
  }
  if (!entries.some((e) => e && e.tags.length > 0)) return entries
  const voided = await voidedByTags(parts, entries)
  return entries.map((e, i) => (voided[i] && e ? afterInvalidation(parts, e) : e))
}

/**
 * Batch read-through, the same pipeline as one key: one read for all keys (entries, in chunks),
 * then per key the same flight, error memory, lock and
 * fenced write as `wrap`, with one `loadMany` call for the keys that must be loaded here. A
 * concurrent `wrap` of one of them joins the batch's flight instead of loading it again.
 */
export async function wrapMany<T>(
  parts: EngineParts,
  keys: readonly string[],
  storeKeyOf: (key: string) => string,
  loadMany: BatchLoader<T>,
  policy: Policy,
  tags: readonly string[],
): Promise<unknown[]> {
  const unique = [...new Set(keys)]
  const storeKeys = unique.map(storeKeyOf)
  // Entries only: a hit needs no fence, and the keys that must load begin when they do (see loadGroup).
  const mark = parts.recentLoads.mark()
  const found = await readAll(parts, storeKeys)
  const now = Date.now()
  const values = new Array<unknown>(unique.length)
  const waiting: Promise<void>[] = []
  const missing: { index: number; item: Omit<BatchItem, 'settle'> }[] = []
  const refreshing: Omit<BatchItem, 'settle'>[] = []
  unique.forEach((key, i) => {
    const storeKey = storeKeys[i] as string
    const entry = found[i]
    const state = entry ? classify(entry, now, policy.beta) : 'expired'
    if (entry && state !== 'expired') {
      values[i] = entry.value
      if (state === 'stale') {
        parts.metrics.request('stale')
        parts.metrics.staleServed('revalidate')
      } else countServed(parts, entry)
      if (state !== 'fresh' && !parts.flights.has(storeKey)) {
        refreshing.push({ key, storeKey, seen: entry })
      }
      return
    }
    parts.metrics.request('miss')
    const landed = !parts.flights.has(storeKey) && parts.recentLoads.since(storeKey, mark)
    if (landed) {
      parts.metrics.coalesced('local')
      values[i] = landed.value
    } else if (parts.flights.has(storeKey)) {
      waiting.push(
        join(parts, { key, storeKey, loader: () => undefined, policy, tags }, undefined).promise.then((loaded) => {
          values[i] = loaded.value
        }),
      )
    } else missing.push({ index: i, item: { key, storeKey, seen: entry } })
  })
  const call = { loadMany, policy, tags }
  if (missing.length > 0) {
    const loads = loadBatch(
      parts,
      missing.map((m) => m.item),
      call,
      'wait',
    )
    missing.forEach((m, j) => {
      waiting.push(
        (loads[j] as Promise<Loaded>).then((loaded) => {
          if (loaded.stale) parts.metrics.staleServed(loaded.stale)
          values[m.index] = loaded.value
        }),
      )
    })
  }
  if (refreshing.length > 0 && parts.origin.queued < parts.backlog) {
    for (const item of refreshing) {
      const reason = classify(item.seen as Entry, now, 0) === 'stale' ? 'stale' : 'early'
      parts.metrics.refresh(reason)
      publishRefresh(parts, item.key, reason)
    }
    for (const load of loadBatch(parts, refreshing, call, 'try')) load.catch(() => {})
  }
  await Promise.all(waiting)
  const at = new Map(unique.map((key, i) => [key, i]))
  return keys.map((key) => values[at.get(key) as number])
}

/**
 * Registers one flight per key, all settled by one batch run: keys whose load failed lately fail
 * again at once (error ttl); with a lock, keys another process holds are waited for and the rest
 * are locked and loaded together; without one, all are loaded together.
 */
function loadBatch<T>(
  parts: EngineParts,
  items: Omit<BatchItem, 'settle'>[],
  call: BatchCall<T>,
  mode: LockMode,
): Promise<Loaded>[] {
  const settled: BatchItem[] = []
  const promises = items.map(
    (item) =>
      parts.flights.do(
        item.storeKey,
        () =>
          new Promise<Loaded>((resolve, reject) => {
            settled.push({ ...item, settle: { resolve, reject } })
          }),
      ).promise,
  )
  void runBatch(parts, settled, call, mode).catch((error) => {
    for (const item of settled) item.settle.reject(error)
  })
  return promises
}

async function runBatch<T>(parts: EngineParts, items: BatchItem[], call: BatchCall<T>, mode: LockMode): Promise<void> {
  let pending: BatchItem[] = []
  for (const item of items) {
    const recent = parts.recentErrors.recent(item.storeKey)
    if (recent) item.settle.reject(recent.error)
    else pending.push(item)
  }
  const loads: Promise<void>[] = []
  const deadlineMs = Date.now() + parts.lock.waitMs
  while (pending.length > 0) {
    const byKey = new Map(pending.map((item) => [item.storeKey, item]))
    const pick = (keys: readonly string[]) => keys.map((key) => byKey.get(key) as BatchItem)
    const decided = await parts.lock.tryMany(pending.map((item) => item.storeKey))
    for (const group of decided.load) loads.push(loadGroup(parts, pick(group.keys), call, group.lease))
    const others = pick(decided.taken)
    if (others.length === 0) break
    if (mode === 'try') {
      for (const item of others) item.settle.resolve({ value: item.seen?.value, stale: 'revalidate' })
      break
    }
    if (Date.now() >= deadlineMs) {
      const late: BatchItem[] = []
      for (const item of others) {
        parts.metrics.lock('timeout')
        if (mayStandIn(item.seen, Date.now(), call.policy)) {
          item.settle.resolve({ value: item.seen.value, stale: 'timeout' })
        } else late.push(item)
      }
      if (late.length > 0) loads.push(loadGroup(parts, late, call, unheldBatchLease(parts.channel)))
      break
    }
    pending = await waitForOthers(parts, others, deadlineMs, call.policy)
  }
  await Promise.all(loads)
}

/**
 * Loads a group of keys in one origin call and settles their flights, as one key's load does:
 * begin (entries and fences, under the lock if one is held), skip what landed meanwhile, call the origin, build, write
 * under the fences, announce; on a loader error, graced values are served and written back for
 * the fail-safe throttle, the rest fail and are remembered for the error ttl. The lease announces
 * the outcome in the lock's order (see BatchLease).
 */
async function loadGroup<T>(
  parts: EngineParts,
  items: BatchItem[],
  call: BatchCall<T>,
  lease: BatchLease,
): Promise<void> {
  if (items.length === 0) return
  let outcome: GroupOutcome
  try {
    outcome = await loadAndStoreGroup(parts, items, call, lease.announce)
  } catch (error) {
    await lease.release()
    throw error
  }
  const { loaded, failures, written, generations } = outcome
  await lease.finish(
    written,
    [...failures].map(([i, error]) => ({ key: (items[i] as BatchItem).storeKey, error })),
    generations,
  )
  items.forEach((item, i) => {
    const error = failures.get(i)
    if (error !== undefined) {
      parts.recentErrors.remember(item.storeKey, error, call.policy)
      item.settle.reject(error)
    } else {
      const done = loaded[i] as Loaded
      if (!done.stale) parts.recentLoads.note(item.storeKey, done)
      item.settle.resolve(done)
    }
  })
}

interface GroupOutcome {
  loaded: (Loaded | undefined)[]
  failures: Map<number, unknown>
  /** Store keys whose entries landed. */
  written: string[]
  /** The namespace generations their writes moved to, for the announcement. */
  generations: number[]
}

async function loadAndStoreGroup<T>(
  parts: EngineParts,
  items: BatchItem[],
  call: BatchCall<T>,
  announce: ((keys: string[]) => Announcement) | undefined,
): Promise<GroupOutcome> {
  const startedAt = Date.now()
  const current = items.map((item) => item.seen)
  const read = await beginAll(
    parts,
    items.map((item) => item.storeKey),
  )
  const valid = await validBegun(
    parts,
    read.filter((b): b is Begun => b !== undefined),
  )
  let next = 0
  const begun = read.map((b) => (b ? valid[next++] : undefined))
  begun.forEach((b, i) => {
    const found = b?.entry
    if (found && found.createdAtUs !== items[i]?.seen?.createdAtUs) current[i] = found
  })
  const loaded = new Array<Loaded | undefined>(items.length)
  const failures = new Map<number, unknown>()
  const toLoad: number[] = []
  items.forEach((item, i) => {
    const now = current[i]
    if (now && now !== item.seen && classify(now, startedAt, 0) === 'fresh') {
      loaded[i] = { value: now.value, remote: true } // another writer got there first
      parts.metrics.coalesced('distributed')
    } else toLoad.push(i)
  })
  if (toLoad.length === 0) return { loaded, failures, written: [], generations: [] }

  const keys = toLoad.map((i) => (items[i] as BatchItem).key)
  let lookup: (key: string) => unknown
  let ms: number
  try {
    const result = await parts.origin.call(
      `batch of ${keys.length}`,
      call.policy.hardMs,
      (abort) => call.loadMany(keys, withSignal({}, abort)),
      keys,
    )
    lookup = readBatchAnswer(result.value, keys)
    ms = result.ms
  } catch (error) {
    // As for one key: a graced value stands in and is kept for the fail-safe throttle.
    const keep: FencedWrite[] = []
    const now = Date.now()
    for (const i of toLoad) {
      const item = items[i] as BatchItem
      const stale = graced(current[i], startedAt)
      if (!mayStandIn(stale, now, call.policy)) {
        failures.set(i, error)
        continue
      }
      loaded[i] = { value: stale.value, stale: 'origin_error' }
      // A value still fresh (a refresh) stays as it is; only a stale one is kept on for the throttle.
      if (now < stale.freshUntilMs) continue
      const built = failSafeEntry(stale, call.policy, parts)
      const token = begun[i]?.token
      if (built && token !== undefined) {
        keep.push({ key: item.storeKey, entry: built.entry, payload: built.payload, ttlMs: built.storeTtlMs, token })
      }
    }
    if (failures.size < toLoad.length) {
      parts.logger.warn('batch loader failed; serving stale values', { keys: keys.length, error: String(error) })
    }
    await writeFailSafes(parts, keep)
    return { loaded, failures, written: [], generations: [] }
  }
  const writes: FencedWrite[] = []
  for (const [n, i] of toLoad.entries()) {
    // Building is synchronous work: let replies and timers of other commands through now and then.
    if (n > 0 && n % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
    const item = items[i] as BatchItem
    const value = lookup(item.key)
    loaded[i] = { value }
    try {
      const built = buildEntry(value, call.policy, call.tags, bornAt(begun[i]), ms / keys.length, undefined, parts)
      // Callers get each value as later hits will read it (the serializer's round trip).
      if (built) loaded[i] = { value: servedValue(built) }
      const token = begun[i]?.token
      if (built && token !== undefined) {
        writes.push({ key: item.storeKey, entry: built.entry, payload: built.payload, ttlMs: built.storeTtlMs, token })
      }
    } catch (error) {
      failures.set(i, error) // this key's value cannot be stored; the others still are
    }
  }
  const receipts = await commitAll(parts, writes, announce)
  return {
    loaded,
    failures,
    written: writes.filter((_, i) => receipts[i]).map((w) => w.key),
    generations: receipts.flatMap((r) => (r?.generation ? [r.generation] : [])),
  }
}

/**
 * Writes graced values back for the fail-safe throttle, announced like every write (by the
 * writes themselves when the store can), so L1 tiers elsewhere account for their generations.
 */
async function writeFailSafes(parts: EngineParts, keep: FencedWrite[]): Promise<void> {
  if (keep.length === 0) return
  const channel = parts.channel
  const canAnnounce = channel.announcement?.({ kind: 'drop', keys: [] }) !== undefined
  const announce = canAnnounce
    ? (keys: string[]) => channel.announcement?.({ kind: 'drop', keys }) ?? { channel: '', message: '' }
    : undefined
  const receipts = await commitAll(parts, keep, announce)
  if (canAnnounce) return
  await announceWritten(
    channel,
    keep.filter((_, i) => receipts[i]).map((w) => w.key),
    receipts.flatMap((r) => (r?.generation ? [r.generation] : [])),
  )
}
