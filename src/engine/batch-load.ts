import type { Announcement, BatchLease, LockMode } from '../coordination.ts'
import { announceWritten, unheldBatchLease } from '../coordination-local.ts'
import { classify, type Entry } from '../entry.ts'
import type { Policy } from '../options.ts'
import { withSignal } from '../origin.ts'
import type { Begun, FencedWrite } from '../stores/store.ts'
import { readBatchAnswer } from './batch-answer.ts'
import { waitForOthers } from './batch-coordination.ts'
import { BatchFlight } from './batch-flight.ts'
import { buildEntry, failSafeEntry, graced, mayStandIn, servedValue } from './entry-building.ts'
import { beginAll, bornAt, commitAll } from './fenced-write.ts'
import { countServed } from './hit-path.ts'
import { type EngineParts, publishRefresh, storeFailed } from './parts.ts'
import { join } from './single-load.ts'
import { afterInvalidation, validBegun, voidedByTags } from './tag-voiding.ts'
import type { BatchLoader, Loaded } from './types.ts'

/** Keys written to the store together as soon as they are built: the store's default chunk, one write command there. */
const BLOCK = 1_000

/** How long a loop over a batch's keys (registering, building) may hold the event loop before it lets replies and timers through. */
const SLICE_MS = 4

/** One key of a batch load: what the first read found, and how to settle its flight. */
export interface BatchItem {
  key: string
  storeKey: string
  seen: Entry | undefined
  settle: BatchFlight
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
  if (!anyTagged(entries)) return entries
  const voided = await voidedByTags(parts, entries)
  return entries.map((e, i) => (voided[i] && e ? afterInvalidation(parts, e) : e))
}

function anyTagged(entries: readonly (Entry | undefined)[]): boolean {
  // Indexed, as the batch's other per-key loops: a for-of here allocated an iterator result per entry.
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    if (e && e.tags.length > 0) return true
  }
  return false
}

/**
 * Batch read-through, the same pipeline as one key: one read for all keys (entries, in chunks),
 * then per key the same flight, error memory, lock and
 * fenced write as `wrap`, with one `loadMany` call for the keys that must be loaded here. A
 * concurrent `wrap` of one of them joins the batch's flight instead of loading it again.
 *
 * A key asked twice is read twice (a repeat costs one more key in an MGET, where setting the keys
 * apart first cost a Set of every key on every warm read) and counted as asked; if it must load,
 * its second flight finds the first registered and follows it, so `loadMany` sees it once.
 */
export async function wrapMany<T>(
  parts: EngineParts,
  keys: readonly string[],
  storeKeyOf: (key: string) => string,
  loadMany: BatchLoader<T>,
  policy: Policy,
  tags: readonly string[],
): Promise<unknown[]> {
  const storeKeys = keys.map(storeKeyOf)
  // Entries only: a hit needs no fence, and the keys that must load begin when they do (see loadGroup).
  const mark = parts.recentLoads.mark()
  const found = await readAll(parts, storeKeys)
  const now = Date.now()
  const { beta } = policy
  const values = new Array<unknown>(keys.length)
  const waiting: Promise<void>[] = []
  const missing: number[] = []
  const refreshing: number[] = []
  for (let i = 0; i < keys.length; i++) {
    const entry = found[i]
    const state = entry ? classify(entry, now, beta) : 'expired'
    if (entry && state !== 'expired') {
      values[i] = entry.value
      if (state === 'fresh') {
        countServed(parts, entry)
        continue
      }
      if (state === 'stale') {
        parts.metrics.request('stale')
        parts.metrics.staleServed('revalidate')
      } else countServed(parts, entry)
      if (!parts.flights.has(storeKeys[i] as string)) refreshing.push(i)
      continue
    }
    const storeKey = storeKeys[i] as string
    parts.metrics.request('miss')
    const inFlight = parts.flights.has(storeKey)
    const landed = !inFlight && parts.recentLoads.since(storeKey, mark)
    if (landed) {
      parts.metrics.coalesced('local')
      values[i] = landed.value
    } else if (inFlight) {
      const key = keys[i] as string
      waiting.push(
        join(parts, { key, storeKey, loader: () => undefined, policy, tags }, undefined).promise.then((loaded) => {
          values[i] = loaded.value
        }),
      )
    } else missing.push(i)
  }
  const call = { loadMany, policy, tags }
  const itemOf = (i: number): Omit<BatchItem, 'settle'> => ({
    key: keys[i] as string,
    storeKey: storeKeys[i] as string,
    seen: found[i],
  })
  const loads = missing.length > 0 ? loadBatch(parts, missing.map(itemOf), call, 'wait') : undefined
  if (refreshing.length > 0 && parts.origin.queued < parts.backlog) {
    const once = firstOfEach(refreshing, storeKeys)
    for (const i of once) {
      const reason = classify(found[i] as Entry, now, 0) === 'stale' ? 'stale' : 'early'
      parts.metrics.refresh(reason)
      publishRefresh(parts, keys[i] as string, reason)
    }
    loadBatch(parts, once.map(itemOf), call, 'try')
  }
  if (loads) {
    await loads.done
    let failed: { error: unknown } | undefined
    // Indexed: a for-of over entries() allocated a pair and an iterator result per key.
    for (let j = 0; j < missing.length; j++) {
      const i = missing[j] as number
      const flight = loads.flights[j] as BatchFlight
      // Every flight is settled once the run ends; a pending one would be a bug, so wait for it rather than guess.
      if (flight.state === 0) await flight.promise().catch(() => {})
      if (flight.state === 2) {
        failed ??= { error: flight.error }
        continue
      }
      const loaded = flight.loaded as Loaded
      if (loaded.stale) parts.metrics.staleServed(loaded.stale)
      values[i] = loaded.value
    }
    if (failed) {
      await Promise.allSettled(waiting)
      throw failed.error
    }
  }
  if (waiting.length > 0) await Promise.all(waiting)
  return values
}

/** The indexes in `at` whose store keys come first among them: a key asked twice is refreshed once. */
function firstOfEach(at: number[], storeKeys: readonly string[]): number[] {
  if (at.length < 2) return at
  const seen = new Set<string>()
  return at.filter((i) => {
    const key = storeKeys[i] as string
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * Registers one flight per key, all settled by one batch run: keys whose load failed lately fail
 * again at once (error ttl); with a lock, keys another process holds are waited for and the rest
 * are locked and loaded together; without one, all are loaded together. `done` settles once every
 * flight has.
 */
function loadBatch<T>(
  parts: EngineParts,
  items: Omit<BatchItem, 'settle'>[],
  call: BatchCall<T>,
  mode: LockMode,
): { flights: BatchFlight[]; done: Promise<unknown> } {
  const flights = new Array<BatchFlight>(items.length)
  for (let i = 0; i < items.length; i++) flights[i] = new BatchFlight()
  return { flights, done: registerAndRun(parts, items, flights, call, mode) }
}

/**
 * Registers the flights, in slices that let the event loop through (100,000 keys took 150 ms in
 * one piece), then runs the batch. A `wrap` of a key not registered yet may start its own load
 * meanwhile: the key's registration then finds it and follows it, as it does any earlier load.
 */
async function registerAndRun<T>(
  parts: EngineParts,
  items: Omit<BatchItem, 'settle'>[],
  flights: BatchFlight[],
  call: BatchCall<T>,
  mode: LockMode,
): Promise<unknown> {
  const run: BatchItem[] = []
  const joined: Promise<void>[] = []
  const slices = new Slices()
  for (let i = 0; i < items.length; i++) {
    if (slices.due(i)) await slices.letLoopThrough()
    const item = items[i] as Omit<BatchItem, 'settle'>
    const flight = flights[i] as BatchFlight
    const promise = flight.claimIn(parts.flights, item.storeKey)
    if (promise) {
      // Already loading here (a wrap that started in between): this key follows that load.
      joined.push(
        promise.then(
          (loaded) => flight.resolve(loaded),
          (error) => flight.reject(error),
        ),
      )
    } else run.push({ key: item.key, storeKey: item.storeKey, seen: item.seen, settle: flight })
  }
  const ran = runBatch(parts, run, call, mode).catch((error) => {
    for (const item of run) item.settle.reject(error)
  })
  return joined.length > 0 ? Promise.all([ran, ...joined]) : ran
}

/** The clock of a synchronous loop over a batch's keys: every SLICE_MS it lets the event loop through. */
class Slices {
  #started = performance.now()

  /** Whether item `i` should wait for a turn of the event loop first (the clock is read every 32 items). */
  due(i: number): boolean {
    return i % 32 === 31 && performance.now() - this.#started > SLICE_MS
  }

  /** One turn of the event loop: replies, timers and other callers get their turn. */
  async letLoopThrough(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    this.#started = performance.now()
  }
}

async function runBatch<T>(parts: EngineParts, items: BatchItem[], call: BatchCall<T>, mode: LockMode): Promise<void> {
  let pending: BatchItem[] = []
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as BatchItem
    const recent = parts.recentErrors.recent(item.storeKey)
    if (recent) item.settle.reject(recent.error)
    else pending.push(item)
  }
  const loads: Promise<void>[] = []
  const deadlineMs = Date.now() + parts.lock.waitMs
  while (pending.length > 0) {
    const asked = pending.map((item) => item.storeKey)
    const decided = await parts.lock.tryMany(asked)
    const pick = picker(pending, asked)
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

/** The items of some of the keys asked for; the items themselves when those are all of them in order (no lock: one group). */
function picker(items: BatchItem[], asked: readonly string[]): (keys: readonly string[]) => BatchItem[] {
  let byKey: Map<string, BatchItem> | undefined
  return (keys) => {
    if (keys.length === 0) return []
    if (keys.length === asked.length && keys.every((key, i) => key === asked[i])) return items
    byKey ??= new Map(items.map((item) => [item.storeKey, item]))
    const map = byKey
    return keys.map((key) => map.get(key) as BatchItem)
  }
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
  const begun = await beginValid(
    parts,
    items.map((item) => item.storeKey),
  )
  const loaded = new Array<Loaded | undefined>(items.length)
  const failures = new Map<number, unknown>()
  const current = new Array<Entry | undefined>(items.length)
  const toLoad: number[] = []
  for (let i = 0; i < items.length; i++) {
    const seen = (items[i] as BatchItem).seen
    const found = begun[i]?.entry
    // Read again at begin: an entry that is not the one the first read saw landed meanwhile.
    const now = found && found.createdAtUs !== seen?.createdAtUs ? found : seen
    current[i] = now
    if (now && now !== seen && classify(now, startedAt, 0) === 'fresh') {
      loaded[i] = { value: now.value, remote: true } // another writer got there first
      parts.metrics.coalesced('distributed')
    } else toLoad.push(i)
  }
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
  const written: string[] = []
  const generations: number[] = []
  let writes: FencedWrite[] = []
  // Each block of writes goes to the store as soon as it is built, so the store writes one block
  // while the next is built; one block at a time, so no more commands are in flight than the
  // store allows one batch (a command's timeout runs from when it is sent).
  let committed = Promise.resolve()
  const send = (block: FencedWrite[]) => {
    if (block.length === 0) return
    committed = committed.then(async () => {
      const receipts = await commitAll(parts, block, announce)
      for (let j = 0; j < block.length; j++) {
        const receipt = receipts[j]
        if (!receipt) continue
        written.push((block[j] as FencedWrite).key)
        if (receipt.generation) generations.push(receipt.generation)
      }
    })
  }
  const spread = ms / keys.length
  const slices = new Slices()
  for (let n = 0; n < toLoad.length; n++) {
    if (n > 0 && n % BLOCK === 0) {
      send(writes)
      writes = []
    }
    // Building is synchronous work: let replies (whose timeouts run) and timers through often.
    if (slices.due(n)) await slices.letLoopThrough()
    const i = toLoad[n] as number
    const item = items[i] as BatchItem
    const value = lookup(item.key)
    try {
      const built = buildEntry(value, call.policy, call.tags, bornAt(begun[i]), spread, undefined, parts)
      if (!built) {
        loaded[i] = { value }
        continue
      }
      // Callers get each value as later hits will read it (the serializer's round trip).
      loaded[i] = { value: servedValue(built) }
      const token = begun[i]?.token
      if (token !== undefined) {
        writes.push({ key: item.storeKey, entry: built.entry, payload: built.payload, ttlMs: built.storeTtlMs, token })
      }
    } catch (error) {
      failures.set(i, error) // this key's value cannot be stored; the others still are
    }
  }
  send(writes)
  await committed
  return { loaded, failures, written, generations }
}

/** Begins the loads of `storeKeys` (entries and fences), each entry checked against its tags. */
async function beginValid(parts: EngineParts, storeKeys: readonly string[]): Promise<(Begun | undefined)[]> {
  const read = await beginAll(parts, storeKeys)
  let tagged = false
  for (let i = 0; i < read.length && !tagged; i++) {
    const entry = read[i]?.entry
    if (entry && entry.tags.length > 0) tagged = true
  }
  if (!tagged) return read
  const valid = await validBegun(
    parts,
    read.filter((b): b is Begun => b !== undefined),
  )
  let next = 0
  return read.map((b) => (b ? valid[next++] : undefined))
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
