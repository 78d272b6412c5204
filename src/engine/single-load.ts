import { toMs } from '../duration.ts'
import { classify, type Entry } from '../entry.ts'
import { OriginTimeoutError } from '../errors.ts'
import type { HeldLock } from '../lock.ts'
import type { StaleReason } from '../metrics.ts'
import type { Announcement, Begun, FenceToken } from '../stores/store.ts'
import { buildEntry, failSafeEntry, graced, validTags } from './entry-building.ts'
import { beginOne, bornAt, commitOne, readyAnnouncement } from './fenced-write.ts'
import type { EngineParts } from './parts.ts'
import { readValid, voidedByTags } from './tag-voiding.ts'
import type { Loaded, LoaderContext, LoadMode, ReadRequest } from './types.ts'

/**
 * Joins the key's flight, starting the load if none runs. `begun` is the read that found the
 * miss: it read the fence too, so the load needs no second round trip to begin.
 */
export function join<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  begun?: Begun,
): Promise<Loaded> {
  const { promise, shared } = parts.flights.do(req.storeKey, () => load(parts, req, seen, 'wait', begun))
  if (shared) parts.metrics.coalesced('local')
  return promise
}

/** One refresh at a time per key, and none while the origin is backed up: early refresh is optional. */
export function refreshInBackground<T>(parts: EngineParts, req: ReadRequest<T>, seen: Entry, reason: 'early'): void {
  if (parts.flights.has(req.storeKey) || parts.origin.queued >= parts.backlog) return
  parts.metrics.refresh(reason)
  parts.flights.do(req.storeKey, () => load(parts, req, seen, 'try')).promise.catch(() => {})
}

/** A load of one key, with its error remembered for `errorTtl`. */
export async function load<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  mode: LoadMode,
  begun?: Begun,
): Promise<Loaded> {
  const recent = parts.recentErrors.recent(req.storeKey)
  if (recent) throw recent.error
  try {
    return await coordinateAndLoad(parts, req, seen, mode, begun)
  } catch (error) {
    parts.recentErrors.remember(req.storeKey, error, req.policy)
    throw error
  }
}

/**
 * One process's part in loading a key. Without a fleet lock it loads here. With one, it loads
 * only if it wins the key's lock; otherwise it takes the winner's value from the store when the
 * winner announces it, the winner's error, or (after `lock.wait`) stale or its own load.
 */
async function coordinateAndLoad<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  mode: LoadMode,
  begun: Begun | undefined,
): Promise<Loaded> {
  const fleet = parts.fleet
  if (!fleet) return loadHere(parts, req, seen, undefined, begun)
  const deadline = Date.now() + fleet.waitMs
  for (;;) {
    const next = await fleet.coordinate(req.storeKey, seen ? mode : 'wait', deadline)
    switch (next.kind) {
      case 'lead':
        // Begin again under the lock: a holder may have written between the first read and now.
        return loadHere(parts, req, seen, next.held, undefined)
      case 'skip':
        return { value: seen?.value, stale: 'revalidate' }
      case 'ready': {
        const landed = await readValid(parts, req.storeKey)
        if (landed && Date.now() < landed.freshUntil) {
          parts.metrics.coalesced('distributed')
          return { value: landed.value }
        }
        break // announced but not readable (not cacheable, or overwritten): try again
      }
      case 'failed':
        if (seen && Date.now() < seen.staleUntil) return { value: seen.value, stale: 'origin_error' }
        throw next.error
      case 'timeout':
        if (seen && Date.now() < seen.staleUntil) return { value: seen.value, stale: 'timeout' }
        return loadHere(parts, req, seen, undefined, undefined)
    }
  }
}

/**
 * The load itself, and its announcement. Without a lock the announcement rides in the write
 * (one command). A lock holder releases first and announces after, so a waiter that starts
 * listening just after the message finds the lock free, takes it and reads the value when it
 * begins, instead of sleeping until the lock would have expired. A failure is announced while
 * the lock is still held, so no waiter takes it in between and calls the failing origin again.
 */
async function loadHere<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  held: HeldLock | undefined,
  begun: Begun | undefined,
): Promise<Loaded> {
  let loaded: (Loaded & { written?: boolean }) | undefined
  let failure: unknown
  try {
    loaded = await loadAndStore(parts, req, seen, held ? undefined : readyAnnouncement(parts, req.storeKey), begun)
  } catch (error) {
    failure = error
  }
  if (loaded) {
    await held?.release()
    if (held) await parts.bus?.publish({ kind: 'ready', key: req.storeKey })
    return loaded
  }
  if (held) {
    const detail = JSON.stringify({ name: (failure as Error)?.name, message: (failure as Error)?.message })
    await parts.bus?.publish({ kind: 'error', key: req.storeKey, detail })
  }
  await held?.release()
  throw failure
}

/**
 * Begin (unless the read that found the miss did), use a value that landed meanwhile, else call
 * the loader and write the result under the fence. On a loader error, a graced value is served
 * instead and written back as fresh for the fail-safe throttle.
 */
async function loadAndStore<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  announce: Announcement | undefined,
  begun: Begun | undefined,
): Promise<Loaded & { written?: boolean }> {
  const startedAt = Date.now()
  let current = seen
  let start = begun
  if (!start) {
    start = await beginOne(parts, req.storeKey)
    const found = start?.entry
    if (found && found.createdAt !== seen?.createdAt) {
      const voided = found.tags.length > 0 && (await voidedByTags(parts, [found]))[0]
      if (!voided) current = found
    }
  }
  if (current && current !== seen && classify(current, startedAt, 0) === 'fresh') {
    return { value: current.value } // another writer got there first
  }
  const stale = graced(current, startedAt)

  let ttlOverride: number | undefined
  let tags = req.tags
  const ctx: Omit<LoaderContext<T>, 'signal'> = {
    key: req.key,
    stale: stale?.value as T | undefined,
    setTtl: (ttl) => {
      ttlOverride = toMs('ctx.setTtl', ttl)
    },
    setTags: (next) => {
      tags = validTags(next)
    },
  }
  let result: { value: T; ms: number }
  try {
    result = await parts.origin.call(req.key, req.policy.hardMs, (signal) => req.loader({ ...ctx, signal }))
  } catch (error) {
    if (!stale || Date.now() >= stale.staleUntil) throw error
    const reason: StaleReason = error instanceof OriginTimeoutError ? 'timeout' : 'origin_error'
    parts.logger.warn('loader failed; serving the stale value', { key: req.key, error: String(error) })
    if (start) await writeFailSafe(parts, req.storeKey, stale, req, start.token)
    return { value: stale.value, stale: reason }
  }
  // Built even when the store is down, so an unserializable value fails the same way every time.
  const built = buildEntry(result.value, req.policy, tags, bornAt(start), result.ms, ttlOverride, parts.serializer)
  const written =
    built !== undefined &&
    start !== undefined &&
    (await commitOne(
      parts,
      { key: req.storeKey, entry: built.entry, payload: built.payload, ttlMs: built.storeTtl, token: start.token },
      announce,
    ))
  return { value: result.value, written }
}

/** Keeps serving the stale value for the throttle, so a failing origin is not called by every request. */
export async function writeFailSafe(
  parts: EngineParts,
  storeKey: string,
  stale: Entry,
  req: { policy: ReadRequest<unknown>['policy'] },
  token: FenceToken,
): Promise<void> {
  const built = failSafeEntry(stale, req.policy, parts.serializer)
  if (!built) return
  await commitOne(parts, { key: storeKey, entry: built.entry, payload: built.payload, ttlMs: built.storeTtl, token })
}
