import type { Announcement, Coordinator } from '../coordination.ts'
import type { Entry } from '../entry.ts'
import type { Logger } from '../logger.ts'
import type { Serializer } from '../serializer.ts'

/**
 * A fence token: read when a load begins, checked when it writes. Every write (a load's included)
 * and every delete advances the key's fence, so a load whose key was written or deleted after it
 * began is refused, and of overlapping loads only the first to finish writes.
 */
export type FenceToken = number

/** What `begin` returns: the entry now, the fence token, and the store's clock (µs) if it has one. */
export interface Begun {
  entry: Entry | undefined
  token: FenceToken
  /** The store's time when the load began: the entry's `createdAtUs`, comparable with tag times. */
  nowUs?: number
}

export type { Announcement }

/** A fenced write of a loaded entry, as `commit` takes it. */
export interface FencedWrite {
  key: string
  entry: Entry
  payload: string | Buffer
  ttlMs: number
  token: FenceToken
}

/** What a store is handed when a cache is created around it. */
export interface StoreContext {
  serializer: Serializer
  logger: Logger
  /** The cache's invalidation channel name (`corral:<namespace>:<name>`), for stores that offer one. */
  channelName: string
}

/**
 * How a cache gets its store: `memoryStore()` and `redisStore()` return one of these, and
 * `createCache` calls `create` with the cache's serializer, so one factory serves one cache.
 */
export interface StoreFactory {
  readonly kind: string
  create(context: StoreContext): Store
}

/**
 * Where entries live. Keys are already namespaced; a store knows nothing of tiers or metrics, and
 * offers what it can coordinate across processes through `coordinator` (coordination.ts).
 * `payload` is the serializer's output for `entry.value` (ignored for negative entries); `ttlMs` is
 * how long the store keeps the entry (`Infinity`: until evicted or deleted).
 */
export interface Store {
  readonly kind: string
  /** The lock and invalidation channel this store offers (`localCoordinator` for a store in one process). */
  readonly coordinator: Coordinator
  get(key: string): Promise<Entry | undefined>
  /**
   * The entry if this store can answer at once from process memory (memory store, L1), else
   * undefined. Optional: the engine serves fresh untagged hits from it without awaiting anything.
   */
  peek?(key: string): Entry | undefined
  /** Tag times this store knows in process memory, or undefined if it would have to ask. Optional. */
  peekTagTimes?(tags: readonly string[]): number[] | undefined
  getMany(keys: readonly string[]): Promise<(Entry | undefined)[]>
  /** Reads the entry and the key's current fence token for a load that starts now, atomically. */
  begin(key: string): Promise<Begun>
  /**
   * Writes a loaded entry unless the key's fence moved since `begin` read `token`; then moves it.
   * `announce`, if given, is published with the write when it lands (stores without a channel ignore it).
   */
  commit(
    key: string,
    entry: Entry,
    payload: string | Buffer,
    ttlMs: number,
    token: FenceToken,
    announce?: Announcement,
  ): Promise<boolean>
  /** Optional: `begin` for many keys in few round trips; without it, the engine calls `begin` per key. */
  beginMany?(keys: readonly string[]): Promise<Begun[]>
  /**
   * Optional: `commit` for many keys in few round trips, returning which landed; `announce` makes
   * the message published with each group of writes. Without it, the engine calls `commit` per key.
   */
  commitMany?(writes: readonly FencedWrite[], announce?: (keys: string[]) => Announcement): Promise<boolean[]>
  /** Writes unconditionally and advances the fence, so loads begun earlier cannot overwrite it. */
  set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<void>
  /** Removes the entry and advances the fence. */
  delete(key: string): Promise<void>
  /** Adds `by` to an integer counter, creating it (with `ttlMs`, if finite) when absent. */
  increment(key: string, by: number, ttlMs: number): Promise<number>
  /** The latest invalidation time (epoch µs) of each tag, 0 where it was never invalidated. */
  tagTimes(tags: readonly string[]): Promise<number[]>
  /**
   * Records, on the store's own clock, that every entry with one of `tags` created until now is
   * void; returns the time recorded (µs).
   */
  invalidateTags(tags: readonly string[]): Promise<number>
  /** Releases what the store created (timers, its channel, connections it opened itself). */
  close(): Promise<void>
  /** The store's circuit breaker, if it has one: its state is exported as `corral_breaker_state`. */
  readonly breaker?: StoreBreaker
}

/** What metrics read of a store's circuit breaker. */
export interface StoreBreaker {
  readonly state: 'closed' | 'open' | 'half-open'
  onTransition(listener: (to: 'open' | 'half_open' | 'closed') => void): void
}
