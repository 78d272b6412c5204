import type { InvalidationChannel, KeyLock } from '../coordination.ts'
import { channels } from '../events.ts'
import type { Flight } from '../flight.ts'
import type { Logger } from '../logger.ts'
import type { CacheMetrics, RefreshReason, StoreOp } from '../metrics.ts'
import type { OriginGuard } from '../origin.ts'
import type { Serializer } from '../serializer.ts'
import type { Store } from '../stores/store.ts'
import type { RecentErrors } from './recent-errors.ts'
import type { RecentLoads } from './recent-loads.ts'
import type { Loaded } from './types.ts'

/**
 * What every step of the read path works with, built once per cache: the one-key and the batch
 * pipelines share these, so a batch key goes through the same flight, origin guard, lock, error
 * memory and store as a key loaded alone.
 */
export interface EngineParts {
  /** The cache's name, for events. */
  cache: string
  /** Whether `lock` coordinates processes (lock events are published only then). */
  locked: boolean
  store: Store
  metrics: CacheMetrics
  logger: Logger
  serializer: Serializer
  /** The store's names (namespaced) of a caller's tags; the last list's are remembered (tag-lists.ts). */
  storeTags: (tags: readonly string[]) => readonly string[]
  /** Loads in flight in this process, one per key; a batch registers one per key it loads. */
  flights: Flight<Loaded>
  origin: OriginGuard
  recentErrors: RecentErrors
  /** Loads finished lately, for reads that were sent before they finished. */
  recentLoads: RecentLoads
  /** Who loads a missing key across processes (an unlocked one loads everywhere). */
  lock: KeyLock
  /** Where finished loads are announced, so other processes drop their copies. */
  channel: InvalidationChannel
  invalidateAsStale: boolean
  /** Background refreshes start only while the origin queue is shorter than this. */
  backlog: number
}

/** Counts and logs a failed store command; the read path then answers without the cache. */
export function storeFailed(parts: EngineParts, op: StoreOp, error: unknown): void {
  parts.metrics.storeError(op)
  if (channels.error.hasSubscribers) channels.error.publish({ cache: parts.cache, source: 'store', op, error })
  parts.logger.warn(`store ${op} failed; answering without the cache`, { error: String(error) })
}

/** Announces a refresh to the events channel, if anyone listens. */
export function publishRefresh(parts: EngineParts, key: string, reason: RefreshReason): void {
  if (channels.refresh.hasSubscribers) channels.refresh.publish({ cache: parts.cache, key, reason })
}
