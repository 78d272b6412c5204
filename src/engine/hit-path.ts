import { classify, type Entry } from '../entry.ts'
import type { StaleReason } from '../metrics.ts'
import type { Begun } from '../stores/store.ts'
import { withTimeout } from '../timers.ts'
import { type EngineParts, storeFailed } from './parts.ts'
import { join, load, refreshInBackground } from './single-load.ts'
import { validBegun, validLocally } from './tag-voiding.ts'
import type { Loaded, ReadRequest } from './types.ts'

const FAILED = Symbol('failed')
const LATE = Symbol('late')

/** The value for a key: from the store when it can be served, else from one shared load. */
export function wrap<T>(parts: EngineParts, req: ReadRequest<T>): Promise<T> {
  // The hit path: an in-process tier answers without a single await.
  const local = parts.store.peek?.(req.storeKey)
  if (local && (local.tags.length === 0 || validLocally(parts, local))) {
    const state = classify(local, Date.now(), req.policy.beta)
    if (state === 'fresh' || state === 'early') return Promise.resolve(serveFresh(parts, req, local, state))
  }
  return wrapThroughStore(parts, req)
}

/**
 * Reads the entry and its fence in one round trip (the store's `begin`): a hit is served from it,
 * and a miss has begun its load already, so a miss costs the read and the write, nothing more.
 */
export async function readForLoad(parts: EngineParts, storeKey: string): Promise<Begun | undefined> {
  let begun: Begun
  try {
    begun = await parts.store.begin(storeKey)
  } catch (error) {
    storeFailed(parts, 'get', error)
    return undefined
  }
  return (await validBegun(parts, [begun]))[0]
}

async function wrapThroughStore<T>(parts: EngineParts, req: ReadRequest<T>): Promise<T> {
  const mark = parts.recentLoads.mark()
  const begun = await readForLoad(parts, req.storeKey)
  const entry = begun?.entry
  if (entry) {
    const state = classify(entry, Date.now(), req.policy.beta)
    if (state === 'fresh' || state === 'early') return serveFresh(parts, req, entry, state)
    if (state === 'stale') return serveStale(parts, req, entry)
  }
  parts.metrics.request('miss')
  const landed = !parts.flights.has(req.storeKey) && parts.recentLoads.since(req.storeKey, mark)
  if (landed) {
    // The read left before a load of this key finished here: its miss is out of date.
    parts.metrics.coalesced('local')
    return landed.value as T
  }
  const loaded = await join(parts, req, entry, begun)
  // A miss can still end on a graced value: the load found one and then failed or timed out.
  if (loaded.stale) parts.metrics.staleServed(loaded.stale)
  return loaded.value as T
}

/** Counts a served entry as what it is: a hit, a negative hit, or a fail-safe (stale) value. */
export function countServed(parts: EngineParts, entry: Entry): void {
  if (entry.failSafe) {
    parts.metrics.request('stale')
    parts.metrics.staleServed('origin_error')
  } else parts.metrics.request(entry.negative ? 'negative_hit' : 'hit')
}

function serveFresh<T>(parts: EngineParts, req: ReadRequest<T>, entry: Entry, state: 'fresh' | 'early'): T {
  countServed(parts, entry)
  if (state === 'early') refreshInBackground(parts, req, entry, 'early')
  return entry.value as T
}

/** Stale within grace: revalidate in the flight, and wait for it at most the soft timeout. */
async function serveStale<T>(parts: EngineParts, req: ReadRequest<T>, entry: Entry): Promise<T> {
  if (parts.flights.has(req.storeKey)) parts.metrics.coalesced('local')
  else parts.metrics.refresh('stale')
  const { promise } = parts.flights.do(req.storeKey, () => load(parts, req, entry, 'try'))
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
      return raced.value as T
    }
    reason = raced === LATE ? 'timeout' : raced === FAILED ? 'origin_error' : ((raced as Loaded).stale as StaleReason)
  } else {
    promise.catch(() => {}) // errors were logged where the load ran
  }
  parts.metrics.request('stale')
  parts.metrics.staleServed(reason)
  return entry.value as T
}
