/**
 * The peer caches the load tests run against corral. They live in their own package here because
 * bentocache 1.6 wants ioredis 5 (as does its Redis bus) while corral depends on ioredis 6, and npm
 * refuses both at the root. Bare imports from this file resolve to load-tests/peers/node_modules
 * (`npm run load` installs them first through its `preload` step). cache-manager reaches Memcached
 * through @keyv/memcache (on memjs), the way its users do.
 */
export { default as KeyvMemcache } from '@keyv/memcache'
export { default as KeyvRedis } from '@keyv/redis'
export { BentoCache, bentostore } from 'bentocache'
export { memoryDriver } from 'bentocache/drivers/memory'
export { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
export { createCache as createCacheManager } from 'cache-manager'
export { Keyv } from 'keyv'
