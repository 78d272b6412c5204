import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { commandsDuring } from '../harness/redis-monitor.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type CacheOptions, createCache, type Logger, redisStore } from '../src/index.ts'

let counter = 0
const ns = () => `reads${process.pid}-${++counter}`

describe('reads on Redis', () => {
  const redis = useRedis()
  /** A cache on a client of its own, connected (and, with l1, subscribed) before it is used. */
  const cacheWith = async (options: CacheOptions = {}) => {
    const client = new Redis(redis.server.url, { protocol: 2 })
    await client.ping()
    const cache = createCache({ namespace: ns(), store: redisStore({ client }), logger: false, ...options })
    // One wrap of another key: the scripts are loaded and (with l1) the subscription is confirmed.
    await cache.wrap('warm-up', async () => 0)
    return {
      cache,
      close: async () => {
        await cache.close()
        client.disconnect()
      },
    }
  }

  it('five concurrent cold wraps on L1 + Redis send one read (MGET of entry and fence), one write, and make one loader call', async () => {
    // verifyAfter far off: no generation read of the L1 tier lands among the commands counted.
    const { cache, close } = await cacheWith({ l1: { maxEntries: 100, verifyAfter: '1h' } })
    let calls = 0
    const loader = async () => {
      calls++
      return { id: 1 }
    }
    let values: unknown[] = []
    const sent = await commandsDuring(redis.raw, async () => {
      values = await Promise.all(Array.from({ length: 5 }, () => cache.wrap('cold', loader)))
    })
    expect(values).toEqual(Array.from({ length: 5 }, () => ({ id: 1 })))
    expect(calls).toBe(1)
    expect(sent).toEqual(['mget', 'evalsha'])
    await close()
  })

  it('64 concurrent hits of one key send one read', async () => {
    const { cache, close } = await cacheWith()
    await cache.set('hot', { n: 1 })
    let values: unknown[] = []
    const sent = await commandsDuring(redis.raw, async () => {
      values = await Promise.all(Array.from({ length: 64 }, () => cache.wrap('hot', async () => ({ n: -1 }))))
    })
    expect(values.every((v) => (v as { n: number }).n === 1)).toBe(true)
    expect(sent).toEqual(['mget'])
    await close()
  })

  it('64 concurrent hits of distinct keys leave in four socket writes (groups of 16), on a client passed in', async () => {
    const client = new Redis(redis.server.url, { protocol: 2 })
    await client.ping()
    const cache = createCache({ namespace: ns(), store: redisStore({ client }), logger: false })
    const keys = Array.from({ length: 64 }, (_, i) => `k${i}`)
    for (const key of keys) await cache.set(key, key)
    const socket = (client as unknown as { stream: { _write: unknown; _writev: unknown } }).stream
    let writes = 0
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method] as (...args: unknown[]) => unknown
      socket[method] = function (this: unknown, ...args: unknown[]) {
        writes++
        return original.apply(this, args)
      }
    }
    const values = await Promise.all(keys.map((key) => cache.wrap(key, async () => 'loaded')))
    expect(values).toEqual(keys)
    expect(writes).toBe(4)
    await cache.close()
    client.disconnect()
  })

  it('a read that starts after a write from this process does not join a read sent before it', async () => {
    const { cache, close } = await cacheWith()
    await cache.set('k', 'old')
    const early = cache.get('k') // in flight
    await cache.set('k', 'new')
    expect(await cache.get('k')).toBe('new')
    expect(['old', 'new']).toContain(await early)
    await close()
  })

  it('a tagged hit reads the entry and its tag times in one command, and a tagged miss costs 2', async () => {
    const { cache, close } = await cacheWith()
    const tags = { tags: ['org:7', 'plan:pro'] }
    await cache.wrap('tagged', async () => 'v1', tags)
    const sent = await commandsDuring(redis.raw, async () => {
      expect(await cache.wrap('tagged', async () => 'v2', tags)).toBe('v1')
    })
    expect(sent).toEqual(['mget'])
    await cache.invalidateTags(['plan:pro'])
    const missed = await commandsDuring(redis.raw, async () => {
      expect(await cache.wrap('tagged', async () => 'v2', tags)).toBe('v2')
    })
    expect(missed).toEqual(['mget', 'evalsha'])
    await close()
  })

  it('one tags array reused and changed between calls: each call reads the tags the array holds then', async () => {
    const { cache, close } = await cacheWith()
    const tags: string[] = ['org:1']
    await cache.wrap('a', async () => 'a1', { tags })
    tags[0] = 'org:2'
    await cache.wrap('b', async () => 'b1', { tags })
    await cache.invalidateTags(['org:2'])
    // 'b' was stored with org:2 (what the array held): voided. 'a' keeps org:1 and is still served.
    expect(await cache.wrap('b', async () => 'b2', { tags })).toBe('b2')
    tags[0] = 'org:1'
    expect(await cache.wrap('a', async () => 'a2', { tags })).toBe('a1')
    await cache.invalidateTags(['org:1'])
    expect(await cache.wrap('a', async () => 'a3', { tags })).toBe('a3')
    // Concurrent hits of one key with different tag lists each read their own tags' times.
    await cache.invalidateTags(['late'])
    const [plain, late] = await Promise.all([
      cache.wrap('a', async () => 'a4', { tags: ['org:1'] }),
      cache.wrap('a', async () => 'a5', { tags: ['late'] }),
    ])
    expect(plain).toBe('a3')
    expect(late).toBe('a3')
    await close()
  })

  it('a tag the entry carries beyond those asked for still voids it', async () => {
    const { cache, close } = await cacheWith()
    const load = (value: string) => async (ctx: { setTags(tags: string[]): void }) => {
      ctx.setTags(['org:7', 'extra'])
      return value
    }
    await cache.wrap('k', load('v1'), { tags: ['org:7'] })
    expect(await cache.wrap('k', load('v2'), { tags: ['org:7'] })).toBe('v1')
    await cache.invalidateTags(['extra'])
    expect(await cache.wrap('k', load('v3'), { tags: ['org:7'] })).toBe('v3')
    await close()
  })

  it('a load superseded by an overlapping one is counted and logged at debug level, not warned about', async () => {
    const namespace = ns()
    const logged: Array<{ level: string; message: string }> = []
    const logger: Logger = {
      warn: (message) => void logged.push({ level: 'warn', message }),
      error: (message) => void logged.push({ level: 'error', message }),
      debug: (message) => void logged.push({ level: 'debug', message }),
    }
    const registry = new Registry()
    const first = createCache({ name: 'first', namespace, store: redisStore({ url: redis.server.url }), logger })
    const second = createCache({
      name: 'second',
      namespace,
      store: redisStore({ url: redis.server.url }),
      logger,
      metrics: { registry },
    })
    // Both loads begin (their fences are read) before either loader returns.
    let startedCount = 0
    let bothStartedNow = () => {}
    const bothStarted = new Promise<void>((resolve) => {
      bothStartedNow = resolve
    })
    const release: Record<string, () => void> = {}
    const gated = (name: 'first' | 'second', value: string) => () =>
      new Promise<string>((resolve) => {
        release[name] = () => resolve(value)
        if (++startedCount === 2) bothStartedNow()
      })
    const one = first.wrap('k', gated('first', 'one'))
    const two = second.wrap('k', gated('second', 'two'))
    await bothStarted
    release.first?.()
    expect(await one).toBe('one')
    release.second?.()
    expect(await two).toBe('two') // the caller still gets its own result
    expect(await second.get('k')).toBe('one') // but the first write stands
    const counted = await registry.getSingleMetricAsString('corral_fenced_writes_total')
    expect(counted).toMatch(/corral_fenced_writes_total\{cache="second",outcome="superseded"\} 1/)
    expect(logged.filter((line) => line.level === 'warn')).toEqual([])
    expect(logged).toContainEqual({ level: 'debug', message: 'a newer write or load won; this result was not stored' })
    await first.close()
    await second.close()
  })
})
