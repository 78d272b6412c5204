import { MemcacheClient } from 'memcache-client'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { counterEntry, type Entry } from '../src/entry.ts'
import {
  CorralConfigError,
  createCache,
  jsonSerializer,
  MemcachedStore,
  memcachedStore,
  NotACounterError,
  ValueTooLargeError,
} from '../src/index.ts'
import { silentLogger } from '../src/logger.ts'
import { itemKey } from '../src/memcached/keys.ts'

const context = { serializer: jsonSerializer, logger: silentLogger, channelName: 'corral:test' }

function entry(value: unknown, ttlMs = 60_000): Entry {
  const now = Date.now()
  return {
    value,
    negative: false,
    freshUntilMs: now + ttlMs,
    staleUntilMs: now + ttlMs,
    deltaMs: 5,
    createdAtUs: now * 1_000,
    tags: [],
    failSafe: false,
  }
}

let nextKey = 0
const fresh = (label = 'k') => `${label}:${process.pid}:${++nextKey}`

describe('memcachedStore on a real memcached', () => {
  let server: MemcachedServer
  let store: MemcachedStore
  let raw: MemcacheClient
  beforeAll(async () => {
    server = await startMemcached()
    store = new MemcachedStore({ servers: [server.address] }, context)
    raw = new MemcacheClient({ server: server.address })
  })
  afterAll(async () => {
    raw?.shutdown()
    await store?.close()
    await server?.stop()
  })

  it('writes, reads and deletes entries; a missing key reads as undefined', async () => {
    const key = fresh()
    expect(await store.get(key)).toBeUndefined()
    await store.set(key, entry({ a: 1 }), JSON.stringify({ a: 1 }), 60_000)
    expect((await store.get(key))?.value).toEqual({ a: 1 })
    expect((await store.getMany([key, fresh()])).map((e) => e?.value)).toEqual([{ a: 1 }, undefined])
    await store.delete(key)
    await store.delete(key) // deleting an absent key is no error
    expect(await store.get(key)).toBeUndefined()
  })

  it('a load begun before a set or a delete cannot overwrite it; of two overlapping loads the first to finish writes', async () => {
    const key = fresh()
    const early = await store.begin(key)
    await store.set(key, entry('newer'), '"newer"', 60_000)
    expect(await store.commit(key, entry('older'), '"older"', 60_000, early.token as number)).toBeUndefined()
    expect((await store.get(key))?.value).toBe('newer')

    const beforeDelete = await store.begin(key)
    await store.delete(key)
    expect(await store.commit(key, entry('older'), '"older"', 60_000, beforeDelete.token as number)).toBeUndefined()
    expect(await store.get(key)).toBeUndefined()

    const a = await store.begin(key)
    const b = await store.begin(key)
    expect(b.token).toBe(a.token) // beginning does not move the fence
    expect(await store.commit(key, entry('a'), '"a"', 60_000, a.token as number)).toEqual({})
    expect(await store.commit(key, entry('b'), '"b"', 60_000, b.token as number)).toBeUndefined()
    expect((await store.get(key))?.value).toBe('a')
  })

  it('a load begun before a delete of an absent key, and a new load begun after it, do not share a token', async () => {
    const key = fresh()
    const early = await store.begin(key)
    await store.delete(key)
    const late = await store.begin(key)
    expect(late.token).not.toBe(early.token)
    expect(await store.commit(key, entry('early'), '"early"', 60_000, early.token as number)).toBeUndefined()
    expect(await store.commit(key, entry('late'), '"late"', 60_000, late.token as number)).toEqual({})
  })

  it('increment uses incr: created at `by` when absent, added to after, refused on a non-counter', async () => {
    const key = fresh()
    expect(await store.increment(key, 5, Number.POSITIVE_INFINITY)).toBe(5)
    expect(await store.increment(key, 2, Number.POSITIVE_INFINITY)).toBe(7)
    expect((await store.get(key))?.value).toBe(7)
    // Memcached counters are unsigned: decrements stop at 0.
    expect(await store.increment(key, -3, Number.POSITIVE_INFINITY)).toBe(4)
    expect(await store.increment(key, -10, Number.POSITIVE_INFINITY)).toBe(0)
    // The raw item is Memcached's own counter: another client's incr sees it.
    expect(await raw.incr(itemKey('entry', key), 3)).toBe('3')

    const text = fresh()
    await store.set(text, entry('words'), '"words"', 60_000)
    await expect(store.increment(text, 1, Number.POSITIVE_INFINITY)).rejects.toBeInstanceOf(NotACounterError)
    expect((await store.get(text))?.value).toBe('words')

    // An integer written by set is a counter.
    const written = fresh()
    await store.set(written, counterEntry(10), '10', 60_000)
    expect(await store.increment(written, 1, Number.POSITIVE_INFINITY)).toBe(11)
  })

  it('increment on a key with only a load placeholder starts the counter', async () => {
    const key = fresh()
    await store.begin(key) // leaves a placeholder
    expect(await store.increment(key, 4, 60_000)).toBe(4)
    expect(await store.increment(key, 1, 60_000)).toBe(5)
  })

  it('concurrent increments from two stores on one server lose nothing', async () => {
    const other = new MemcachedStore({ servers: [server.address] }, context)
    const key = fresh()
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? store : other).increment(key, 1, Number.POSITIVE_INFINITY)),
    )
    expect((await store.get(key))?.value).toBe(100)
    await other.close()
  })

  it('tag times come from one clock: a load begun before an invalidation is older than it, one begun after is newer', async () => {
    const tag = fresh('tag')
    expect(await store.tagTimes([tag])).toEqual([0])
    const before = await store.begin(fresh())
    const { atUs: at } = await store.invalidateTags([tag])
    const after = await store.begin(fresh())
    expect(await store.tagTimes([tag])).toEqual([at])
    expect(at).toBeGreaterThanOrEqual(before.nowUs as number)
    expect(after.nowUs as number).toBeGreaterThan(at)
    // A second store (another process's) reads the same clock.
    const other = new MemcachedStore({ servers: [server.address] }, context)
    const elsewhere = (await other.begin(fresh())).nowUs as number
    expect(elsewhere).toBeGreaterThan(at)
    const { atUs: later } = await other.invalidateTags([tag])
    expect(later).toBeGreaterThan(elsewhere) // a load begun before an invalidation is older than it
    expect(later).toBeGreaterThan(after.nowUs as number)
    expect(await store.tagTimes([tag])).toEqual([later])
    await other.close()
  })

  it('keys Memcached cannot carry (long, spaces, control characters, non-ASCII) are hashed, stay distinct and round-trip', async () => {
    const keys = [
      'x'.repeat(1_000),
      `${'x'.repeat(999)}y`,
      'with space',
      'with\nnewline',
      'x\r\nflush_all\r\n', // written before the others are read: a flush would lose them
      'tab\there',
      'ключ',
      '#h:looks-hashed',
      'plain:key',
    ]
    for (const [i, key] of keys.entries()) await store.set(key, entry(i), String(i), 60_000)
    const read = await store.getMany(keys)
    expect(read.map((e) => e?.value)).toEqual(keys.map((_, i) => i))
    for (const key of keys) expect(Buffer.byteLength(itemKey('lock', key))).toBeLessThanOrEqual(250)
    expect(itemKey('entry', 'plain:key')).toBe('v:plain:key')
    expect(itemKey('entry', 'with space')).toMatch(/^v:#[\w-]{43}$/)
  })

  it('a value over the item size limit is refused with ValueTooLargeError and the old value stays', async () => {
    const small = new MemcachedStore({ servers: [server.address], maxValueBytes: 1_000 }, context)
    const key = fresh()
    await small.set(key, entry('ok'), '"ok"', 60_000)
    const big = JSON.stringify('x'.repeat(2_000))
    await expect(small.set(key, entry('big'), big, 60_000)).rejects.toBeInstanceOf(ValueTooLargeError)
    expect((await small.get(key))?.value).toBe('ok')
    await small.close()
    // Past the server's own limit (1 MiB by default) the reply is the same error, but memcached
    // itself drops the old value when it refuses a new one: why maxValueBytes refuses first.
    const huge = JSON.stringify('y'.repeat(1_100_000))
    const unbounded = new MemcachedStore({ servers: [server.address], maxValueBytes: 4_000_000 }, context)
    await expect(unbounded.set(key, entry('huge'), huge, 60_000)).rejects.toBeInstanceOf(ValueTooLargeError)
    expect(await unbounded.get(key)).toBeUndefined()
    await unbounded.close()
  })

  it('entries expire with their ttl (Memcached counts whole seconds)', async () => {
    const key = fresh()
    await store.set(key, entry('short', 100), '"short"', 100)
    expect((await store.get(key))?.value).toBe('short')
    const until = Date.now() + 5_000
    while ((await store.get(key)) !== undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 200))
    expect(await store.get(key)).toBeUndefined()
  }, 10_000)

  it('works with a MemcacheClient you pass, and leaves it open on close', async () => {
    const client = new MemcacheClient({ server: server.address })
    const mine = new MemcachedStore({ client }, context)
    const key = fresh()
    await mine.set(key, entry('mine'), '"mine"', 60_000)
    await mine.close()
    expect((await client.get<Buffer>(itemKey('entry', key)))?.value.toString()).toContain('"mine"')
    client.shutdown()
  })

  it('bad options are CorralConfigErrors naming the option', () => {
    const make = (options: object) => () => new MemcachedStore(options as never, context)
    expect(make({})).toThrow(CorralConfigError)
    expect(make({ servers: [] })).toThrow(/store\.servers/)
    expect(make({ servers: ['localhost'] })).toThrow(/host:port/)
    expect(make({ servers: ['a:1', 'a:1'] })).toThrow(/twice/)
    expect(make({ servers: ['a:1'], timeout: 0 })).toThrow(/store\.timeout/)
    expect(make({ servers: ['a:1'], maxValueBytes: 1 })).toThrow(/maxValueBytes/)
    expect(make({ client: {} })).toThrow(/MemcacheClient/)
    expect(make({ servers: ['a:1'], breaker: { failures: 0 } })).toThrow(/breaker\.failures/)
  })
})

describe('memcachedStore over several servers', () => {
  let servers: MemcachedServer[] = []
  beforeAll(async () => {
    servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()])
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
  })

  it('spreads keys over the servers on a hash ring and reads them all back in one call', async () => {
    const store = new MemcachedStore({ servers: servers.map((s) => s.address) }, context)
    const keys = Array.from({ length: 60 }, (_, i) => `spread:${i}`)
    for (const key of keys) await store.set(key, entry(key), JSON.stringify(key), 60_000)
    expect((await store.getMany(keys)).map((e) => e?.value)).toEqual(keys)
    const perServer = await Promise.all(
      servers.map(async (s) => {
        const client = new MemcacheClient({ server: s.address })
        const found = await client.get<Buffer>(keys.map((key) => itemKey('entry', key)))
        client.shutdown()
        return Object.keys(found ?? {}).length
      }),
    )
    expect(perServer.reduce((a, b) => a + b, 0)).toBe(keys.length)
    expect(perServer.every((n) => n > 0)).toBe(true)
    // Another process with the servers listed in another order finds the same keys.
    const reordered = new MemcachedStore({ servers: servers.map((s) => s.address).reverse() }, context)
    expect((await reordered.getMany(keys)).map((e) => e?.value)).toEqual(keys)
    await reordered.close()
    await store.close()
  })

  it('through a cache: read-through, negative caching, tags, increment', async () => {
    const cache = createCache({ store: memcachedStore({ servers: servers.map((s) => s.address) }), logger: false })
    let calls = 0
    const load = async () => {
      calls += 1
      return { n: calls }
    }
    expect(await cache.wrap('user:1', load, { tags: ['org:1'] })).toEqual({ n: 1 })
    expect(await cache.wrap('user:1', load, { tags: ['org:1'] })).toEqual({ n: 1 })
    await cache.invalidateTags(['org:1'])
    expect(await cache.wrap('user:1', load, { tags: ['org:1'] })).toEqual({ n: 2 })
    expect(await cache.wrap('user:1', load, { tags: ['org:1'] })).toEqual({ n: 2 })

    let nulls = 0
    const none = async () => {
      nulls += 1
      return null
    }
    expect(await cache.wrap('missing', none, { negativeTtl: 60_000 })).toBeNull()
    expect(await cache.wrap('missing', none, { negativeTtl: 60_000 })).toBeNull()
    expect(nulls).toBe(1)

    expect(await cache.increment('hits')).toBe(1)
    expect(await cache.increment('hits', 9)).toBe(10)
    expect(await cache.get('hits')).toBe(10)
    await cache.close()
  })

  it('through a cache: a stale value within grace is served at once and refreshed behind the caller', async () => {
    const cache = createCache({ store: memcachedStore({ servers: servers.map((s) => s.address) }), logger: false })
    let calls = 0
    const load = async () => ++calls
    const options = { ttl: 100, grace: 10_000, earlyRefresh: false as const }
    expect(await cache.wrap('graced', load, options)).toBe(1)
    const until = async (check: () => Promise<boolean>) => {
      const deadline = Date.now() + 5_000
      while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    }
    // `get` never serves stale: undefined once the fresh time has passed.
    await until(async () => (await cache.get('graced')) === undefined)
    expect(await cache.wrap('graced', load, options)).toBe(1) // stale, served at once
    await until(async () => (await cache.get('graced')) === 2) // refreshed in the background
    expect(await cache.get('graced')).toBe(2)
    expect(calls).toBe(2)
    await cache.close()
  })

  it('wrapMany with lock from two caches (two processes) at once: every key loaded once in all', async () => {
    const servers2 = servers.map((s) => s.address)
    const make = () =>
      createCache({ store: memcachedStore({ servers: servers2 }), namespace: 'batch', lock: true, logger: false })
    const [one, two] = [make(), make()]
    const loaded = new Map<string, number>()
    const loadMany = async (keys: string[]) => {
      for (const key of keys) loaded.set(key, (loaded.get(key) ?? 0) + 1)
      await new Promise((r) => setTimeout(r, 100))
      return Object.fromEntries(keys.map((key) => [key, `value of ${key}`]))
    }
    const keys = Array.from({ length: 30 }, (_, i) => `b${i}`)
    const [a, b] = await Promise.all([one.wrapMany(keys, loadMany), two.wrapMany(keys, loadMany)])
    expect(a).toEqual(keys.map((key) => `value of ${key}`))
    expect(b).toEqual(a)
    expect([...loaded.values()].every((n) => n === 1)).toBe(true)
    expect(loaded.size).toBe(keys.length)
    await Promise.all([one.close(), two.close()])
  })

  it('an L1 tier is refused: with no channel, other processes’ writes would go unheard', () => {
    expect(() =>
      createCache({ store: memcachedStore({ servers: [servers[0]?.address as string] }), l1: { maxEntries: 100 } }),
    ).toThrow(CorralConfigError)
  })

  it('a wrap whose value is over the size limit answers it, does not store it (counted), and keeps answering', async () => {
    const registry = new Registry()
    const cache = createCache({
      store: memcachedStore({ servers: [servers[0]?.address as string], maxValueBytes: 500 }),
      logger: false,
      metrics: { registry },
    })
    let calls = 0
    const big = async () => {
      calls += 1
      return 'z'.repeat(1_000)
    }
    expect(await cache.wrap('big', big)).toHaveLength(1_000)
    expect(await cache.wrap('big', big)).toHaveLength(1_000)
    expect(calls).toBe(2)
    expect(await registry.metrics()).toMatch(/corral_store_errors_total\{cache="default",op="commit"\} 2/)
    await expect(cache.set('big', 'z'.repeat(1_000))).rejects.toBeInstanceOf(ValueTooLargeError)
    await cache.close()
  })
})
