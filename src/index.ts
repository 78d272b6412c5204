export { Cache, type CachedFunction, createCache, type FnOptions, type WarmOptions, type WrapOptions } from './cache.ts'
export type { Duration } from './duration.ts'
export type { BatchLoader, Loader, LoaderContext } from './engine.ts'
export type { Entry } from './entry.ts'
export {
  CorralConfigError,
  CorralError,
  InvalidKeyError,
  NotACounterError,
  OriginTimeoutError,
  SerializationError,
} from './errors.ts'
export { RemoteLoaderError } from './lock.ts'
export type { Logger } from './logger.ts'
export type { CacheOptions, L1Options, LockOptions, MetricsRegistry, PolicyOptions } from './options.ts'
export { jsonSerializer, type Serializer } from './serializer.ts'
export { msgpackSerializer } from './serializer-msgpack.ts'
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './stores/memory.ts'
export { RedisStore, type RedisStoreOptions, redisStore, StoreUnavailableError } from './stores/redis.ts'
export type { RedisClient } from './stores/redis-client.ts'
export type { FenceToken, Store, StoreContext, StoreFactory } from './stores/store.ts'
