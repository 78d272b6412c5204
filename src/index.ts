export { Cache, type CachedFunction, createCache, type FnOptions, type WarmOptions, type WrapOptions } from './cache.ts'
export type {
  Announcement,
  BatchLease,
  Coordinator,
  Invalidation,
  InvalidationChannel,
  KeyLock,
  KeyMessage,
  LockClient,
  LockDecision,
  LockLease,
  LockMetrics,
  LockMode,
  LockSettings,
  ManyLocks,
} from './coordination.ts'
export { localCoordinator } from './coordination-local.ts'
export type { Duration } from './duration.ts'
export type { BatchLoader, Loader, LoaderContext, WrapResult } from './engine/types.ts'
export type { Entry } from './entry.ts'
export {
  BatchResultError,
  CacheClosedError,
  CorralConfigError,
  CorralError,
  InvalidationFailedError,
  InvalidKeyError,
  NotACounterError,
  NotCacheable,
  OriginTimeoutError,
  RemoteLoaderError,
  SerializationError,
  StoreUnavailableError,
  UnsafeQueryError,
  type UnsafeQueryReason,
  ValueTooLargeError,
} from './errors.ts'
export {
  CHANNEL_NAMES,
  type ErrorEvent,
  type HitEvent,
  type LoadEvent,
  type LockEvent,
  type MissEvent,
  type RefreshEvent,
  type StaleEvent,
} from './events.ts'
export type { Logger } from './logger.ts'
export type { LruBounds } from './lru.ts'
export type { MemcacheClient } from './memcached/client.ts'
export { MemcachedStore, type MemcachedStoreOptions, memcachedStore } from './memcached/store.ts'
export type { CacheOptions, L1Options, LockOptions, MetricsRegistry, PolicyOptions } from './options.ts'
export type { RedisClient } from './redis/client.ts'
export { RedisStore, type RedisStoreOptions, redisStore } from './redis/store.ts'
export { jsonSerializer, type Serializer } from './serializer.ts'
export { msgpackSerializer } from './serializer-msgpack.ts'
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './stores/memory.ts'
export type {
  Begun,
  EntryWithTagTimes,
  FenceToken,
  Store,
  StoreContext,
  StoreFactory,
  StoreKeeps,
} from './stores/store.ts'
