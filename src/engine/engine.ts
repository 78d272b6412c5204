import type { InvalidationChannel, KeyLock } from '../coordination.ts'
import type { Entry } from '../entry.ts'
import { RemoteLoaderError } from '../errors.ts'
import { Flight } from '../flight.ts'
import type { Logger } from '../logger.ts'
import type { CacheMetrics } from '../metrics.ts'
import type { Policy } from '../options.ts'
import { OriginGuard } from '../origin.ts'
import type { Serializer } from '../serializer.ts'
import type { Store } from '../stores/store.ts'
import { lastTagList } from '../tag-lists.ts'
import { wrapMany } from './batch-load.ts'
import { readForLoad, report, wrap } from './hit-path.ts'
import { type EngineParts, publishRefresh } from './parts.ts'
import { RecentErrors } from './recent-errors.ts'
import { RecentLoads } from './recent-loads.ts'
import { join } from './single-load.ts'
import { readValid } from './tag-voiding.ts'
import type { BatchLoader, Loaded, ReadRequest, WrapResult } from './types.ts'

/**
 * The read path: classify what the store holds, serve what can be served at once, and funnel
 * every load, of one key or of a batch, through one flight per key, the origin guard, the fleet
 * lock and a fenced write. The parts live in this folder, one file each.
 */
export class Engine {
  readonly flights: Flight<Loaded>
  readonly origin: OriginGuard
  readonly #parts: EngineParts

  constructor(deps: {
    /** The cache's name, for events. */
    cache: string
    /** Whether `lock` coordinates processes (lock events are published only then). */
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
    this.flights = new Flight<Loaded>()
    this.origin = new OriginGuard(deps.originConcurrency, deps.metrics, deps.cache)
    this.#parts = {
      cache: deps.cache,
      locked: deps.locked,
      store: deps.store,
      metrics: deps.metrics,
      logger: deps.logger,
      serializer: deps.serializer,
      storeTags: lastTagList(deps.tagPrefix),
      flights: this.flights,
      origin: this.origin,
      recentErrors: new RecentErrors(),
      recentLoads: new RecentLoads(),
      lock: deps.lock,
      channel: deps.channel,
      invalidateAsStale: deps.invalidateAsStale,
      backlog: Number.isFinite(deps.originConcurrency) ? deps.originConcurrency * 4 : 10_000,
    }
  }

  /** The value for a key: from the store when it can be served, else from one shared load. */
  wrap<T>(req: ReadRequest<T>): Promise<T> {
    return wrap(this.#parts, req)
  }

  /** The fresh value of a key, for `get`: never loads and never serves a stale value; counted as a request. */
  async get(storeKey: string): Promise<unknown> {
    const entry = await readValid(this.#parts, storeKey)
    if (!entry || Date.now() >= entry.freshUntilMs) {
      this.#parts.metrics.request('miss')
      return undefined
    }
    this.#parts.metrics.request(entry.negative ? 'negative_hit' : 'hit')
    return entry.value
  }

  /** Loads in flight and loader calls waiting for an origin slot, now (at rest: 0 and 0). */
  activity(): { flights: number; originQueue: number } {
    return { flights: this.flights.size, originQueue: this.origin.queued }
  }

  /** Loads now whatever the store holds, joining a load already in flight (Caffeine's refresh). */
  async refresh<T>(req: ReadRequest<T>): Promise<T> {
    this.#parts.metrics.refresh('manual')
    publishRefresh(this.#parts, req.key, 'manual')
    let result: WrapResult = 'miss'
    try {
      const begun = await readForLoad(this.#parts, req.storeKey, req.tags)
      const { promise, shared } = join(this.#parts, req, begun?.entry, begun)
      if (shared) result = 'coalesced'
      const loaded = await promise
      if (loaded.remote) result = 'coalesced'
      return loaded.value as T
    } catch (error) {
      if (error instanceof RemoteLoaderError) result = 'coalesced'
      throw error
    } finally {
      if (req.onResult) report(this.#parts, req, result)
    }
  }

  /** Values for `keys` in their order, the missing ones loaded by one `loadMany` call (see batch-load.ts). */
  wrapMany<T>(
    keys: readonly string[],
    storeKeyOf: (key: string) => string,
    loadMany: BatchLoader<T>,
    policy: Policy,
    tags: readonly string[],
  ): Promise<unknown[]> {
    return wrapMany(this.#parts, keys, storeKeyOf, loadMany, policy, tags)
  }

  /**
   * The store's entry for a key, or undefined when absent, unreadable, or voided by a tag; `tags`
   * (the caller's) are read with the entry where the store can.
   */
  readValid(storeKey: string, tags?: readonly string[]): Promise<Entry | undefined> {
    return readValid(this.#parts, storeKey, tags)
  }
}
