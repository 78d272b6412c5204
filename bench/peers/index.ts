/**
 * The peer caches the hit-path bench compares against. They live in their own package here
 * because bentocache 1.6 declares an optional peer on ioredis 5 while corral depends on ioredis 6,
 * and npm refuses to install both at the root. Bare imports from this file resolve to
 * bench/peers/node_modules (run `npm install` in bench/peers once).
 */
export { BentoCache, bentostore } from 'bentocache'
export { memoryDriver } from 'bentocache/drivers/memory'
export { createCache as createCacheManager } from 'cache-manager'
