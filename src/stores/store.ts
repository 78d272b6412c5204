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
  /**
   * Absent when the shared store could not be reached and an in-process tier answered from
   * memory: such a load cannot be fenced, so it is not written.
   */
  token?: FenceToken
  /** The store's time when the load began: the entry's `createdAtUs`, comparable with tag times. */
  nowUs?: number
  /** With `begin(key, tags)`, the tags' times (µs, 0: never invalidated) if read in the same round trip. */
  tagTimesUs?: number[]
}

/** What `getWithTagTimes` returns: the entry, and a time per tag asked for (0: never invalidated). */
export interface EntryWithTagTimes {
  entry: Entry | undefined
  tagTimesUs: number[]
}

/**
 * What a write reports: the namespace generation it moved the store to (stores shared between
 * processes, so L1 tiers elsewhere can tell whether they heard of every write), and the entry's
 * birth time on the store's clock (µs), where the store stamped it.
 */
export interface Receipt {
  generation?: number
  createdAtUs?: number
}

export type { Announcement }

/** What a store keeps of a written value (Store.keeps). */
export type StoreKeeps = 'bytes' | 'values' | 'both'

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
  /**
   * The namespace's invalidation channel name (`corral:<namespace>:bus`: every cache on the
   * namespace, whatever its name, hears every write), for stores that offer one.
   */
  channelName: string
  /** The cache's namespace: a shared store keeps the namespace's write generation under it. */
  namespace?: string
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
 * `payload` is the serializer's output for `entry.value` (ignored for negative entries; '' for a
 * store that `keeps` only values); `ttlMs` is how long the store keeps the entry (`Infinity`:
 * until evicted or deleted). For a store that keeps values, `entry.value` in a write is already
 * the cache's own copy (never a writer's object, and equal to the serializer's round trip), to be
 * held as it is.
 */
export interface Store {
  readonly kind: string
  /**
   * What the store keeps of a written value: 'bytes' (the payload; the default when absent),
   * 'values' (`entry.value` itself, in process memory; the engine then passes '' as the payload
   * and skips serializing plain data it can copy directly), or 'both'.
   */
  readonly keeps?: StoreKeeps
  /** The lock and invalidation channel this store offers (`localCoordinator` for a store in one process). */
  readonly coordinator: Coordinator
  get(key: string): Promise<Entry | undefined>
  /**
   * The entry if this store can answer at once from process memory (memory store, L1), else
   * undefined. Optional: the engine serves fresh untagged hits from it without awaiting anything.
   */
  peek?(key: string): Entry | undefined
  /**
   * Keeps a value loaded while the shared store could not be reached in process memory (an L1
   * tier), so the process does not load it again on every request of the outage. Optional.
   */
  keepLocally?(key: string, entry: Entry, payload: string | Buffer): void
  /** Tag times this store knows in process memory, or undefined if it would have to ask. Optional. */
  peekTagTimes?(tags: readonly string[]): number[] | undefined
  /**
   * The entry and the invalidation times (µs) of `tags` in one round trip. Optional: a read of a
   * tagged key (`wrap` with `tags`) uses it, so a tagged hit costs one round trip, not two.
   */
  getWithTagTimes?(key: string, tags: readonly string[]): Promise<EntryWithTagTimes>
  getMany(keys: readonly string[]): Promise<(Entry | undefined)[]>
  /**
   * Reads the entry and the key's current fence token for a load that starts now, atomically.
   * `tags` (optional to honour): also read those tags' times in the same round trip (`tagTimesUs`).
   */
  begin(key: string, tags?: readonly string[]): Promise<Begun>
  /**
   * Writes a loaded entry unless the key's fence moved since `begin` read `token`; then moves it.
   * Undefined when the fence refused the write. `announce`, if given, is published with the write
   * when it lands, carrying the write's generation (stores without a channel ignore it).
   */
  commit(
    key: string,
    entry: Entry,
    payload: string | Buffer,
    ttlMs: number,
    token: FenceToken,
    announce?: Announcement,
  ): Promise<Receipt | undefined>
  /**
   * Optional, for a store that never waits (in-process): `begin` and `commit` answered at once.
   * The engine then begins and writes a load without an await or a promise for either.
   */
  beginNow?(key: string): Begun
  /**
   * Optional, for a store that keeps entries in its own form (in-process): the entry these fields
   * describe, as the store keeps it. The engine then builds a written entry in that form, so a
   * write makes one entry object, not two.
   */
  hold?(
    value: unknown,
    negative: boolean,
    freshUntilMs: number,
    staleUntilMs: number,
    deltaMs: number,
    createdAtUs: number,
    tags: readonly string[],
    failSafe: boolean,
  ): Entry
  commitNow?(key: string, entry: Entry, payload: string | Buffer, ttlMs: number, token: FenceToken): Receipt | undefined
  /** Optional: `begin` for many keys in few round trips; without it, the engine calls `begin` per key. */
  beginMany?(keys: readonly string[]): Promise<Begun[]>
  /**
   * Optional: `commit` for many keys in few round trips, returning which landed; `announce` makes
   * the message published with each group of writes. Without it, the engine calls `commit` per key.
   */
  commitMany?(
    writes: readonly FencedWrite[],
    announce?: (keys: string[]) => Announcement,
  ): Promise<(Receipt | undefined)[]>
  /**
   * Writes unconditionally and advances the fence, so loads begun earlier cannot overwrite it.
   * A store with a clock stamps the entry's `createdAtUs` itself (in the receipt).
   */
  set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt>
  /** Removes the entry and advances the fence. */
  delete(key: string): Promise<Receipt>
  /** Adds `by` to an integer counter, creating it (with `ttlMs`, if finite) when absent. */
  increment(key: string, by: number, ttlMs: number): Promise<number>
  /** The latest invalidation time (epoch µs) of each tag, 0 where it was never invalidated. */
  tagTimes(tags: readonly string[]): Promise<number[]>
  /**
   * Records, on the store's own clock, that every entry with one of `tags` created until now is
   * void; returns the time recorded (µs).
   */
  invalidateTags(tags: readonly string[]): Promise<{ atUs: number } & Receipt>
  /**
   * The namespace's write generation now (stores shared between processes). Optional: an L1
   * tier over a store that has it checks it to learn of writes whose messages it missed.
   */
  generation?(): Promise<number>
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
