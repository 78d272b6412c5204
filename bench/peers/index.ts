/**
 * The peer caches the benches compare against. They live in their own package here
 * because bentocache 1.6 declares an optional peer on ioredis 5 while corral depends on ioredis 6,
 * and npm refuses to install both at the root. Bare imports from this file resolve to
 * bench/peers/node_modules (`npm run bench` installs them first through its `prebench` step).
 */
export { default as KeyvRedis } from '@keyv/redis'
export { BentoCache, bentostore } from 'bentocache'
export { memoryDriver } from 'bentocache/drivers/memory'
export { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
export { createCache as createCacheManager } from 'cache-manager'
export { Keyv } from 'keyv'
