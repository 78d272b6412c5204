/**
 * The caches under test, each behind the same tiny interface: `get(id)` returns person `id`,
 * reading through the cache to the origin. Every one talks to the same throwaway Redis, or (the
 * Memcached contenders, named "... on memcached") to a throwaway memcached.
 */
import { Redis } from 'ioredis'
import { createCache, memcachedStore, redisStore } from '../src/index.ts'
import type { Origin, Person } from './origin.ts'
import {
  BentoCache,
  bentostore,
  createCacheManager,
  Keyv,
  KeyvMemcache,
  KeyvRedis,
  memoryDriver,
  redisBusDriver,
  redisDriver,
} from './peers/index.ts'

export const CONTENDERS = [
  'naive',
  'cache-manager',
  'bentocache',
  'corral',
  'corral+lock',
  'corral+lock+l1',
  'corral+lock, xfetch off',
  'cache-manager on memcached',
  'corral on memcached',
  'corral+lock on memcached',
] as const
export type ContenderName = (typeof CONTENDERS)[number]

export interface ContenderConfig {
  name: ContenderName
  redisUrl: string
  /** `host:port` of the memcached the Memcached contenders use. */
  memcachedAddress?: string
  ttlMs: number
  /** corral's `originConcurrency` (per process). */
  originConcurrency: number
}

export interface Contender {
  get(id: number): Promise<Person>
  close(): Promise<void>
}

export function isContender(name: string): name is ContenderName {
  return (CONTENDERS as readonly string[]).includes(name)
}

export async function makeContender(cfg: ContenderConfig, origin: Origin): Promise<Contender> {
  const key = (id: number) => `person:${id}`
  /** cache-manager over a Keyv store (Redis or Memcached), its errors swallowed as a service would log them. */
  const cacheManagerOn = (store: KeyvRedis<unknown> | KeyvMemcache): Contender => {
    store.on('error', () => {})
    const keyv = new Keyv({ store, namespace: 'cm' })
    keyv.on('error', () => {})
    const cache = createCacheManager({ stores: [keyv] })
    return {
      get: (id) => cache.wrap(key(id), () => origin.person(id), cfg.ttlMs),
      async close() {
        await cache.disconnect()
      },
    }
  }
  switch (cfg.name) {
    case 'naive': {
      // The pattern most services start with: GET; on a miss, query and SET. A default client.
      const redis = new Redis(cfg.redisUrl)
      redis.on('error', () => {})
      await redis.ping()
      return {
        async get(id) {
          const hit = await redis.get(key(id))
          if (hit !== null) return JSON.parse(hit) as Person
          const row = await origin.person(id)
          await redis.set(key(id), JSON.stringify(row), 'PX', cfg.ttlMs)
          return row
        },
        async close() {
          redis.disconnect()
        },
      }
    }
    case 'cache-manager': {
      return cacheManagerOn(new KeyvRedis(cfg.redisUrl))
    }
    case 'bentocache': {
      const { hostname, port } = new URL(cfg.redisUrl)
      const connection = { host: hostname, port: Number(port) }
      const bento = new BentoCache({
        default: 'main',
        stores: {
          main: bentostore()
            .useL1Layer(memoryDriver({ maxItems: 10_000 }))
            .useL2Layer(redisDriver({ connection }))
            .useBus(redisBusDriver({ connection })),
        },
      })
      return {
        get: (id) => bento.getOrSet({ key: key(id), factory: () => origin.person(id), ttl: cfg.ttlMs }),
        async close() {
          await bento.disconnect()
        },
      }
    }
    case 'cache-manager on memcached': {
      return cacheManagerOn(new KeyvMemcache(cfg.memcachedAddress))
    }
    case 'corral on memcached':
    case 'corral+lock on memcached': {
      const cache = createCache({
        name: 'load',
        store: memcachedStore({ servers: [cfg.memcachedAddress as string] }),
        ttl: cfg.ttlMs,
        lock: cfg.name === 'corral+lock on memcached',
        originConcurrency: cfg.originConcurrency,
        logger: false,
      })
      return {
        get: (id) => cache.wrap(key(id), () => origin.person(id)),
        close: () => cache.close(),
      }
    }
    default: {
      const lock = cfg.name !== 'corral'
      const cache = createCache({
        name: 'load',
        store: redisStore({ url: cfg.redisUrl }),
        ttl: cfg.ttlMs,
        lock,
        originConcurrency: cfg.originConcurrency,
        logger: false,
        ...(cfg.name === 'corral+lock+l1' ? { l1: { maxEntries: 10_000 } } : {}),
        ...(cfg.name === 'corral+lock, xfetch off' ? { earlyRefresh: false } : {}),
      })
      return {
        get: (id) => cache.wrap(key(id), () => origin.person(id)),
        close: () => cache.close(),
      }
    }
  }
}
