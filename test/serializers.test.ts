import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { createCache, memoryStore, redisStore, SerializationError } from '../src/index.ts'

describe('serializers round-trip their types on memory and Redis', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis.stop()
  })
  const stores = () => [memoryStore(), redisStore({ url: redis.url })]

  it("'msgpack' round-trips Date, Map, Set, BigInt, Buffer and nested objects", async () => {
    const value = {
      when: new Date('2026-11-22T01:02:03.004Z'),
      map: new Map<string, unknown>([
        ['a', 1],
        ['b', { deep: [1, 2] }],
      ]),
      set: new Set(['x', 'y']),
      big: 12_345_678_901_234_567_890n,
      bytes: Buffer.from([0, 1, 2, 255]),
      nested: { list: [{ id: 1 }, { id: 2 }], nothing: null },
    }
    for (const store of stores()) {
      const cache = createCache({ namespace: `mp-${store.kind}`, store, serializer: 'msgpack', logger: false })
      await cache.set('v', value)
      const back = (await cache.get<typeof value>('v')) as typeof value
      expect(back.when).toBeInstanceOf(Date)
      expect(back.when.getTime()).toBe(value.when.getTime())
      expect(back.map).toBeInstanceOf(Map)
      expect(back.map.get('b')).toEqual({ deep: [1, 2] })
      expect(back.set).toBeInstanceOf(Set)
      expect([...back.set]).toEqual(['x', 'y'])
      expect(back.big).toBe(value.big)
      expect(Buffer.isBuffer(back.bytes)).toBe(true)
      expect([...back.bytes]).toEqual([0, 1, 2, 255])
      expect(back.nested).toEqual(value.nested)
      expect(await cache.wrap('w', async () => value)).toEqual(value)
      expect((await cache.wrap('w', async () => 'not called')) as unknown).toEqual(value)
      await cache.close()
    }
  })

  it("'json' keeps plain data exactly and refuses what it would change", async () => {
    for (const store of stores()) {
      const cache = createCache({ namespace: `json-${store.kind}`, store, serializer: 'json', logger: false })
      const plain = { s: 'ünïcødé ✓', n: 1.5, b: true, nil: null, list: [1, 'two', { three: 3 }] }
      await cache.set('p', plain)
      expect(await cache.get('p')).toEqual(plain)
      await expect(cache.set('bad', { n: 1n })).rejects.toBeInstanceOf(SerializationError)
      await cache.close()
    }
  })

  it('a custom serializer is used for both directions', async () => {
    const calls = { serialize: 0, deserialize: 0 }
    const upper = {
      serialize: (v: unknown) => {
        calls.serialize += 1
        return JSON.stringify(v).toUpperCase()
      },
      deserialize: (raw: string | Buffer) => {
        calls.deserialize += 1
        return JSON.parse(raw.toString())
      },
    }
    const cache = createCache({
      namespace: 'custom',
      store: redisStore({ url: redis.url }),
      serializer: upper,
      logger: false,
    })
    await cache.set('k', { word: 'quiet' })
    expect(await cache.get('k')).toEqual({ WORD: 'QUIET' })
    expect(calls).toEqual({ serialize: 1, deserialize: 1 })
    await cache.close()
  })
})
