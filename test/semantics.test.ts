import { describe, expect, it } from 'vitest'
import { sleep } from '../harness/stores.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type CacheOptions, createCache, memoryStore, redisStore } from '../src/index.ts'

let counter = 0
const ns = () => `sem${process.pid}-${++counter}`

class OriginDown extends Error {
  override name = 'OriginDown'
}
const failing = () => {
  throw new OriginDown('origin is down')
}

/** Exact semantics of refresh, stale-if-error and negative caching, on memory and on Redis. */
describe('exact semantics', () => {
  const redis = useRedis()
  const stores = [
    ['memory', () => memoryStore()],
    ['redis', () => redisStore({ url: redis.server.url })],
  ] as const

  for (const [name, store] of stores) {
    const make = (options: CacheOptions = {}) =>
      createCache({ namespace: ns(), store: store(), logger: false, ...options })

    it(`refresh with a failing loader and no grace rejects with the loader's error and writes nothing (${name})`, async () => {
      const cache = make({ ttl: '1h' })
      expect(await cache.wrap('k', () => 'old')).toBe('old')
      await expect(cache.refresh('k', failing)).rejects.toBeInstanceOf(OriginDown)
      // The old value is still there as it was: fresh, served as a hit, and no fail-safe copy.
      expect(await cache.get('k')).toBe('old')
      expect(await cache.wrap('k', () => 'loaded')).toBe('old')
      await cache.close()
    })

    it(`refresh with a failing loader serves the graced value when grace applies (${name})`, async () => {
      const cache = make({ ttl: 100, grace: '1h' })
      expect(await cache.wrap('k', () => 'old')).toBe('old')
      await sleep(150) // past ttl, within grace
      expect(await cache.refresh('k', failing)).toBe('old')
      await cache.close()
    })

    it(`stale-if-error never serves a value past ttl + grace, whatever the throttle (${name})`, async () => {
      const cache = make({ ttl: 100, grace: 200, failSafeThrottle: '5s' })
      expect(await cache.wrap('k', () => 'v1')).toBe('v1')
      await sleep(150) // stale, within grace: the failing origin gets the graced value served
      expect(await cache.wrap('k', failing)).toBe('v1')
      await sleep(250) // now past ttl + grace (300 ms after the load)
      await expect(cache.wrap('k', failing)).rejects.toBeInstanceOf(OriginDown)
      expect(await cache.get('k')).toBeUndefined()
      await cache.close()
    })

    it(`a per-call ttl leaves negativeTtl alone; a per-call negativeTtl overrides it (${name})`, async () => {
      const cache = make({ ttl: '1h', negativeTtl: 0 })
      let calls = 0
      const nothing = () => {
        calls += 1
        return null
      }
      expect(await cache.wrap('none', nothing, { ttl: '1h' })).toBeNull()
      expect(await cache.wrap('none', nothing, { ttl: '1h' })).toBeNull()
      expect(calls).toBe(2) // negativeTtl 0: never cached
      expect(await cache.wrap('some', nothing, { negativeTtl: '1h' })).toBeNull()
      expect(await cache.wrap('some', nothing, { negativeTtl: '1h' })).toBeNull()
      expect(calls).toBe(3)
      // And a real value with a per-call ttl is cached as usual.
      let loads = 0
      const value = () => {
        loads += 1
        return 'v'
      }
      await cache.wrap('v', value, { ttl: '1h' })
      await cache.wrap('v', value, { ttl: '1h' })
      expect(loads).toBe(1)
      await cache.close()
    })
  }
})
