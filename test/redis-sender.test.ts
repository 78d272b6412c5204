import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { commandsDuring } from '../harness/redis-monitor.ts'
import { useRedis } from '../harness/use-redis.ts'
import { createCache, redisStore } from '../src/index.ts'

let counter = 0
const ns = () => `sender${process.pid}-${++counter}`

describe('commands corral sends itself (reads, commit scripts)', () => {
  const redis = useRedis()

  it('a commit whose script Redis has forgotten (SCRIPT FLUSH) is sent in full and lands, single key and batch', async () => {
    const client = new Redis(redis.server.url, { protocol: 2 })
    const namespace = ns()
    const cache = createCache({ namespace, store: redisStore({ client }), logger: false })
    let loads = 0
    await cache.wrap('before', async () => ++loads)
    await redis.raw.script('FLUSH')
    expect(await cache.wrap('one', async () => ++loads)).toBe(2)
    await redis.raw.script('FLUSH')
    const many = await cache.wrapMany(['a', 'b', 'c'], async (keys) => new Map(keys.map((k) => [k, `v-${k}`])))
    expect(many).toEqual(['v-a', 'v-b', 'v-c'])
    // Written to Redis: a second cache on the namespace (its own client) reads them without loading.
    const other = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false })
    const refuse = async (): Promise<never> => {
      throw new Error('loaded again: the write did not land')
    }
    expect(await other.wrap('one', refuse)).toBe(2)
    expect(await other.wrapMany(['a', 'b', 'c'], refuse)).toEqual(['v-a', 'v-b', 'v-c'])
    await other.close()
    await cache.close()
    client.disconnect()
  })

  it('sends a write script in full the first time on a connection, so nothing sent after it overtakes it', async () => {
    const client = new Redis(redis.server.url, { protocol: 2 })
    await client.ping()
    const cache = createCache({ namespace: ns(), store: redisStore({ client }), logger: false })
    // (TIME: the store learns Redis's clock with its first read.) EVALSHA first would come back
    // NOSCRIPT on a Redis that never saw the script, and the EVAL sent after that reply would land
    // behind any read sent meanwhile.
    expect(await commandsDuring(redis.raw, () => cache.wrap('first', async () => 1))).toEqual(['time', 'mget', 'eval'])
    expect(await commandsDuring(redis.raw, () => cache.wrap('second', async () => 2))).toEqual(['mget', 'evalsha'])
    await cache.close()
    client.disconnect()
  })

  it("honours a passed client's keyPrefix for reads and commits alike", async () => {
    const prefix = `${ns()}:`
    const client = new Redis(redis.server.url, { protocol: 2, keyPrefix: prefix })
    const namespace = ns()
    const cache = createCache({ namespace, store: redisStore({ client }), logger: false })
    let loads = 0
    expect(await cache.wrap('k', async () => ++loads)).toBe(1)
    expect(await cache.wrap('k', async () => ++loads)).toBe(1)
    expect(await cache.wrapMany(['x', 'y'], async (keys) => new Map(keys.map((k) => [k, k])))).toEqual(['x', 'y'])
    expect(await cache.wrapMany(['x', 'y'], async () => new Map())).toEqual(['x', 'y'])
    // A batch's chunk (a command of hundreds of keys) is written by corral itself: prefixed too.
    const many = Array.from({ length: 300 }, (_, i) => `m${i}`)
    expect(await cache.wrapMany(many, async (keys) => new Map(keys.map((k) => [k, k])))).toEqual(many)
    expect(await cache.wrapMany(many, async () => new Map())).toEqual(many)
    expect(loads).toBe(1)
    const stored = (await redis.raw.keys(`*${namespace}*`)).sort()
    expect(stored.length).toBeGreaterThanOrEqual(6 + 600) // entry and fence of k, x, y and the 300
    expect(stored.every((key) => key.startsWith(prefix))).toBe(true)
    await cache.close()
    client.disconnect()
  })
})
