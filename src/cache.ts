import pLimit from 'p-limit'
import { nowMicros } from './clock.ts'
import { gens, type InvalidationChannel } from './coordination.ts'
import { silentChannel, unlockedLock } from './coordination-local.ts'
import { type Duration, toMs } from './duration.ts'
import { Engine } from './engine/engine.ts'
import { buildEntry } from './engine/entry-building.ts'
import type { BatchLoader, Loader, ReadRequest, WrapResult } from './engine/types.ts'
import { CacheClosedError, CorralConfigError, CorralError, StoreUnavailableError } from './errors.ts'
import { assertKey, assertTags, namespaced } from './keys.ts'
import { type CacheMetrics, noMetrics, promMetrics, type StoreOp } from './metrics.ts'
import {
  type CacheOptions,
  type Policy,
  type PolicyOptions,
  type ResolvedOptions,
  resolveOptions,
  resolvePolicy,
  touchesPolicy,
} from './options.ts'
import type { Store } from './stores/store.ts'
import { TieredStore } from './stores/tiered.ts'

/** Per-call options of `wrap`: the policy knobs plus the tags this result is stored with. */
export interface WrapOptions extends PolicyOptions {
  tags?: string[]
  /**
   * Told how this call was answered ('hit', 'stale', 'miss', 'coalesced', 'negative_hit'), once,
   * synchronously, just before the returned promise settles (also when it rejects). Read by
   * `wrap` and `refresh`; `set`, `wrapMany` and `warm` ignore it.
   */
  onResult?: (result: WrapResult) => void
}

/** A memoized function made by `cache.fn`. */
export interface CachedFunction<A extends unknown[], T> {
  (...args: A): Promise<T>
  /** Removes the cached result for these arguments, in every tier. */
  invalidate(...args: A): Promise<void>
  /** Loads now (joining a load already in flight) and returns the new value. */
  refresh(...args: A): Promise<T>
  /** The cache key these arguments map to. */
  key(...args: A): string
}

export interface WarmOptions extends WrapOptions {
  /** Keys per `loadMany` call and per store round trip. Default 500. */
  batchSize?: number
  /** Batches in flight at once. Default 4. */
  concurrency?: number
  onProgress?: (progress: { done: number; total: number; loaded: number }) => void
}

export interface FnOptions<A extends unknown[]> extends PolicyOptions {
  key: (...args: A) => string
  tags?: (...args: A) => string[]
}

const NO_TAGS: readonly string[] = Object.freeze([])

/**
 * The cache as users see it: validates input, turns options into policies, wires the store's
 * coordination (lock, invalidation channel) to the engine, and hands requests to the engine.
 * Holds no read-path logic of its own.
 */
export class Cache {
  readonly name: string
  readonly #options: ResolvedOptions
  readonly #store: Store
  readonly #engine: Engine
  readonly #metrics: CacheMetrics
  /** Where writes are announced, so other processes drop their copies (a silent one on a store nobody shares). */
  readonly #channel: InvalidationChannel
  readonly #l1Entries: () => number
  #closed = false

  constructor(options: ResolvedOptions) {
    this.#options = options
    this.name = options.name
    this.#metrics = options.metrics ? promMetrics(options.metrics.registry, options.name) : noMetrics
    const base = options.store.create({
      serializer: options.serializer,
      logger: options.logger,
      // One channel per namespace: every cache on it, whatever its name, hears every write.
      channelName: `corral:${options.namespace}:bus`,
      namespace: options.namespace,
    })
    const { coordinator } = base
    // An L1 copy stays coherent only by hearing of writes elsewhere; a shared store without a
    // channel (Memcached) would have it serve values other processes already replaced.
    if (options.l1 && coordinator.crossProcess && coordinator.channel === silentChannel) {
      void base.close()
      throw new CorralConfigError(
        'l1',
        options.l1,
        `needs a store with an invalidation channel (redisStore); ${base.kind} has none, so other processes' writes would go unheard`,
      )
    }
    this.#channel = coordinator.channel
    const lock = options.lock
      ? coordinator.lock({ ...options.lock, metrics: this.#metrics, logger: options.logger })
      : unlockedLock(this.#channel)
    // An L1 tier is kept coherent by the channel, so it exists only on a store other processes share.
    const tier =
      options.l1 && coordinator.crossProcess
        ? new TieredStore(
            base,
            options.l1,
            this.#channel,
            options.serializer,
            () => this.#metrics.l1Cleared(),
            (reason) => this.#metrics.l1Evicted(reason),
          )
        : undefined
    this.#store = tier ?? base
    this.#l1Entries = tier ? () => tier.size : () => 0
    // L1 copies are trusted only while subscribed, so subscribe now rather than at the first miss.
    if (tier) void this.#channel.subscribe()
    this.#engine = new Engine({
      cache: options.name,
      locked: Boolean(options.lock),
      lock,
      channel: this.#channel,
      invalidateAsStale: options.invalidateAsStale,
      store: this.#store,
      metrics: this.#metrics,
      logger: options.logger,
      serializer: options.serializer,
      originConcurrency: options.originConcurrency,
      tagPrefix: (tag) => namespaced(options.namespace, tag),
    })
    const breaker = base.breaker
    breaker?.onTransition((to) => this.#metrics.breakerTransition(to))
    this.#metrics.watch({
      originQueue: () => this.#engine.origin.queued,
      ...(tier ? { l1: { entries: () => tier.size, bytes: () => tier.bytes } } : {}),
      ...(breaker ? { breaker: { store: base.kind, state: () => breaker.state } } : {}),
    })
  }

  /**
   * The value for `key`: served from the cache when it can be, otherwise the loader's value,
   * written back. Concurrent callers of one key share one loader call.
   */
  wrap<T>(key: string, loader: Loader<T>, options?: WrapOptions): Promise<T> {
    // Not `async`: a hit answered from memory should cost one promise, not a chain of them.
    try {
      return this.#engine.wrap(this.#request(key, loader, options, 'wrap'))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The cached value, or `undefined`; never calls a loader and never serves a stale value. */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    this.#open()
    assertKey(key)
    return (await this.#engine.get(namespaced(this.#options.namespace, key))) as T | undefined
  }

  /** Writes `value` under `key`; loads that began before this can no longer overwrite it. */
  async set(key: string, value: unknown, options?: WrapOptions): Promise<void> {
    this.#open()
    assertKey(key)
    const policy = this.#policy(options, 'set')
    const tags = this.#tags(options)
    // The store stamps the birth time on its own clock where it has one (Redis TIME).
    const built = buildEntry(value, policy, tags, nowMicros(), 0, undefined, {
      serializer: this.#options.serializer,
      store: this.#store,
      served: false,
    })
    const storeKey = namespaced(this.#options.namespace, key)
    if (!built) return this.delete(key)
    const receipt = await this.#write('set', () =>
      this.#store.set(storeKey, built.entry, built.payload, built.storeTtlMs),
    )
    await this.#channel.publish({ kind: 'drop', keys: [storeKey], ...gens(receipt) })
  }

  /** Removes `key`; loads that began before this can no longer write it back. */
  async delete(key: string): Promise<void> {
    this.#open()
    assertKey(key)
    const storeKey = namespaced(this.#options.namespace, key)
    const receipt = await this.#write('delete', () => this.#store.delete(storeKey))
    await this.#channel.publish({ kind: 'drop', keys: [storeKey], ...gens(receipt) })
    this.#metrics.invalidation('key')
  }

  /** Every entry written with one of `tags` before now reads as a miss from now on. */
  async invalidateTags(tags: string[]): Promise<void> {
    this.#open()
    assertTags(tags)
    if (tags.length === 0) return
    const names = tags.map((tag) => namespaced(this.#options.namespace, tag))
    const receipt = await this.#write('invalidateTags', () => this.#store.invalidateTags(names))
    await this.#channel.publish({ kind: 'tags', tags: names, atUs: receipt.atUs, ...gens(receipt) })
    this.#metrics.invalidation('tag', tags.length)
  }

  /** Reloads `key` now, joining a load already in flight, and returns the new value. */
  async refresh<T>(key: string, loader: Loader<T>, options?: WrapOptions): Promise<T> {
    return this.#engine.refresh(this.#request(key, loader, options, 'refresh'))
  }

  /**
   * Values for `keys`, in their order. `loadMany` is called once, with only the keys that were
   * missing, and returns a Map or a record; a key it leaves out is cached as negative.
   */
  async wrapMany<T>(keys: string[], loadMany: BatchLoader<T>, options?: WrapOptions): Promise<(T | undefined)[]> {
    this.#open()
    if (!Array.isArray(keys)) throw new CorralConfigError('keys', keys, 'must be an array of keys')
    for (const key of keys) assertKey(key)
    if (typeof loadMany !== 'function') throw new CorralConfigError('loadMany', loadMany, 'must be a function')
    return this.#engine.wrapMany(
      keys,
      (key) => namespaced(this.#options.namespace, key),
      loadMany,
      this.#policy(options, 'wrapMany'),
      this.#tags(options),
    ) as Promise<(T | undefined)[]>
  }

  /**
   * Fills the cache ahead of traffic (every row of a table, say): `keys` in batches of
   * `batchSize`, at most `concurrency` batches at a time, each read and written through `wrapMany`
   * (so keys already cached are not loaded again, and writes are fenced). `onProgress` is called
   * after each batch.
   */
  async warm<T>(
    keys: string[],
    loadMany: BatchLoader<T>,
    options: WarmOptions = {},
  ): Promise<{ total: number; loaded: number; cached: number }> {
    this.#open()
    const { batchSize = 500, concurrency = 4, onProgress, ...wrapOptions } = options
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new CorralConfigError('warm.batchSize', batchSize, 'must be a whole number >= 1')
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new CorralConfigError('warm.concurrency', concurrency, 'must be a whole number >= 1')
    const unique = [...new Set(keys)]
    for (const key of unique) assertKey(key)
    const limit = pLimit(concurrency)
    let done = 0
    let loaded = 0
    const counted: BatchLoader<T> = (missing, ctx) => {
      loaded += missing.length
      return loadMany(missing, ctx)
    }
    const batches: string[][] = []
    for (let i = 0; i < unique.length; i += batchSize) batches.push(unique.slice(i, i + batchSize))
    await Promise.all(
      batches.map((batch) =>
        limit(async () => {
          await this.wrapMany(batch, counted, wrapOptions)
          done += batch.length
          onProgress?.({ done, total: unique.length, loaded })
        }),
      ),
    )
    return { total: unique.length, loaded, cached: unique.length - loaded }
  }

  /** A memoized function: its arguments map to a key (and tags), its results are read through the cache. */
  fn<A extends unknown[], T>(loader: (...args: A) => T | Promise<T>, options: FnOptions<A>): CachedFunction<A, T> {
    if (typeof loader !== 'function') throw new CorralConfigError('loader', loader, 'must be a function')
    if (typeof options?.key !== 'function')
      throw new CorralConfigError('fn.key', options?.key, 'must be a function of the arguments')
    const { key: keyOf, tags: tagsOf, ...policyOptions } = options
    if (tagsOf !== undefined && typeof tagsOf !== 'function')
      throw new CorralConfigError('fn.tags', tagsOf, 'must be a function of the arguments')
    const call = (...args: A) => ({ ...policyOptions, ...(tagsOf ? { tags: tagsOf(...args) } : {}) })
    const cached = ((...args: A) => this.wrap(keyOf(...args), () => loader(...args), call(...args))) as CachedFunction<
      A,
      T
    >
    cached.invalidate = (...args: A) => this.delete(keyOf(...args))
    cached.refresh = (...args: A) => this.refresh(keyOf(...args), () => loader(...args), call(...args))
    cached.key = (...args: A) => keyOf(...args)
    return cached
  }

  /** Adds `by` to an integer counter shared by every process on the store, creating it at `by`. */
  async increment(key: string, by = 1, options?: { ttl?: Duration }): Promise<number> {
    this.#open()
    assertKey(key)
    if (!Number.isSafeInteger(by)) throw new CorralConfigError('by', by, 'must be a safe integer')
    const ttlMs = options?.ttl === undefined ? Number.POSITIVE_INFINITY : toMs('ttl', options.ttl)
    const storeKey = namespaced(this.#options.namespace, key)
    const value = await this.#write('increment', () => this.#store.increment(storeKey, by, ttlMs))
    await this.#channel.publish({ kind: 'drop', keys: [storeKey] })
    return value
  }

  /**
   * What this cache holds in process memory right now, for soak tests and debugging: loads in
   * flight, keys with lock waiters, L1 entries, loader calls waiting for an origin slot. At rest
   * all but `l1Entries` are 0.
   */
  inspect(): { flights: number; waiters: number; l1Entries: number; originQueue: number } {
    const { flights, originQueue } = this.#engine.activity()
    return { flights, waiters: this.#channel.listening, l1Entries: this.#l1Entries(), originQueue }
  }

  /** Stops what this cache started and closes clients it created itself; clients you passed in stay open. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#metrics.close()
    await this.#store.close()
  }

  #request<T>(key: string, loader: Loader<T>, options: WrapOptions | undefined, where: string): ReadRequest<T> {
    this.#open()
    assertKey(key)
    if (typeof loader !== 'function') throw new CorralConfigError(`${where}.loader`, loader, 'must be a function')
    const onResult = options?.onResult
    if (onResult !== undefined && typeof onResult !== 'function')
      throw new CorralConfigError(`${where}.onResult`, onResult, 'must be a function')
    return {
      key,
      storeKey: namespaced(this.#options.namespace, key),
      loader,
      policy: this.#policy(options, where),
      tags: this.#tags(options),
      onResult,
    }
  }

  #policy(options: PolicyOptions | undefined, where: string): Policy {
    if (options === undefined) return this.#options.policy
    if (typeof options !== 'object' || options === null)
      throw new CorralConfigError(where, options, 'options must be an object')
    return touchesPolicy(options) ? resolvePolicy(options, this.#options.policy, where) : this.#options.policy
  }

  #tags(options: WrapOptions | undefined): readonly string[] {
    if (options?.tags === undefined) return NO_TAGS
    assertTags(options.tags)
    return options.tags
  }

  /** Explicit writes report a store failure to the caller: silently keeping the old value would serve it later. */
  async #write<R>(op: StoreOp, write: () => Promise<R>): Promise<R> {
    try {
      return await write()
    } catch (error) {
      if (error instanceof CorralError && !(error instanceof StoreUnavailableError)) throw error
      this.#metrics.storeError(op)
      this.#options.logger.warn(`store ${op} failed`, { error: String(error) })
      // Whatever the client threw (a refusal such as NOPERM included), callers get one typed error.
      if (error instanceof CorralError) throw error
      throw new StoreUnavailableError(`corral: the store refused ${op}: ${(error as Error)?.message ?? error}`, {
        cause: error,
      })
    }
  }

  #open(): void {
    if (this.#closed) throw new CacheClosedError()
  }
}

/** Creates a cache; every option is checked here and a bad one throws a CorralConfigError. */
export function createCache(options?: CacheOptions): Cache {
  return new Cache(resolveOptions(options))
}
