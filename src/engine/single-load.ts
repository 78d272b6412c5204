import { type Announcement, gens, type LockLease, type LockMode } from '../coordination.ts'
import { classify, type Entry } from '../entry.ts'
import { OriginTimeoutError } from '../errors.ts'
import { channels, type LockEvent } from '../events.ts'
import type { StaleReason } from '../metrics.ts'
import type { Abortable, OriginJob } from '../origin.ts'
import type { Begun, FenceToken, Receipt } from '../stores/store.ts'
import { buildEntry, failSafeEntry, graced, mayStandIn, servedValue } from './entry-building.ts'
import { beginOne, bornAt, commitBuilt, commitOne } from './fenced-write.ts'
import { LoadContext } from './load-context.ts'
import { type EngineParts, publishRefresh } from './parts.ts'
import { readValid, voidedByTags } from './tag-voiding.ts'
import type { Loaded, ReadRequest } from './types.ts'

/** What each lock decision is called in lock events. */
const LOCK_OUTCOME = {
  lead: 'acquired',
  skip: 'skipped',
  ready: 'loaded_elsewhere',
  failed: 'failed_elsewhere',
  timeout: 'timeout',
} as const

/**
 * Joins the key's flight, starting the load if none runs. `begun` is the read that found the
 * miss: it read the fence too, so the load needs no second round trip to begin.
 */
export function join<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  begun?: Begun,
): { promise: Promise<Loaded>; shared: boolean } {
  const joined = parts.flights.do(req.storeKey, () => load(parts, req, seen, 'wait', begun))
  if (joined.shared) parts.metrics.coalesced('local')
  if (channels.miss.hasSubscribers)
    channels.miss.publish({ cache: parts.cache, key: req.key, coalesced: joined.shared })
  return joined
}

/** One refresh at a time per key, and none while the origin is backed up: early refresh is optional. */
export function refreshInBackground<T>(parts: EngineParts, req: ReadRequest<T>, seen: Entry, reason: 'early'): void {
  if (parts.flights.has(req.storeKey) || parts.origin.queued >= parts.backlog) return
  parts.metrics.refresh(reason)
  publishRefresh(parts, req.key, reason)
  parts.flights.do(req.storeKey, () => load(parts, req, seen, 'try')).promise.catch(() => {})
}

/** A load of one key, with its error remembered for `errorTtl`. */
export function load<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  mode: LockMode,
  begun?: Begun,
): Promise<Loaded> {
  const recent = parts.recentErrors.recent(req.storeKey)
  if (recent) return Promise.reject(recent.error)
  // A lock with nothing to decide (`lock: false`): the read that found the miss began the load,
  // which leads under a lease that holds nothing. Its only word, if it has one to say, is its
  // "ready", and that rides with the write; a channel that cannot say it that way goes through
  // the lease.
  if (begun && !parts.locked && !parts.lock.coordinates) {
    const announce = parts.lock.silent ? undefined : parts.channel.announcement?.({ kind: 'ready', key: req.storeKey })
    if (parts.lock.silent || announce) {
      return callAndStore(parts, req, seen && graced(seen, Date.now()), begun, announce, true)
    }
  }
  return coordinateAndLoad(parts, req, seen, mode, begun).then(
    (loaded) => noted(parts, req, loaded),
    (error) => remembered(parts, req, error),
  )
}

/** A finished load, kept for reads that left before it finished (a stale stand-in is not a load). */
function noted<T, L extends Loaded>(parts: EngineParts, req: ReadRequest<T>, loaded: L): L {
  if (!loaded.stale) parts.recentLoads.note(req.storeKey, loaded)
  return loaded
}

/** A failed load: its error is kept for `errorTtl`, and stands. */
function remembered<T>(parts: EngineParts, req: ReadRequest<T>, error: unknown): never {
  parts.recentErrors.remember(req.storeKey, error, req.policy)
  throw error
}

/**
 * One process's part in loading a key: it loads only if the lock says so (an unlocked cache
 * always does); otherwise it takes the winner's value from the store when the winner announces
 * it, the winner's error, or (after `lock.wait`) stale or its own load.
 */
async function coordinateAndLoad<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  mode: LockMode,
  begun: Begun | undefined,
): Promise<Loaded> {
  const askedMs = Date.now()
  const deadlineMs = askedMs + parts.lock.waitMs
  for (;;) {
    const next = await parts.lock.coordinate(req.storeKey, seen ? mode : 'wait', deadlineMs)
    if (parts.locked && channels.lock.hasSubscribers) {
      const event: LockEvent = {
        cache: parts.cache,
        key: req.key,
        outcome: LOCK_OUTCOME[next.kind],
        waitedMs: Date.now() - askedMs,
      }
      channels.lock.publish(event)
    }
    switch (next.kind) {
      case 'lead':
        // After any coordination, begin again: a holder may have written since the first read.
        return await loadHere(parts, req, seen, next.lease, parts.lock.coordinates ? undefined : begun)
      case 'skip':
        return { value: seen?.value, stale: 'revalidate' }
      case 'ready': {
        const landed = await readValid(parts, req.storeKey, req.tags)
        if (landed && Date.now() < landed.freshUntilMs) {
          parts.metrics.coalesced('distributed')
          return { value: landed.value, remote: true }
        }
        break // announced but not readable (not cacheable, or overwritten): try again
      }
      case 'failed':
        if (mayStandIn(seen, Date.now(), req.policy)) return { value: seen.value, stale: 'origin_error' }
        throw next.error
      case 'timeout':
        if (mayStandIn(seen, Date.now(), req.policy)) return { value: seen.value, stale: 'timeout' }
        return await loadHere(parts, req, seen, next.lease, undefined)
    }
  }
}

/**
 * The load itself; the lease tells the other processes how it ended (and in which order to
 * release: see LockLease). A lease that holds nothing may hand its announcement to the write.
 */
async function loadHere<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  seen: Entry | undefined,
  lease: LockLease,
  begun: Begun | undefined,
): Promise<Loaded> {
  let loaded: (Loaded & { written?: Receipt }) | undefined
  try {
    loaded = await loadAndStore(parts, req, seen, lease.announce, begun)
  } catch (error) {
    await lease.fail(error)
    throw error
  }
  await lease.succeed(loaded.written !== undefined, loaded.written)
  return loaded
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
): Promise<Stored> {
  const startedAt = Date.now()
  let current = seen
  let start = begun
  if (!start) {
    start = await beginOne(parts, req.storeKey)
    const found = start?.entry
    if (found && found.createdAtUs !== seen?.createdAtUs) {
      const voided = found.tags.length > 0 && (await voidedByTags(parts, [found]))[0]
      if (!voided) current = found
    }
  }
  if (current && current !== seen && classify(current, startedAt, 0) === 'fresh') {
    return { value: current.value, remote: true } // another writer got there first
  }
  return callAndStore(parts, req, graced(current, startedAt), start, announce)
}

type Stored = Loaded & { written?: Receipt }

/**
 * Calls the loader through the origin guard and writes its value under the fence of `start`. On
 * a loader error, `stale` (a graced value) is served instead and written back as fresh for the
 * fail-safe throttle. `last`: this is the whole load, so it notes its result or remembers its
 * error itself (one promise layer fewer).
 */
function callAndStore<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  stale: Entry | undefined,
  start: Begun | undefined,
  announce: Announcement | undefined,
  last = false,
): Promise<Stored> {
  const job = new StoringLoad(parts, req, stale, start, announce, last)
  // A store that writes at once is written in the loader call's own promise reaction: on a
  // memory-store miss, a promise layer fewer. A write over the network waits outside the slot.
  if (parts.store.commitNow && !announce) return parts.origin.run(req.key, req.policy.hardMs, job)
  return parts.origin
    .call(req.key, req.policy.hardMs, (abort) => job.load(abort))
    .then(
      (result) => job.loaded(result.value, result.ms),
      (error) => job.failed(error),
    )
}

/**
 * One load's loader call and what follows it, as the origin guard's job: one object per miss
 * instead of a closure for each step.
 */
class StoringLoad<T> implements OriginJob<T, Stored> {
  #ctx: LoadContext<T> | undefined

  constructor(
    readonly parts: EngineParts,
    readonly req: ReadRequest<T>,
    readonly stale: Entry | undefined,
    readonly start: Begun | undefined,
    readonly announce: Announcement | undefined,
    readonly last: boolean,
  ) {}

  load(abort: Abortable): T | Promise<T> {
    const { req } = this
    const ctx = new LoadContext(req.key, this.stale?.value as T | undefined, req.tags, abort)
    this.#ctx = ctx
    return req.loader(ctx)
  }

  loaded(value: T, ms: number): Stored | Promise<Stored> {
    const { parts, req } = this
    if (!this.last) return store(parts, req, value, ms, this.#ctx, this.start, this.announce)
    try {
      return settled(parts, req, store(parts, req, value, ms, this.#ctx, this.start, this.announce))
    } catch (error) {
      return remembered(parts, req, error)
    }
  }

  failed(error: unknown): Promise<Stored> | Stored {
    const standing = standIn(this.parts, this.req, error, this.stale, this.start)
    return this.last ? settled(this.parts, this.req, standing) : standing
  }
}

/** The end of a whole load: its result noted, or its error remembered. */
function settled<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  stored: Stored | Promise<Stored>,
): Stored | Promise<Stored> {
  return stored instanceof Promise
    ? stored.then(
        (loaded) => noted(parts, req, loaded),
        (error) => remembered(parts, req, error),
      )
    : noted(parts, req, stored)
}

/** Builds the cache's entry for a loaded value and writes it under the fence of `start`. */
function store<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  value: T,
  ms: number,
  ctx: LoadContext<T> | undefined,
  start: Begun | undefined,
  announce: Announcement | undefined,
): Stored | Promise<Stored> {
  // Built even when the store is down, so an unserializable value fails the same way every time.
  const tags = ctx ? LoadContext.tagsOf(ctx) : req.tags
  const ttlOverride = ctx ? LoadContext.ttlOf(ctx) : undefined
  const built = buildEntry(value, req.policy, tags, bornAt(start), ms, ttlOverride, parts)
  if (!built) return { value, written: undefined }
  const served = servedValue(built)
  const token = start?.token
  if (token === undefined) {
    // The store could not even begin the load (it is out of reach): an in-process tier keeps it.
    parts.store.keepLocally?.(req.storeKey, built.entry, built.payload)
    return { value: served, written: undefined }
  }
  const written = commitBuilt(parts, req.storeKey, built, token, announce)
  return written instanceof Promise
    ? written.then((receipt) => ({ value: served, written: receipt }))
    : { value: served, written }
}

/** A loader error: the graced value stands in if the policy lets it, else the error stands. */
async function standIn<T>(
  parts: EngineParts,
  req: ReadRequest<T>,
  error: unknown,
  stale: Entry | undefined,
  start: Begun | undefined,
): Promise<Stored> {
  const now = Date.now()
  if (!mayStandIn(stale, now, req.policy)) throw error
  const reason: StaleReason = error instanceof OriginTimeoutError ? 'timeout' : 'origin_error'
  parts.logger.warn('loader failed; serving the stale value', { key: req.key, error: String(error) })
  // A value still fresh (a refresh, an early refresh) stays as it is; only a stale one is kept
  // on for the throttle.
  if (start?.token !== undefined && now >= stale.freshUntilMs) {
    await writeFailSafe(parts, req.storeKey, stale, req, start.token)
  }
  return { value: stale.value, stale: reason }
}

/**
 * Keeps serving the stale value for the throttle, so a failing origin is not called by every
 * request (never past the end of its grace). Announced like every write, so L1 tiers elsewhere
 * drop their copies and account for its generation.
 */
export async function writeFailSafe(
  parts: EngineParts,
  storeKey: string,
  stale: Entry,
  req: { policy: ReadRequest<unknown>['policy'] },
  token: FenceToken,
): Promise<void> {
  const built = failSafeEntry(stale, req.policy, parts)
  if (!built) return
  const announce = parts.channel.announcement?.({ kind: 'drop', keys: [storeKey] })
  const receipt = await commitOne(
    parts,
    { key: storeKey, entry: built.entry, payload: built.payload, ttlMs: built.storeTtlMs, token },
    announce,
  )
  if (receipt && !announce) await parts.channel.publish({ kind: 'drop', keys: [storeKey], ...gens(receipt) })
}
