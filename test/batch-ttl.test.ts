import { describe, expect, it } from 'vitest'
import { useRedis } from '../harness/use-redis.ts'
import { createCache, redisStore } from '../src/index.ts'
import { FENCE_MARGIN_MS } from '../src/redis/scripts.ts'

let counter = 0
const ns = () => `batchttl${process.pid}-${++counter}`

describe('a batch write keeps each key’s own ttl', () => {
  const redis = useRedis()

  it('with jitter every entry expires on its own ttl and its fence FENCE_MARGIN_MS later', async () => {
    const namespace = ns()
    const ttl = 600_000
    const cache = createCache({
      namespace,
      store: redisStore({ url: redis.server.url }),
      ttl,
      jitter: 0.5,
      logger: false,
    })
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
    await cache.wrapMany(keys, (missing) => new Map(missing.map((key) => [key, { key }])))
    const pipeline = redis.raw.pipeline()
    for (const key of keys) pipeline.pttl(`{${namespace}:${key}}`).pttl(`{${namespace}:${key}}:f`)
    const ttls = ((await pipeline.exec()) ?? []).map(([, ms]) => Number(ms))
    const entries = ttls.filter((_, i) => i % 2 === 0)
    const fences = ttls.filter((_, i) => i % 2 === 1)
    for (let i = 0; i < keys.length; i++) {
      const entry = entries[i] as number
      expect(entry).toBeGreaterThan(0)
      // Within a few seconds of the entry's own expiry plus the margin (the two PTTLs are read a moment apart).
      expect(Math.abs((fences[i] as number) - entry - FENCE_MARGIN_MS)).toBeLessThan(5_000)
    }
    // Jitter spreads the ttls: a batch whose keys all got one ttl would show a single value.
    expect(new Set(entries.map((ms) => Math.round(ms / 1_000))).size).toBeGreaterThan(50)
    await cache.close()
  })

  it('without a ttl neither the entries nor their fences expire', async () => {
    const namespace = ns()
    const cache = createCache({
      namespace,
      store: redisStore({ url: redis.server.url }),
      ttl: Number.POSITIVE_INFINITY,
      logger: false,
    })
    const keys = ['a', 'b', 'c']
    await cache.wrapMany(keys, (missing) => new Map(missing.map((key) => [key, key])))
    for (const key of keys) {
      expect(await redis.raw.pttl(`{${namespace}:${key}}`)).toBe(-1)
      expect(await redis.raw.pttl(`{${namespace}:${key}}:f`)).toBe(-1)
    }
    await cache.close()
  })
})
