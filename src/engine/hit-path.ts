// Imported: the global `performance` is a lazy getter, a function call on every read of a miss.
import { performance } from 'node:perf_hooks'
import { classify, type Entry } from '../entry.ts'
import { RemoteLoaderError } from '../errors.ts'
import { channels } from '../events.ts'
import { noMetrics, type StaleReason } from '../metrics.ts'
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
  const beginNow = parts.store.beginNow
  return beginNow ? wrapAtOnce(parts, req, beginNow) : readThenWrap(parts, req)
}

/**
 * A read through a store that answers later (Redis): a fresh entry is served in the read's own
 * callback, so a hit waits on the store's reply and nothing else; anything else goes on in
 * `wrapThroughStore`.
 */
function readThenWrap<T>(parts: EngineParts, req: ReadRequest<T>): Promise<T> {
  const started = performance.now()
  // Taken before the read: a load of this key that finishes while the read is out is noted after it.
  const mark = parts.recentLoads.mark()
  return readForLoad(parts, req.storeKey, req.tags).then(
    (begun) => {
      const entry = begun?.entry
      if (entry) {
        const state = classify(entry, Date.now(), req.policy.beta)
        if (state === 'fresh' || state === 'early') {
          try {
            return serveFresh(parts, req, entry, state, started)
          } finally {
            finished(parts, req, servedAs(entry), started)
          }
        }
      }
      return wrapThroughStore(parts, req, started, begun, mark)
    },
    (error: unknown) => {
      finished(parts, req, 'miss', started)
      throw error
    },
  )
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
export function readForLoad(
  parts: EngineParts,
  storeKey: string,
  tags: readonly string[] = NO_TAGS,
): Promise<Begun | undefined> {
  let read: Promise<Begun>
  try {
    read = tags.length > 0 ? parts.store.begin(storeKey, parts.storeTags(tags)) : parts.store.begin(storeKey)
  } catch (error) {
    storeFailed(parts, 'get', error)
    return Promise.resolve(undefined)
  }
  // Callbacks on the store's promise rather than an async function: one promise layer fewer on a hit.
  return read.then(
    (begun) => unvoided(parts, begun, tags),
    (error: unknown) => {
      storeFailed(parts, 'get', error)
      return undefined
    },
  )
}

/** `begun`, or undefined when a tag voids its entry. */
function unvoided(parts: EngineParts, begun: Begun, tags: readonly string[]): Begun | Promise<Begun | undefined> {
  // An untagged entry (or none), or one whose tag times came with it and void nothing, is served
  // without another await.
  const entry = begun.entry
  if (!entry || entry.tags.length === 0 || voidedByTimes(entry, tags, begun.tagTimesUs) === false) return begun
  return validBegun(parts, [begun], tags).then((valid) => valid[0])
}

/**
 * On a store that begins at once (`beginNow`: memory): the read that finds the miss begins its
 * load in the same tick, and the miss waits on nothing but the load itself. No load can have
 * finished between the read and the join, so there is no landed-meanwhile check either.
 */
function wrapAtOnce<T>(parts: EngineParts, req: ReadRequest<T>, beginNow: (key: string) => Begun): Promise<T> {
  // Without metrics nobody reads the wrap's duration: no clock read for it.
  const started = parts.metrics === noMetrics ? UNTIMED : performance.now()
  let begun: Begun | undefined
  try {
    begun = beginNow.call(parts.store, req.storeKey)
  } catch (error) {
    storeFailed(parts, 'get', error)
  }
  if (begun?.entry !== undefined) {
    return wrapThroughStore(parts, req, started === UNTIMED ? performance.now() : started, begun, -1, false)
  }
  parts.metrics.request('miss')
  const { promise, shared } = join(parts, req, undefined, begun)
  return promise.then(
    (loaded) => {
      finished(parts, req, answeredAs(parts, req, loaded, shared ? 'coalesced' : 'miss'), started)
      return loaded.value as T
    },
    (error) => {
      finished(parts, req, shared || error instanceof RemoteLoaderError ? 'coalesced' : 'miss', started)
      throw error
    },
  )
}

/** What a caller that waited for a load was answered with; a stale stand-in is counted and published. */
function answeredAs<T>(parts: EngineParts, req: ReadRequest<T>, loaded: Loaded, joined: WrapResult): WrapResult {
  // A miss can still end on a graced value: the load found one and then failed or timed out.
  if (loaded.stale) {
    parts.metrics.staleServed(loaded.stale)
    if (channels.stale.hasSubscribers) {
      channels.stale.publish({ cache: parts.cache, key: req.key, reason: loaded.stale })
    }
    return 'stale'
  }
  return loaded.remote ? 'coalesced' : joined
}

/** Counts the call and reports how it was answered, before the caller's promise settles (rejections included). */
function finished<T>(parts: EngineParts, req: ReadRequest<T>, result: WrapResult, started: number): void {
  parts.metrics.wrapDone(result, started === UNTIMED ? 0 : (performance.now() - started) / 1_000)
  if (req.onResult) report(parts, req, result)
}

/** `started` of a wrap whose duration nobody reads. */
const UNTIMED = -1

/**
 * The rest of a read through the store, from what the read found (`read`): `checked` when its tags
 * were checked already (readForLoad), `mark` the recent loads' mark taken before it (-1 for a read
 * taken at once).
 */
async function wrapThroughStore<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  started: number,
  read: Begun | undefined,
  mark: number,
  checked = true,
): Promise<T> {
  // 'miss' unless found otherwise: a store or loader failure before anything is known is a miss.
  let result: WrapResult = 'miss'
  try {
    const begun = checked ? read : read && (await unvoided(parts, read, req.tags))
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
    // A read taken at once (mark -1) left no time for a load to finish meanwhile.
    const landed = mark >= 0 && !parts.flights.has(req.storeKey) && parts.recentLoads.since(req.storeKey, mark)
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
      result = answeredAs(parts, req, loaded, result)
      return loaded.value as T
    } catch (error) {
      if (error instanceof RemoteLoaderError) result = 'coalesced'
      throw error
    }
  } finally {
    finished(parts, req, result, started)
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
