/**
 * What a store offers to coordinate the processes that share it: a lock per key (one process
 * loads, the others wait for its word) and an invalidation channel (writes in one process drop
 * copies held in the others). Store-neutral: nothing here names a particular store. A store that
 * coordinates nothing offers the null objects of coordination-local.ts.
 */
import type { RemoteLoaderError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { CacheMetrics } from './metrics.ts'

/**
 * What travels on a cache's invalidation channel. Keys and tags are already namespaced; values
 * never travel.
 * - ready: a load of `key` finished and its value is in the store (wakes lock waiters, drops copies)
 * - error: a load of `key` failed; `detail` holds the error's name and message as JSON
 * - drop: `keys` were written or deleted outside a load; copies must go
 * - tags: `tags` were invalidated at `atUs` (store time, µs)
 */
export type Invalidation = (
  | { kind: 'ready'; key: string }
  | { kind: 'error'; key: string; detail: string }
  | { kind: 'drop'; keys: string[] }
  | { kind: 'tags'; tags: string[]; atUs: number }
) & {
  /**
   * The namespace write generations the writes behind the message moved the store to, so an L1
   * tier can tell it heard of every write (src/generation.ts).
   */
  gens?: number[]
}

/** The `gens` field of a message about writes with these receipts. */
export function gens(...receipts: ({ generation?: number } | undefined)[]): { gens?: number[] } {
  const list = receipts.flatMap((r) => (r?.generation ? [r.generation] : []))
  return list.length > 0 ? { gens: list } : {}
}

/**
 * A message in the form a store sends it inside one of its own write commands (a store whose
 * channel it runs itself), so a load's write and its announcement cost one round trip.
 */
export interface Announcement {
  channel: string
  message: string
}

/** The messages about one key's load: what lock waiters listen for. */
export type KeyMessage = Extract<Invalidation, { key: string }>

/**
 * One channel per namespace, shared by every process and every cache on the same store and
 * namespace, whatever the caches' names. Publishing never throws (a lost message costs a waiter
 * its lock's expiry, and an L1 copy `l1.verifyAfter` at most).
 */
export interface InvalidationChannel {
  /** True while messages from other processes are being received: copies kept on the channel's word are trustworthy only then. */
  readonly live: boolean
  /** Keys with lock waiters now (at rest: 0). */
  readonly listening: number
  /** Starts receiving (once); resolves false when that is impossible now, and callers do without. */
  subscribe(): Promise<boolean>
  /** Sends a message to every process on the channel; failures are logged, never thrown. */
  publish(message: Invalidation): Promise<void>
  /** Calls `listener` for ready/error messages about `key` (from any process, this one included) until the returned function is called. */
  listen(key: string, listener: (message: KeyMessage) => void): () => void
  /** Calls `listener` for every message from other processes. */
  onOthers(listener: (message: Invalidation) => void): void
  /** Calls `listener` whenever receiving stopped, so messages may have been missed. */
  onLost(listener: () => void): void
  /** Stops receiving and forgets every listener. */
  close(): Promise<void>
  /**
   * Optional: `message` as the store's writes can carry it (see Store.commit), for a channel run
   * by the store itself; undefined or absent when writes cannot announce.
   */
  announcement?(message: Invalidation): Announcement | undefined
}

/**
 * A lock held on one key's load. It owns the protocol around the load: on success it releases and
 * then announces "ready" (a waiter that starts listening just after the message finds the lock free
 * instead of sleeping until it would have expired); on failure it announces the error while still
 * holding, then releases (so no waiter takes the lock in between and calls a failing origin again).
 * A lease that holds nothing (no lock, or the lock could not be reached) still announces a stored
 * value, so other processes drop their copies.
 */
export interface LockLease {
  /**
   * Set on a lease that holds nothing when the store's write can carry the "ready" message: the
   * write announces itself, with its generation (one round trip less), and `succeed` sends
   * nothing more.
   */
  readonly announce?: Announcement
  /**
   * The load finished; `stored` says whether its value was written (and `receipt`, the write's
   * generation, which the announcement carries). Releases, then announces.
   */
  succeed(stored: boolean, receipt?: { generation?: number }): Promise<void>
  /** The load failed with `error`: announces it to the waiters, then releases. */
  fail(error: unknown): Promise<void>
  /** Releases without announcing anything. Safe to call more than once. */
  release(): Promise<void>
}

/** What a process should do about a missing key, decided across the processes sharing the store. */
export type LockDecision =
  /** This process loads, under `lease`. */
  | { kind: 'lead'; lease: LockLease }
  /** Another process stored the value: read the store. */
  | { kind: 'ready' }
  /** Another process's load failed with `error`. */
  | { kind: 'failed'; error: RemoteLoaderError }
  /** ('try' mode) another process is already refreshing: keep serving what we have. */
  | { kind: 'skip' }
  /** Waited `waitMs` in vain: serve stale if any, else load here under `lease` (which holds nothing). */
  | { kind: 'timeout'; lease: LockLease }

/** 'wait' for a foreground miss; 'try' for refreshes that may leave the work to another process. */
export type LockMode = 'wait' | 'try'

/**
 * Locks held on the loads of many keys (a batch). The same protocol as LockLease, per key: the
 * failures are announced while still holding, then everything is released, then what was written
 * is announced.
 */
export interface BatchLease {
  /** Set when the writes can carry the announcements (a lease that holds nothing, on a store that can). */
  readonly announce?: (keys: string[]) => Announcement
  /**
   * The loads ended: `failed` announced to their waiters, locks released, `written` announced
   * (unless the writes did) with `generations`, the namespace generations those writes moved to.
   */
  finish(
    written: readonly string[],
    failed: readonly { key: string; error: unknown }[],
    generations?: readonly number[],
  ): Promise<void>
  /** Releases without announcing anything. Safe to call more than once. */
  release(): Promise<void>
}

/** What one attempt on many keys' locks decided: groups to load here, each under its lease, and keys others hold. */
export interface ManyLocks {
  load: { keys: string[]; lease: BatchLease }[]
  /** Held by other processes: wait for their announcements (or their locks' expiry). */
  taken: string[]
}

/**
 * The lock idea: one process per key loads, the others wait for its outcome. `coordinate` is the
 * one call: it tries the key's lock, and either leads or waits (until `deadlineMs`, epoch ms) for
 * the holder's announcement or the lock's expiry.
 */
export interface KeyLock {
  /** How long a waiter waits before serving stale or loading itself (the `lock.wait` option). */
  readonly waitMs: number
  /**
   * False for a lock that lets every process load at once (`lock: false`, a store in one process):
   * a load may then take the read that found the miss as its begin, since nothing was waited for.
   */
  readonly coordinates: boolean
  /**
   * True for a lock that always leads under a lease that holds nothing and tells nobody (no lock,
   * on a channel that reaches no one): the engine may load without asking it or finishing the lease.
   */
  readonly silent?: boolean
  /** Decides who loads `key` now (see LockDecision). Never rejects. */
  coordinate(key: string, mode: LockMode, deadlineMs: number): Promise<LockDecision>
  /**
   * For batches: tries the locks of all `keys` at once, in as few round trips as the lock allows,
   * and never waits. Never rejects: keys whose locks cannot be reached are loaded without one.
   */
  tryMany(keys: readonly string[]): Promise<ManyLocks>
  /** How long until the first of `keys`' locks expires, in ms (a holder may have died): a batch waiter's longest sleep. */
  msLeft(keys: readonly string[]): Promise<number>
}

/** The lock's metrics: the only part of CacheMetrics a lock reports to. */
export type LockMetrics = Pick<CacheMetrics, 'lock' | 'lockWait'>

/**
 * A connection to one independent node for a quorum lock (`lock.clients`), of whatever kind the
 * store's lock speaks (ioredis clients for `redisStore`). Opaque outside the store.
 */
export type LockClient = object

/** What a cache asks of a store's lock: the `lock` option resolved, and where to report. */
export interface LockSettings {
  ttlMs: number
  waitMs: number
  /** Independent nodes for a quorum; default: the store's own connection. */
  clients?: readonly LockClient[]
  metrics: LockMetrics
  logger: Logger
}

/** What a store can coordinate. Every store has one; a store in one process offers null objects. */
export interface Coordinator {
  /** True when other processes share the store, so an in-process tier needs the channel to stay coherent. */
  readonly crossProcess: boolean
  /** The cache's invalidation channel (one per store instance, so one per cache). */
  readonly channel: InvalidationChannel
  /** A lock over `channel`; throws a CorralConfigError when the settings ask for what the store cannot do. */
  lock(settings: LockSettings): KeyLock
}
