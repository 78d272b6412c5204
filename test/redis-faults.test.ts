import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { countingLoader, sleep } from '../harness/stores.ts'
import { useRedis } from '../harness/use-redis.ts'
import { createCache, redisStore } from '../src/index.ts'

describe('Redis store: foreign data and a Redis that dies', () => {
  const redis = useRedis()

  it('reads a corrupt or foreign entry as a miss and overwrites it', async () => {
    const cache = createCache({ store: redisStore({ url: redis.server.url }), namespace: 'corrupt', logger: false })
    const foreign = [
      'garbage',
      'C1[1,2,3]\n{}',
      'C1not json\nxx',
      Buffer.from([0xff, 0x00, 0xc1, 0x0a]),
      'C1[null,null,0,0,[],0]\n{bad',
    ]
    for (const [i, bytes] of foreign.entries()) {
      await redis.raw.set(`{corrupt:k${i}}`, bytes)
      const loader = countingLoader(() => ({ i }), 1)
      expect(await cache.wrap(`k${i}`, loader)).toEqual({ i })
      expect(loader.state.calls).toBe(1)
      expect((await redis.raw.get(`{corrupt:k${i}}`))?.startsWith('C1')).toBe(true)
      expect(await cache.get(`k${i}`)).toEqual({ i })
    }
    await cache.close()
  })

  it('never hands back a __proto__ key from stored JSON', async () => {
    const cache = createCache({
      store: redisStore({ url: redis.server.url }),
      namespace: 'proto',
      serializer: 'json',
      logger: false,
    })
    await redis.raw.set('{proto:evil}', 'C1[null,null,0,0,[],0]\n{"__proto__":{"polluted":true},"name":"x"}')
    const value = (await cache.get<Record<string, unknown>>('evil')) as Record<string, unknown>
    expect(value.name).toBe('x')
    expect(Object.hasOwn(value, '__proto__')).toBe(false)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.assign({}, value).polluted).toBeUndefined()
    await cache.close()
  })

  it('keeps answering from the loader while Redis is SIGKILLed, and writes resume when it is back', async () => {
    const registry = new Registry()
    const cache = createCache({
      store: redisStore({ url: redis.server.url, timeout: 200 }),
      namespace: 'outage',
      logger: false,
      metrics: { registry },
    })
    const loader = countingLoader((n) => n, 5)
    expect(await cache.wrap('k', loader)).toBe(1)
    await redis.server.kill('SIGKILL')
    const started = performance.now()
    // Concurrent callers during the outage still share one load, and nobody sees an error.
    const during = await Promise.all(Array.from({ length: 50 }, () => cache.wrap('down', loader)))
    expect(new Set(during).size).toBe(1)
    expect(performance.now() - started).toBeLessThan(1_000)
    for (let i = 0; i < 5; i++) await expect(cache.wrap(`down${i}`, loader)).resolves.toBeTypeOf('number')
    const errors = (await registry.getSingleMetricAsString('corral_store_errors_total')).trim()
    expect(errors).toMatch(/op="get"/)

    await redis.server.restart()
    let stored: string | null = null
    for (let i = 0; i < 50 && !stored; i++) {
      await sleep(100)
      await cache.wrap('after', loader).catch(() => undefined)
      const probe = new Redis(redis.server.url, { protocol: 2, lazyConnect: true })
      await probe.connect()
      stored = await probe.get('{outage:after}')
      probe.disconnect()
    }
    expect(stored).not.toBeNull()
    const callsBefore = loader.state.calls
    expect(typeof (await cache.wrap('after', loader))).toBe('number')
    expect(loader.state.calls).toBe(callsBefore)
    await cache.close()
  }, 30_000)

  it('a client passed in is left open by close(); one made from a url is closed', async () => {
    const client = new Redis(redis.server.url, { protocol: 2 })
    const mine = createCache({ store: redisStore({ client }), namespace: 'own', logger: false })
    await mine.set('a', 1)
    await mine.close()
    expect(await client.ping()).toBe('PONG')
    client.disconnect()
    const store = redisStore({ url: redis.server.url })
    const theirs = createCache({ store, namespace: 'own', logger: false })
    expect(await theirs.get('a')).toBe(1)
    await theirs.close()
    await expect(theirs.get('a')).rejects.toThrow(/closed/)
  })
})
