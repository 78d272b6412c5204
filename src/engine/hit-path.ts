import { classify, type Entry } from '../entry.ts'
import { RemoteLoaderError } from '../errors.ts'
import { channels } from '../events.ts'
import type { StaleReason } from '../metrics.ts'
import type { Begun } from '../stores/store.ts'
import { withTimeout } from '../timers.ts'
import { type EngineParts, publishRefresh, storeFailed } from './parts.ts'
import { join, load, refreshInBackground } from './single-load.ts'
import { NO_TAGS, validBegun, validLocally, voidedByTimes } from './tag-voiding.ts'
import type { Loaded, ReadRequest, WrapResult } from './types.ts'

const FAILED = Symbol('failed')
const LATE = Symbol('late')

/** The value for a key: from the store when it can be served, else from one shared load. */
export function wrap<T>(parts: EngineParts, req: ReadRequest<T>): Promise<T> {
  // The hit path: an in-process tier answers without a single await.
  const local = parts.store.peek?.(req.storeKey)
  if (local && (local.tags.length === 0 || validLocally(parts, local))) {
    const state = classify(local, Date.now(), req.policy.beta)
    if (state === 'fresh' || state === 'early') {
      const value = serveFresh(parts, req, local, state, -1)
      if (req.onResult) report(parts, req, servedAs(local))
      return Promise.resolve(value)
    }
  }
  return wrapThroughStore(parts, req)
}

/** Tells the caller how its call was answered; a throwing callback must not change the answer. */
export function report<T>(parts: EngineParts, req: ReadRequest<T>, result: WrapResult): void {
  try {
    req.onResult?.(result)
  } catch (error) {
    parts.logger.warn('onResult threw; ignored', { key: req.key, error: String(error) })
  }
}

/** What serving a stored entry counts as. */
export function servedAs(entry: Entry): 'hit' | 'negative_hit' | 'stale' {
  return entry.failSafe ? 'stale' : entry.negative ? 'negative_hit' : 'hit'
}

/**
 * Reads the entry and its fence in one round trip (the store's `begin`): a hit is served from it,
 * and a miss has begun its load already, so a miss costs the read and the write, nothing more.
 * `tags` (the caller's) are read in the same round trip where the store can, for a tagged hit.
 */
export async function readForLoad(
  parts: EngineParts,
  storeKey: string,
  tags: readonly string[] = NO_TAGS,
): Promise<Begun | undefined> {
  let begun: Begun
  try {
    begun = await (tags.length > 0
      ? parts.store.begin(storeKey, tags.map(parts.tagPrefix))
      : parts.store.begin(storeKey))
  } catch (error) {
    storeFailed(parts, 'get', error)
    return undefined
  }
  // An untagged entry (or none), or one whose tag times came with it and void nothing, is served
  // without another await.
  const entry = begun.entry
  if (!entry || entry.tags.length === 0 || voidedByTimes(entry, tags, begun.tagTimesUs) === false) return begun
  return (await validBegun(parts, [begun], tags))[0]
}

async function wrapThroughStore<T>(parts: EngineParts, req: ReadRequest<T>): Promise<T> {
  const started = performance.now()
  // 'miss' unless found otherwise: a store or loader failure before anything is known is a miss.
  let result: WrapResult = 'miss'
  try {
    const mark = parts.recentLoads.mark()
    const begun = await readForLoad(parts, req.storeKey, req.tags)
    const entry = begun?.entry
    if (entry) {
      const state = classify(entry, Date.now(), req.policy.beta)
      if (state === 'fresh' || state === 'early') {
        result = servedAs(entry)
        return serveFresh(parts, req, entry, state, started)
      }
      if (state === 'stale') {
        const served = await serveStale(parts, req, entry)
        result = served.result
        return served.value
      }
    }
    parts.metrics.request('miss')
    const landed = !parts.flights.has(req.storeKey) && parts.recentLoads.since(req.storeKey, mark)
    if (landed) {
      // The read left before a load of this key finished here: its miss is out of date.
      parts.metrics.coalesced('local')
      result = 'coalesced'
      return landed.value as T
    }
    const { promise, shared } = join(parts, req, entry, begun)
    if (shared) result = 'coalesced'
    try {
      const loaded = await promise
      // A miss can still end on a graced value: the load found one and then failed or timed out.
      if (loaded.stale) {
        parts.metrics.staleServed(loaded.stale)
        result = 'stale'
        if (channels.stale.hasSubscribers) {
          channels.stale.publish({ cache: parts.cache, key: req.key, reason: loaded.stale })
        }
      } else if (loaded.remote) result = 'coalesced'
      return loaded.value as T
    } catch (error) {
      if (error instanceof RemoteLoaderError) result = 'coalesced'
      throw error
    }
  } finally {
    // Before the caller's promise settles, rejections included.
    parts.metrics.wrapDone(result, (performance.now() - started) / 1_000)
    if (req.onResult) report(parts, req, result)
  }
}

/** Counts a served entry as what it is: a hit, a negative hit, or a fail-safe (stale) value. */
export function countServed(parts: EngineParts, entry: Entry): void {
  const result = servedAs(entry)
  parts.metrics.request(result)
  if (result === 'stale') parts.metrics.staleServed('origin_error')
}

/** Serves a fresh entry; `started` is -1 for an answer from memory that awaited nothing. */
function serveFresh<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  entry: Entry,
  state: 'fresh' | 'early',
  started: number,
): T {
  const result = servedAs(entry)
  if (started < 0) parts.metrics.answeredAtOnce(result)
  else parts.metrics.request(result)
  if (result === 'stale') parts.metrics.staleServed('origin_error')
  if (result === 'stale' ? channels.stale.hasSubscribers : channels.hit.hasSubscribers) {
    publishServed(parts, req, result, started)
  }
  if (state === 'early') refreshInBackground(parts, req, entry, 'early')
  return entry.value as T
}

function publishServed<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  result: 'hit' | 'negative_hit' | 'stale',
  started: number,
): void {
  if (result === 'stale') channels.stale.publish({ cache: parts.cache, key: req.key, reason: 'origin_error' })
  else channels.hit.publish({ cache: parts.cache, key: req.key, result, from: started < 0 ? 'memory' : 'store' })
}

/** Stale within grace: revalidate in the flight, and wait for it at most the soft timeout. */
async function serveStale<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  entry: Entry,
): Promise<{ value: T; result: WrapResult }> {
  if (parts.flights.has(req.storeKey)) parts.metrics.coalesced('local')
  else {
    parts.metrics.refresh('stale')
    publishRefresh(parts, req.key, 'stale')
  }
  const { promise, shared } = parts.flights.do(req.storeKey, () => load(parts, req, entry, 'try'))
  const soft = req.policy.softMs
  let reason: StaleReason = 'revalidate'
  if (soft > 0) {
    const settled = promise.then(
      (loaded) => loaded,
      () => FAILED,
    )
    const raced = await withTimeout(settled, soft, () => LATE)
    if (typeof raced === 'object' && raced.stale === undefined) {
      parts.metrics.request('miss')
      return { value: raced.value as T, result: shared || raced.remote ? 'coalesced' : 'miss' }
    }
    reason = raced === LATE ? 'timeout' : raced === FAILED ? 'origin_error' : ((raced as Loaded).stale as StaleReason)
  } else {
    promise.catch(() => {}) // errors were logged where the load ran
  }
  parts.metrics.request('stale')
  parts.metrics.staleServed(reason)
  if (channels.stale.hasSubscribers) channels.stale.publish({ cache: parts.cache, key: req.key, reason })
  return { value: entry.value as T, result: 'stale' }
}
