import { LRUCache } from 'lru-cache'
import { nowMicros } from './clock.ts'
import { gens, type InvalidationChannel, type KeyLock, type LockLease, type LockMode } from './coordination.ts'
import { type Duration, toMs } from './duration.ts'
import { classify, type Entry } from './entry.ts'
import { OriginTimeoutError, RemoteLoaderError } from './errors.ts'
import { channels, type LockEvent } from './events.ts'
import { Flight } from './flight.ts'
import { assertTags } from './keys.ts'
import type { Logger } from './logger.ts'
import type { CacheMetrics, RefreshReason, StaleReason, StoreOp } from './metrics.ts'
import type { Policy } from './options.ts'
import { OriginGuard } from './origin.ts'
import { roundTrip, type Serializer, serializeOrThrow } from './serializer.ts'
import type { FenceToken, Receipt, Store } from './stores/store.ts'
import { withTimeout } from './timers.ts'

/** What a loader gets: its key, an abort signal for the hard timeout, the graced value, and knobs for this one result. */
export interface LoaderContext<T = unknown> {
  key: string
  /** Aborted at the hard timeout: pass it to your database or HTTP client. */
  signal: AbortSignal
  /** The stale (graced) value, if one exists: useful for conditional requests. */
  stale: T | undefined
  /** Stores this one result for `ttl` instead of the configured one (adaptive caching). */
  setTtl(ttl: Duration): void
  /** Stores this one result with these tags instead of the ones given to `wrap`. */
  setTags(tags: string[]): void
}

export type Loader<T> = (ctx: LoaderContext<T>) => T | Promise<T>

/**
 * How one `wrap` call was answered: from the cache ('hit', 'negative_hit', 'stale'), by this
 * caller's own load ('miss'), or by joining a load another caller started, in this process or
 * another ('coalesced').
 */
export type WrapResult = 'hit' | 'stale' | 'miss' | 'coalesced' | 'negative_hit'

/** One read-through request, as the facade hands it over: key already validated and namespaced. */
export interface ReadRequest<T> {
  key: string
  storeKey: string
  loader: Loader<T>
  policy: Policy
  tags: readonly string[]
  /** Told how this call was answered, once, just before its promise settles. */
  onResult?: ((result: WrapResult) => void) | undefined
}

const FAILED = Symbol('failed')
const LATE = Symbol('late')

/** Loads several keys in one origin call. */
export type BatchLoader<T> = (
  keys: string[],
  ctx: { signal: AbortSignal },
) => Promise<Map<string, T> | Record<string, T>> | Map<string, T> | Record<string, T>

interface BatchItem {
  key: string
  storeKey: string
  seen: Entry | undefined
}

/** Reads a batch loader's answer, a Map or a plain record; a key it left out is undefined (negative). */
function batchResults(result: unknown): (key: string) => unknown {
  if (result instanceof Map) return (key) => result.get(key)
  if (typeof result === 'object' && result !== null) {
    const record = result as Record<string, unknown>
    return (key) => (Object.hasOwn(record, key) ? record[key] : undefined)
  }
  throw new TypeError('loadMany must return a Map or a record of key to value')
}

/** A load's result: from the origin, from a value another writer just stored, or stale instead of an error. */
interface Loaded {
  value: unknown
  stale?: StaleReason
  /** The value was loaded by another process (announced by its lock, or found landed in `begin`). */
  remote?: true
}

const LOCK_OUTCOME = {
  lead: 'acquired',
  skip: 'skipped',
  ready: 'loaded_elsewhere',
  failed: 'failed_elsewhere',
  timeout: 'timeout',
} as const

/**
 * The read path: classify what the store holds, serve what can be served at once, and funnel
 * every load for a key through one flight, the origin guard and a fenced write.
 */
export class Engine {
  readonly flights = new Flight<Loaded>()
  readonly origin: OriginGuard
  readonly #store: Store
  readonly #metrics: CacheMetrics
  readonly #logger: Logger
  readonly #serializer: Serializer
  readonly #tagPrefix: (tag: string) => string
  readonly #lock: KeyLock
  readonly #channel: InvalidationChannel
  readonly #invalidateAsStale: boolean
  /** Loader errors kept for `errorTtl`, so a dead origin is not called by every request. Bounded. */
  readonly #recentErrors = new LRUCache<string, { error: unknown; until: number }>({ max: 10_000 })
  /** Background refreshes start only while the origin queue is shorter than this. */
  readonly #backlog: number
  /** The cache's name, for events. */
  readonly #cache: string
  /** Whether `lock` coordinates processes (lock events are published only then). */
  readonly #locked: boolean

  constructor(deps: {
    cache: string
    locked: boolean
    store: Store
    metrics: CacheMetrics
    logger: Logger
    serializer: Serializer
    originConcurrency: number
    tagPrefix: (tag: string) => string
    /** Who loads a missing key across processes (an unlocked one loads everywhere). */
    lock: KeyLock
    /** Where finished loads are announced, so other processes drop their copies. */
    channel: InvalidationChannel
    invalidateAsStale: boolean
  }) {
    this.#cache = deps.cache
    this.#locked = deps.locked
    this.#invalidateAsStale = deps.invalidateAsStale
    this.#lock = deps.lock
    this.#channel = deps.channel
    this.#store = deps.store
    this.#metrics = deps.metrics
    this.#logger = deps.logger
    this.#serializer = deps.serializer
    this.#tagPrefix = deps.tagPrefix
    this.origin = new OriginGuard(deps.originConcurrency, deps.metrics, deps.cache)
    this.#backlog = Number.isFinite(deps.originConcurrency) ? deps.originConcurrency * 4 : 10_000
  }

  /** The value for a key: from the store when it can be served, else from one shared load. */
  wrap<T>(req: ReadRequest<T>): Promise<T> {
    // The hit path: an in-process tier answers without a single await.
    const local = this.#store.peek?.(req.storeKey)
    if (local && (local.tags.length === 0 || this.#validLocally(local))) {
      const state = classify(local, Date.now(), req.policy.beta)
      if (state === 'fresh' || state === 'early') {
        const value = this.#serveFresh(req, local, state, -1)
        if (req.onResult) this.#report(req, servedAs(local))
        return Promise.resolve(value)
      }
    }
    return this.#wrapThroughStore(req)
  }

  async #wrapThroughStore<T>(req: ReadRequest<T>): Promise<T> {
    const started = performance.now()
    // 'miss' unless found otherwise: a store or loader failure before anything is known is a miss.
    let result: WrapResult = 'miss'
    try {
      const entry = await this.readValid(req.storeKey)
      if (entry) {
        const state = classify(entry, Date.now(), req.policy.beta)
        if (state === 'fresh' || state === 'early') {
          result = servedAs(entry)
          return this.#serveFresh(req, entry, state, started)
        }
        if (state === 'stale') {
          const served = await this.#serveStale(req, entry)
          result = served.result
          return served.value
        }
      }
      this.#metrics.request('miss')
      const { promise, shared } = this.#join(req, entry)
      if (shared) result = 'coalesced'
      try {
        const loaded = await promise
        // A miss can still end on a graced value: the load found one and then failed or timed out.
        if (loaded.stale) {
          this.#metrics.staleServed(loaded.stale)
          result = 'stale'
          if (channels.stale.hasSubscribers)
            channels.stale.publish({ cache: this.#cache, key: req.key, reason: loaded.stale })
        } else if (loaded.remote) result = 'coalesced'
        return loaded.value as T
      } catch (error) {
        if (error instanceof RemoteLoaderError) result = 'coalesced'
        throw error
      }
    } finally {
      // Before the caller's promise settles, rejections included.
      this.#metrics.wrapDone(result, (performance.now() - started) / 1_000)
      if (req.onResult) this.#report(req, result)
    }
  }

  /** Tells the caller how its call was answered; a throwing callback must not change the answer. */
  #report<T>(req: ReadRequest<T>, result: WrapResult): void {
    try {
      req.onResult?.(result)
    } catch (error) {
      this.#logger.warn('onResult threw; ignored', { key: req.key, error: String(error) })
    }
  }

  /** True when the store knows every tag time of `entry` in memory and none voids it. */
  #validLocally(entry: Entry): boolean {
    const times = this.#store.peekTagTimes?.(entry.tags.map(this.#tagPrefix))
    return times?.every((time) => time < entry.createdAtUs) ?? false
  }

  /** Serves a fresh entry; `started` is -1 for an answer from memory that awaited nothing. */
  #serveFresh<T>(req: ReadRequest<T>, entry: Entry, state: 'fresh' | 'early', started: number): T {
    const result = servedAs(entry) as 'hit' | 'negative_hit' | 'stale'
    if (started < 0) this.#metrics.answeredAtOnce(result)
    else this.#metrics.request(result)
    if (result === 'stale') this.#metrics.staleServed('origin_error')
    if (result === 'stale' ? channels.stale.hasSubscribers : channels.hit.hasSubscribers)
      this.#publishServed(req, result, started)
    if (state === 'early') this.#refreshInBackground(req, entry, 'early')
    return entry.value as T
  }

  #publishServed<T>(req: ReadRequest<T>, result: 'hit' | 'negative_hit' | 'stale', started: number): void {
    if (result === 'stale') channels.stale.publish({ cache: this.#cache, key: req.key, reason: 'origin_error' })
    else channels.hit.publish({ cache: this.#cache, key: req.key, result, from: started < 0 ? 'memory' : 'store' })
  }

  #publishRefresh(key: string, reason: RefreshReason): void {
    if (channels.refresh.hasSubscribers) channels.refresh.publish({ cache: this.#cache, key, reason })
  }

  /** The fresh value of a key, for `get`: never loads and never serves a stale value; counted as a request. */
  async get(storeKey: string): Promise<unknown> {
    const entry = await this.readValid(storeKey)
    if (!entry || Date.now() >= entry.freshUntilMs) {
      this.#metrics.request('miss')
      return undefined
    }
    this.#metrics.request(entry.negative ? 'negative_hit' : 'hit')
    return entry.value
  }

  /** Loads in flight and loader calls waiting for an origin slot, now (at rest: 0 and 0). */
  activity(): { flights: number; originQueue: number } {
    return { flights: this.flights.size, originQueue: this.origin.queued }
  }

  /** Loads now whatever the store holds, joining a load already in flight (Caffeine's refresh). */
  async refresh<T>(req: ReadRequest<T>): Promise<T> {
    this.#metrics.refresh('manual')
    this.#publishRefresh(req.key, 'manual')
    let result: WrapResult = 'miss'
    try {
      const seen = await this.readValid(req.storeKey)
      const { promise, shared } = this.#join(req, seen)
      if (shared) result = 'coalesced'
      const loaded = await promise
      if (loaded.remote) result = 'coalesced'
      return loaded.value as T
    } catch (error) {
      if (error instanceof RemoteLoaderError) result = 'coalesced'
      throw error
    } finally {
      if (req.onResult) this.#report(req, result)
    }
  }

  /**
   * Batch read-through: one store round trip for all keys, and one `loadMany` call for the keys no
   * flight already covers. Each of those keys gets a flight of its own, so a concurrent `wrap` of
   * one of them joins the batch instead of loading it again.
   */
  async wrapMany<T>(
    keys: readonly string[],
    storeKeyOf: (key: string) => string,
    loadMany: BatchLoader<T>,
    policy: Policy,
    tags: readonly string[],
  ): Promise<unknown[]> {
    const unique = [...new Set(keys)]
    const storeKeys = unique.map(storeKeyOf)
    let entries: (Entry | undefined)[]
    try {
      entries = await this.#store.getMany(storeKeys)
    } catch (error) {
      this.#storeFailed('getMany', error)
      entries = []
    }
    const voided = await this.#voidedByTags(entries)
    const now = Date.now()
    entries = entries.map((entry, i) => (voided[i] && entry ? this.#afterInvalidation(entry) : entry))
    const values = new Map<string, unknown>()
    const waiting: Promise<void>[] = []
    const missing: BatchItem[] = []
    const refreshing: BatchItem[] = []
    unique.forEach((key, i) => {
      const storeKey = storeKeys[i] as string
      const entry = entries[i]
      const state = entry ? classify(entry, now, policy.beta) : 'expired'
      if (entry && state !== 'expired') {
        values.set(key, entry.value)
        if (state === 'stale') {
          this.#metrics.request('stale')
          this.#metrics.staleServed('revalidate')
        } else {
          const result = servedAs(entry) as 'hit' | 'negative_hit' | 'stale'
          this.#metrics.request(result)
          if (result === 'stale') this.#metrics.staleServed('origin_error')
        }
        if (state !== 'fresh' && !this.flights.has(storeKey)) refreshing.push({ key, storeKey, seen: entry })
        return
      }
      this.#metrics.request('miss')
      if (this.flights.has(storeKey)) {
        // Joins the running load (counted as coalesced by #join).
        waiting.push(
          this.#join({ key, storeKey, loader: () => undefined, policy, tags }, undefined).promise.then(
            (l) => void values.set(key, l.value),
          ),
        )
      } else missing.push({ key, storeKey, seen: entry })
    })
    if (missing.length > 0) {
      const loads = this.#loadBatch(missing, loadMany, policy, tags)
      for (const [i, item] of missing.entries()) {
        waiting.push((loads[i] as Promise<Loaded>).then((l) => void values.set(item.key, l.value)))
      }
    }
    if (refreshing.length > 0 && this.origin.queued < this.#backlog) {
      for (const item of refreshing) {
        const reason = classify(item.seen as Entry, now, 0) === 'stale' ? 'stale' : 'early'
        this.#metrics.refresh(reason)
        this.#publishRefresh(item.key, reason)
      }
      for (const load of this.#loadBatch(refreshing, loadMany, policy, tags)) load.catch(() => {})
    }
    await Promise.all(waiting)
    return keys.map((key) => values.get(key))
  }

  /** Registers a flight per key, all settled by one `loadMany` call and fenced writes per key. */
  #loadBatch<T>(
    items: BatchItem[],
    loadMany: BatchLoader<T>,
    policy: Policy,
    tags: readonly string[],
  ): Promise<Loaded>[] {
    const batch = (async () => {
      const begun = await Promise.all(
        items.map((item) =>
          this.#store.begin(item.storeKey).then(
            (b) => b,
            (error) => void this.#storeFailed('begin', error),
          ),
        ),
      )
      const createdAtUs = begun.find((b) => b?.nowUs !== undefined)?.nowUs ?? nowMicros()
      const keys = items.map((item) => item.key)
      const { value, ms } = await this.origin.call(
        `batch of ${items.length}`,
        policy.hardMs,
        (signal) => loadMany(keys, { signal }),
        keys,
      )
      const loaded = batchResults(value)
      // Callers get each value as later hits will read it (the serializer's round trip).
      const served = new Map<string, unknown>()
      const found = (key: string) => (served.has(key) ? served.get(key) : loaded(key))
      const written: string[] = []
      const receipts: Receipt[] = []
      await Promise.all(
        items.map((item, i) => {
          const built = buildEntry(
            loaded(item.key),
            policy,
            tags,
            createdAtUs,
            ms / items.length,
            undefined,
            this.#serializer,
          )
          if (built) served.set(item.key, servedValue(built, this.#serializer))
          const token = begun[i]?.token
          if (!built || token === undefined) return undefined
          return this.#commit(item.storeKey, built, token).then((receipt) => {
            if (!receipt) return
            written.push(item.storeKey)
            receipts.push(receipt)
          })
        }),
      )
      // One message for the batch: other processes' L1 tiers drop their copies.
      if (written.length > 0) await this.#channel.publish({ kind: 'drop', keys: written, ...gens(...receipts) })
      return found
    })()
    return items.map(
      (item) => this.flights.do(item.storeKey, () => batch.then((found) => ({ value: found(item.key) }))).promise,
    )
  }

  /** The store's entry for a key, or undefined when absent, unreadable, or voided by a tag. */
  async readValid(storeKey: string): Promise<Entry | undefined> {
    let entry: Entry | undefined
    try {
      entry = await this.#store.get(storeKey)
    } catch (error) {
      this.#storeFailed('get', error)
      return undefined
    }
    if (!entry || entry.tags.length === 0) return entry
    return (await this.#voidedByTags([entry]))[0] ? this.#afterInvalidation(entry) : entry
  }

  /**
   * A tag-invalidated entry is a miss; with `invalidateAsStale` it is a stale value instead (served
   * within its grace while one refresh runs), since users disagree on this (bentocache#71).
   */
  #afterInvalidation(entry: Entry): Entry | undefined {
    return this.#invalidateAsStale ? { ...entry, freshUntilMs: 0, failSafe: false } : undefined
  }

  /** For each entry, whether a tag it carries was invalidated at or after the load that made it began. */
  async #voidedByTags(entries: readonly (Entry | undefined)[]): Promise<boolean[]> {
    const only = entries.length === 1 ? entries[0] : undefined
    if (only) {
      // One entry (every wrap): no bookkeeping beyond the tag times themselves.
      try {
        const times = await this.#store.tagTimes(only.tags.map(this.#tagPrefix))
        return [times.some((time) => time >= only.createdAtUs)]
      } catch (error) {
        this.#storeFailed('tagTimes', error)
        return [true]
      }
    }
    const tags = [...new Set(entries.flatMap((e) => e?.tags ?? []))]
    if (tags.length === 0) return entries.map(() => false)
    let times: number[]
    try {
      times = await this.#store.tagTimes(tags.map(this.#tagPrefix))
    } catch (error) {
      // Tags cannot be checked, so no tagged entry can be trusted.
      this.#storeFailed('tagTimes', error)
      return entries.map((e) => (e?.tags.length ?? 0) > 0)
    }
    const at = new Map(tags.map((tag, i) => [tag, times[i] ?? 0]))
    return entries.map((e) => !!e && e.tags.some((tag) => (at.get(tag) ?? 0) >= e.createdAtUs))
  }

  /** Stale within grace: revalidate in the flight, and wait for it at most the soft timeout. */
  async #serveStale<T>(req: ReadRequest<T>, entry: Entry): Promise<{ value: T; result: WrapResult }> {
    if (this.flights.has(req.storeKey)) this.#metrics.coalesced('local')
    else {
      this.#metrics.refresh('stale')
      this.#publishRefresh(req.key, 'stale')
    }
    const { promise, shared } = this.flights.do(req.storeKey, () => this.#load(req, entry, 'try'))
    const soft = req.policy.softMs
    let reason: StaleReason = 'revalidate'
    if (soft > 0) {
      const settled = promise.then(
        (loaded) => loaded,
        () => FAILED,
      )
      const raced = await withTimeout(settled, soft, () => LATE)
      if (typeof raced === 'object' && raced.stale === undefined) {
        this.#metrics.request('miss')
        return { value: raced.value as T, result: shared || raced.remote ? 'coalesced' : 'miss' }
      }
      reason = raced === LATE ? 'timeout' : raced === FAILED ? 'origin_error' : ((raced as Loaded).stale as StaleReason)
    } else {
      promise.catch(() => {}) // errors were logged where the load ran
    }
    this.#metrics.request('stale')
    this.#metrics.staleServed(reason)
    if (channels.stale.hasSubscribers) channels.stale.publish({ cache: this.#cache, key: req.key, reason })
    return { value: entry.value as T, result: 'stale' }
  }

  /** Joins the key's flight, starting the load if none runs; `shared` when another caller started it. */
  #join<T>(req: ReadRequest<T>, seen: Entry | undefined): { promise: Promise<Loaded>; shared: boolean } {
    const joined = this.flights.do(req.storeKey, () => this.#load(req, seen, 'wait'))
    if (joined.shared) this.#metrics.coalesced('local')
    if (channels.miss.hasSubscribers)
      channels.miss.publish({ cache: this.#cache, key: req.key, coalesced: joined.shared })
    return joined
  }

  /** One refresh at a time per key, and none while the origin is backed up: early refresh is optional. */
  #refreshInBackground<T>(req: ReadRequest<T>, seen: Entry, reason: RefreshReason): void {
    if (this.flights.has(req.storeKey) || this.origin.queued >= this.#backlog) return
    this.#metrics.refresh(reason)
    this.#publishRefresh(req.key, reason)
    this.flights.do(req.storeKey, () => this.#load(req, seen, 'try')).promise.catch(() => {})
  }

  /**
   * One process's part in loading a key: it loads only if the lock says so (an unlocked cache
   * always does); otherwise it takes the winner's value from the store when the winner announces
   * it, the winner's error, or (after `lock.wait`) stale or its own load.
   */
  async #load<T>(req: ReadRequest<T>, seen: Entry | undefined, mode: LockMode): Promise<Loaded> {
    const recent = this.#recentErrors.get(req.storeKey)
    if (recent && Date.now() < recent.until) throw recent.error
    try {
      return await this.#coordinateAndLoad(req, seen, mode)
    } catch (error) {
      if (req.policy.errorTtlMs > 0) {
        this.#recentErrors.set(req.storeKey, { error, until: Date.now() + req.policy.errorTtlMs })
      }
      throw error
    }
  }

  async #coordinateAndLoad<T>(req: ReadRequest<T>, seen: Entry | undefined, mode: LockMode): Promise<Loaded> {
    const askedMs = Date.now()
    const deadlineMs = askedMs + this.#lock.waitMs
    for (;;) {
      const next = await this.#lock.coordinate(req.storeKey, seen ? mode : 'wait', deadlineMs)
      if (this.#locked && channels.lock.hasSubscribers) {
        const event: LockEvent = {
          cache: this.#cache,
          key: req.key,
          outcome: LOCK_OUTCOME[next.kind],
          waitedMs: Date.now() - askedMs,
        }
        channels.lock.publish(event)
      }
      switch (next.kind) {
        case 'lead':
          return this.#loadHere(req, seen, next.lease)
        case 'skip':
          return { value: seen?.value, stale: 'revalidate' }
        case 'ready': {
          const landed = await this.readValid(req.storeKey)
          if (landed && Date.now() < landed.freshUntilMs) {
            this.#metrics.coalesced('distributed')
            return { value: landed.value, remote: true }
          }
          break // announced but not readable (not cacheable, or overwritten): try again
        }
        case 'failed':
          if (seen && graced(seen, Date.now(), req.policy)) return { value: seen.value, stale: 'origin_error' }
          throw next.error
        case 'timeout':
          if (seen && graced(seen, Date.now(), req.policy)) return { value: seen.value, stale: 'timeout' }
          return this.#loadHere(req, seen, next.lease)
      }
    }
  }

  /**
   * The load itself: take a fence token (re-reading the store at the same time), use a value that
   * landed meanwhile, else call the loader and write the result under the fence. On a loader error,
   * a graced value is served instead and written back as fresh for the fail-safe throttle. The
   * lease tells the other processes how it ended (and in which order to release: see LockLease).
   */
  async #loadHere<T>(req: ReadRequest<T>, seen: Entry | undefined, lease: LockLease): Promise<Loaded> {
    let loaded: (Loaded & { written?: Receipt }) | undefined
    try {
      loaded = await this.#loadAndStore(req, seen)
    } catch (error) {
      await lease.fail(error)
      throw error
    }
    await lease.succeed(loaded.written !== undefined, loaded.written)
    return loaded
  }

  async #loadAndStore<T>(req: ReadRequest<T>, seen: Entry | undefined): Promise<Loaded & { written?: Receipt }> {
    const startedAt = Date.now()
    // Tag times come from the store's clock, so the entry's birth does too when the store has one.
    let createdAtUs = nowMicros()
    let token: FenceToken | undefined
    let current = seen
    try {
      const begun = await this.#store.begin(req.storeKey)
      token = begun.token
      createdAtUs = begun.nowUs ?? createdAtUs
      if (begun.entry && begun.entry.createdAtUs !== seen?.createdAtUs) {
        const voided = begun.entry.tags.length > 0 && (await this.#voidedByTags([begun.entry]))[0]
        if (!voided) current = begun.entry
      }
    } catch (error) {
      this.#storeFailed('begin', error)
    }
    if (current && current !== seen && classify(current, startedAt, 0) === 'fresh') {
      return { value: current.value, remote: true } // another writer got there first
    }
    const stale = current && startedAt < current.staleUntilMs ? current : undefined

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
      result = await this.origin.call(req.key, req.policy.hardMs, (signal) => req.loader({ ...ctx, signal }))
    } catch (error) {
      const now = Date.now()
      if (!stale || !graced(stale, now, req.policy)) throw error
      const reason: StaleReason = error instanceof OriginTimeoutError ? 'timeout' : 'origin_error'
      this.#logger.warn('loader failed; serving the stale value', { key: req.key, error: String(error) })
      // A value still fresh (a refresh, an early refresh) stays as it is; only a stale one is
      // kept on for the throttle.
      if (token !== undefined && now >= stale.freshUntilMs) await this.#failSafe(req, stale, token)
      return { value: stale.value, stale: reason }
    }
    // Built even when the store is down, so an unserializable value fails the same way every time.
    const built = buildEntry(result.value, req.policy, tags, createdAtUs, result.ms, ttlOverride, this.#serializer)
    const written = built && token !== undefined ? await this.#commit(req.storeKey, built, token) : undefined
    // The store could not even begin the load (it is out of reach): an in-process tier keeps it.
    if (built && token === undefined) this.#store.keepLocally?.(req.storeKey, built.entry, built.payload)
    return { value: built ? servedValue(built, this.#serializer) : result.value, written }
  }

  /** Writes a loaded entry if the fence still allows; the write's receipt, or undefined if not written. */
  async #commit(storeKey: string, built: BuiltEntry, token: FenceToken): Promise<Receipt | undefined> {
    try {
      const receipt = await this.#store.commit(storeKey, built.entry, built.payload, built.storeTtlMs, token)
      if (!receipt) this.#logger.warn('a newer write or load won; this result was not stored', { key: storeKey })
      return receipt
    } catch (error) {
      this.#storeFailed('commit', error)
      return undefined
    }
  }

  /**
   * Keeps serving the stale value for the throttle, so a failing origin is not called by every
   * request; never past the end of its grace (ttl + grace), which the throttle cannot extend.
   */
  async #failSafe<T>(req: ReadRequest<T>, stale: Entry, token: FenceToken): Promise<void> {
    const freshUntilMs = Math.min(Date.now() + req.policy.failSafeThrottleMs, stale.staleUntilMs)
    if (freshUntilMs <= Date.now()) return
    const entry: Entry = { ...stale, freshUntilMs, failSafe: true }
    try {
      const payload = stale.negative ? '' : serializeOrThrow(this.#serializer, stale.value)
      const receipt = await this.#store.commit(req.storeKey, entry, payload, entry.staleUntilMs - Date.now(), token)
      // Announced like every write, so L1 tiers elsewhere account for its generation.
      if (receipt) await this.#channel.publish({ kind: 'drop', keys: [req.storeKey], ...gens(receipt) })
    } catch (error) {
      this.#storeFailed('commit', error)
    }
  }

  #storeFailed(op: StoreOp, error: unknown): void {
    this.#metrics.storeError(op)
    if (channels.error.hasSubscribers) channels.error.publish({ cache: this.#cache, source: 'store', op, error })
    this.#logger.warn(`store ${op} failed; answering without the cache`, { error: String(error) })
  }
}

/** What serving a stored entry counts as. */
function servedAs(entry: Entry): WrapResult {
  return entry.failSafe ? 'stale' : entry.negative ? 'negative_hit' : 'hit'
}

export interface BuiltEntry {
  entry: Entry
  payload: string | Buffer
  /** How long the store keeps it: to the end of grace. */
  storeTtlMs: number
}

/** The entry to store for a loaded value, or undefined when the policy says not to cache it. */
export function buildEntry(
  value: unknown,
  policy: Policy,
  tags: readonly string[],
  createdAtUs: number,
  deltaMs: number,
  ttlOverride: number | undefined,
  serializer: Serializer,
): BuiltEntry | undefined {
  const negative = value === null || value === undefined
  const baseTtl = ttlOverride ?? (negative ? policy.negativeTtlMs : policy.ttlMs)
  const ttl = jittered(baseTtl, policy.jitter)
  if (ttl <= 0 && policy.graceMs <= 0) return undefined
  const payload = negative ? '' : serializeOrThrow(serializer, value)
  const now = Date.now()
  const freshUntilMs = now + ttl
  const staleUntilMs = freshUntilMs + policy.graceMs
  const entry: Entry = {
    value,
    negative,
    freshUntilMs,
    staleUntilMs,
    deltaMs,
    createdAtUs,
    tags,
    failSafe: false,
  }
  return { entry, payload, storeTtlMs: staleUntilMs - now }
}

/**
 * What the caller whose loader produced `built` is handed: the value as every later hit will read
 * it (the serializer's round trip), not the loader's own object.
 */
function servedValue(built: BuiltEntry, serializer: Serializer): unknown {
  return built.entry.negative ? built.entry.value : roundTrip(serializer, built.payload)
}

/**
 * Whether `entry` may stand in for a failed load at `now`: within its grace (past ttl, before
 * ttl + grace), or still fresh when the policy grants grace at all. A refresh of a fresh value
 * with no grace gets the loader's error instead.
 */
function graced(entry: Entry, now: number, policy: Policy): boolean {
  return now < entry.staleUntilMs && (now >= entry.freshUntilMs || policy.graceMs > 0)
}

function jittered(ttl: number, jitter: number): number {
  if (jitter === 0 || !Number.isFinite(ttl)) return ttl
  return Math.round(ttl * (1 + jitter * (2 * Math.random() - 1)))
}

function validTags(tags: unknown): string[] {
  assertTags(tags)
  return tags
}
