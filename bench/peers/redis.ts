/**
 * The peers' Redis parts for bench/batch.ts: cache-manager over Keyv's Redis adapter, and
 * bentocache's Redis driver. They bring ioredis 5 and node-redis with them, so they live here,
 * apart from corral's ioredis 6.
 */
export { default as KeyvRedis } from '@keyv/redis'
export { redisDriver } from 'bentocache/drivers/redis'
export { Keyv } from 'keyv'
