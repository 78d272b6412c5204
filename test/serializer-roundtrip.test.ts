import v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { useRedis } from '../harness/use-redis.ts'
import { type Cache, createCache, memoryStore, redisStore, SerializationError } from '../src/index.ts'

let counter = 0
const ns = () => `rt${process.pid}-${++counter}`

/** A mysql2-like row and the other types users cache, none of which JSON brings back as they were. */
function richValue() {
  return {
    id: 7,
    createdAt: new Date('2026-11-23T08:00:00.123Z'),
    avatar: Buffer.from([0, 1, 2, 254, 255]),
    samples: new Float64Array([1.5, -2.25]),
    bytes: new Uint8Array([9, 8, 7]),
    byName: new Map<string, unknown>([['a', { deep: [1, 2] }]]),
    roles: new Set(['admin', 'dev']),
    balance: 12_345_678_901_234_567_890n,
    missing: undefined,
    ratio: Number.NaN,
    nested: { list: [{ at: new Date(0) }], nothing: null },
  }
}

/** Checks the types as well as the contents (toEqual alone takes `{}` for an empty Map). */
function expectSameKind(back: ReturnType<typeof richValue>, sent: ReturnType<typeof richValue>): void {
  expect(back.createdAt).toBeInstanceOf(Date)
  expect(back.createdAt.getTime()).toBe(sent.createdAt.getTime())
  expect(Buffer.isBuffer(back.avatar)).toBe(true)
  expect([...back.avatar]).toEqual([...sent.avatar])
  expect(back.samples).toBeInstanceOf(Float64Array)
  expect([...back.samples]).toEqual([...sent.samples])
  expect(back.bytes).toBeInstanceOf(Uint8Array)
  expect(back.byName).toBeInstanceOf(Map)
  expect(back.byName.get('a')).toEqual({ deep: [1, 2] })
  expect(back.roles).toBeInstanceOf(Set)
  expect([...back.roles]).toEqual(['admin', 'dev'])
  expect(back.balance).toBe(sent.balance)
  expect(Object.hasOwn(back, 'missing')).toBe(true)
  expect(back.missing).toBeUndefined()
  expect(Number.isNaN(back.ratio)).toBe(true)
  expect(back.nested.list[0]?.at).toBeInstanceOf(Date)
  expect(back).toEqual(sent)
}

describe('values come back as they went in, for the loader’s caller and every later hit', () => {
  const redis = useRedis()
  const setups: [string, () => Cache][] = [
    ['memory', () => createCache({ namespace: ns(), logger: false })],
    ['redis', () => createCache({ namespace: ns(), store: redisStore({ url: redis.server.url }), logger: false })],
    [
      'L1 + redis',
      () =>
        createCache({
          namespace: ns(),
          store: redisStore({ url: redis.server.url }),
          l1: { maxEntries: 100 },
          logger: false,
        }),
    ],
  ]

  for (const [name, make] of setups) {
    it(`the default serializer keeps Date, Buffer, typed arrays, Map, Set, BigInt, undefined and NaN (${name})`, async () => {
      const cache = make()
      const sent = richValue()
      const first = await cache.wrap('row', () => sent)
      expectSameKind(first as typeof sent, sent)
      // The loader's caller holds its own copy: changing it does not change the cache.
      expect(first).not.toBe(sent)
      const hit = await cache.wrap('row', () => {
        throw new Error('a hit must not load')
      })
      expectSameKind(hit as typeof sent, sent)
      expectSameKind((await cache.get('row')) as typeof sent, sent)
      await cache.set('row2', sent)
      expectSameKind((await cache.get('row2')) as typeof sent, sent)
      const [many] = await cache.wrapMany(['row3'], () => new Map([['row3', sent]]))
      expectSameKind(many as typeof sent, sent)
      await cache.close()
    })
  }

  it('wrapMany on Redis: rows of plain data reach the first caller as every later hit reads them', async () => {
    const cache = createCache({ namespace: ns(), store: redisStore({ url: redis.server.url }), logger: false })
    const rows = new Map<string, unknown>()
    for (let i = 0; i < 300; i++) {
      const row = JSON.parse(`{"id":${i},"b":"x${i}","__proto__":{"polluted":true},"2":[1.5,-0,null,true]}`)
      rows.set(`r${i}`, i % 3 === 0 ? [row, { at: i, when: undefined }] : row)
    }
    const keys = [...rows.keys()]
    const first = await cache.wrapMany(keys, (asked) => new Map(asked.map((key) => [key, rows.get(key)])))
    const later = await cache.wrapMany(keys, () => {
      throw new Error('a hit must not load')
    })
    for (const [i, key] of keys.entries()) {
      expect(first[i]).not.toBe(rows.get(key))
      // V8's encoding tells apart key order, -0, undefined and prototypes, which toEqual may not.
      expect(v8.serialize(first[i]).equals(v8.serialize(later[i]))).toBe(true)
    }
    const one = first[1] as Record<string, unknown>
    expect(Object.getPrototypeOf(one)).toBe(Object.prototype)
    expect(Object.keys(one)).toEqual(['2', 'id', 'b', '__proto_'])
    await cache.close()
  })

  it('Buffers read back from Redis own their bytes: small and large values, one by one and in a batch', async () => {
    const cache = createCache({ namespace: ns(), store: redisStore({ url: redis.server.url }), logger: false })
    // Sizes either side of where a payload is read from a scratch copy instead of in place.
    const rowOf = (i: number) => ({ i, bytes: Buffer.alloc(i % 2 === 0 ? 8 : 600, i % 251) })
    const keys = Array.from({ length: 200 }, (_, i) => `b${i}`)
    await cache.wrapMany(keys, (asked) => new Map(asked.map((key) => [key, rowOf(Number(key.slice(1)))])))
    const warm = (await cache.wrapMany(keys, () => {
      throw new Error('a hit must not load')
    })) as ReturnType<typeof rowOf>[]
    const single = (await cache.get('b3')) as ReturnType<typeof rowOf>
    for (const [i, row] of [...warm.entries(), [3, single] as const]) {
      expect(Buffer.isBuffer(row.bytes)).toBe(true)
      expect(row.bytes.equals(rowOf(i).bytes)).toBe(true)
      // Its own memory: not a view of the reply it came in, nor of memory the next read reuses.
      expect(row.bytes.byteOffset).toBe(0)
      expect(row.bytes.buffer.byteLength).toBe(row.bytes.length)
    }
    await cache.close()
  })

  it('a function in a value is a SerializationError and nothing is written', async () => {
    const namespace = ns()
    const cache = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false })
    await cache.set('k', { ok: true })
    await expect(cache.set('k', { ok: true, run: () => 1 })).rejects.toBeInstanceOf(SerializationError)
    await expect(cache.wrap('j', () => ({ run: () => 1 }))).rejects.toBeInstanceOf(SerializationError)
    expect(await cache.get('k')).toEqual({ ok: true })
    expect(await redis.raw.exists(`{${namespace}:j}`)).toBe(0)
    expect(await cache.get('j')).toBeUndefined()
    await cache.close()
  })

  it("'json' stays selectable, and its first caller gets what later hits get", async () => {
    const cache = createCache({
      namespace: ns(),
      store: redisStore({ url: redis.server.url }),
      serializer: 'json',
      logger: false,
    })
    const sent = { when: new Date('2026-01-02T03:04:05.006Z'), tags: new Map([['a', 1]]) }
    const first = await cache.wrap('j', () => sent)
    const later = await cache.wrap('j', () => ({ when: 'not called', tags: 0 }))
    expect(first).toEqual(later)
    expect(first).toEqual({ when: '2026-01-02T03:04:05.006Z', tags: {} })
    await cache.close()
  })

  it('an entry written by the other built-in serializer reads as a miss and is replaced (upgrade, rollback)', async () => {
    const namespace = ns()
    const store = () => redisStore({ url: redis.server.url })
    const json = createCache({ namespace, store: store(), serializer: 'json', logger: false })
    const packed = createCache({ namespace, store: store(), logger: false })
    await json.set('old', { n: 49 })
    await json.set('text', '1')
    expect(await packed.get('old')).toBeUndefined()
    expect(await packed.get('text')).toBeUndefined()
    expect(await packed.wrap('old', () => ({ n: 50 }))).toEqual({ n: 50 })
    expect(await packed.get('old')).toEqual({ n: 50 })
    // And back: a JSON cache reading what msgpack wrote (a rollback) misses instead of misreading.
    await packed.set('new', 49)
    await packed.set('new2', { n: 1 })
    expect(await json.get('new2')).toBeUndefined()
    expect(await json.wrap('new2', () => ({ n: 2 }))).toEqual({ n: 2 })
    await json.close()
    await packed.close()
  })

  it('counters work whatever the serializer: set an integer, then increment it', async () => {
    for (const serializer of ['msgpack', 'json'] as const) {
      for (const store of [memoryStore(), redisStore({ url: redis.server.url })]) {
        const cache = createCache({ namespace: ns(), store, serializer, logger: false })
        await cache.set('n', 41)
        expect(await cache.increment('n')).toBe(42)
        expect(await cache.get('n')).toBe(42)
        await cache.close()
      }
    }
  })
})
