/**
 * The read-through caches the miss-path, fill and Redis-hit benches run, behind one interface:
 * `wrap(key, loader)` answers from the cache or calls the loader and stores its value. Raw
 * baselines (hand-written cache-aside on lru-cache or ioredis) sit next to corral and the peers.
 */
import { Redis, type RedisOptions } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { type CacheOptions, createCache, redisStore } from '../src/index.ts'
import {
  BentoCache,
  bentostore,
  createCacheManager,
  Keyv,
  KeyvRedis,
  memoryDriver,
  redisBusDriver,
  redisDriver,
} from './peers/index.ts'

export interface Contender {
  readonly label: string
  wrap(key: string, loader: () => Promise<unknown>): Promise<unknown>
  close(): Promise<unknown>
}

/** How long every contender keeps a value. */
export const TTL_MS = 3_600_000

/** Clients as the benches open them: RESP2 (what ioredis 5 speaks; ioredis 6 would pick RESP3). */
export async function client(url: string, options: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis(url, { protocol: 2, lazyConnect: true, ...options })
  await redis.connect()
  return redis
}

/** Cache-aside by hand on lru-cache: the floor for any in-process read-through cache. */
export function lruAside(max: number): Contender {
  const lru = new LRUCache<string, object>({ max, ttl: TTL_MS })
  return {
    label: 'lru-cache (get; on a miss, load and set)',
    async wrap(key, loader) {
      const hit = lru.get(key)
      if (hit !== undefined) return hit
      const value = (await loader()) as object
      lru.set(key, value)
      return value
    },
    close: async () => lru.clear(),
  }
}

/** The naive cache-aside most services start with: GET; on a miss, load, then SET PX. */
export async function naiveRedis(url: string, autoPipelining = false): Promise<Contender> {
  const redis = await client(url, { enableAutoPipelining: autoPipelining })
  return {
    label: `raw ioredis cache-aside (GET, then SET PX)${autoPipelining ? ', auto-pipelined' : ''}`,
    async wrap(key, loader) {
      const hit = await redis.get(key)
      if (hit !== null) return JSON.parse(hit)
      const value = await loader()
      await redis.set(key, JSON.stringify(value), 'PX', TTL_MS)
      return value
    },
    close: () => redis.quit(),
  }
}

/** cache-manager 7 on its default in-memory Keyv. */
export function cacheManagerMemory(): Contender {
  const cache = createCacheManager()
  return {
    label: 'cache-manager 7 `wrap` (memory)',
    wrap: (key, loader) => cache.wrap(key, loader, TTL_MS),
    close: () => cache.disconnect(),
  }
}

/** cache-manager 7 on Keyv's Redis store. */
export function cacheManagerRedis(url: string): Contender {
  const store = new KeyvRedis(url)
  store.on('error', () => {})
  const keyv = new Keyv({ store, namespace: 'cm' })
  keyv.on('error', () => {})
  const cache = createCacheManager({ stores: [keyv] })
  return {
    label: 'cache-manager 7 `wrap` (@keyv/redis)',
    wrap: (key, loader) => cache.wrap(key, loader, TTL_MS),
    close: () => cache.disconnect(),
  }
}

/** bentocache 1.6 with only its memory layer. */
export function bentoMemory(maxItems: number): Contender {
  const bento = new BentoCache({ default: 'm', stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems })) } })
  return {
    label: 'bentocache 1.6 `getOrSet` (memory)',
    wrap: (key, loader) => bento.getOrSet({ key, factory: loader, ttl: TTL_MS }),
    close: () => bento.disconnect(),
  }
}

/** bentocache 1.6 as its docs recommend for a fleet: memory L1, Redis L2, Redis bus. */
export function bentoTiered(url: string, maxItems: number): Contender {
  const { hostname, port } = new URL(url)
  const connection = { host: hostname, port: Number(port) }
  const bento = new BentoCache({
    default: 't',
    stores: {
      t: bentostore()
        .useL1Layer(memoryDriver({ maxItems }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  })
  return {
    label: 'bentocache 1.6 `getOrSet` (memory L1 + Redis + bus)',
    wrap: (key, loader) => bento.getOrSet({ key, factory: loader, ttl: TTL_MS }),
    close: () => bento.disconnect(),
  }
}

/** corral with the given options (memory store unless `store` says otherwise). */
export function corral(label: string, options: CacheOptions): Contender & { cache: ReturnType<typeof createCache> } {
  const cache = createCache({ ttl: TTL_MS, logger: false, ...options })
  return { label, cache, wrap: (key, loader) => cache.wrap(key, loader), close: () => cache.close() }
}

/** corral on a Redis client of its own (closed with it), optionally with an L1 or a lock. */
export async function corralRedis(
  label: string,
  url: string,
  options: CacheOptions & { autoPipelining?: boolean } = {},
): Promise<Contender & { cache: ReturnType<typeof createCache> }> {
  const { autoPipelining = false, ...rest } = options
  const redis = await client(url, { enableAutoPipelining: autoPipelining })
  const made = corral(label, { store: redisStore({ client: redis }), ...rest })
  if (rest.l1) await new Promise((r) => setTimeout(r, 200)) // L1 is trusted once the bus subscription is up
  return {
    ...made,
    async close() {
      await made.close()
      await redis.quit()
    },
  }
}
