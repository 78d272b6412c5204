import type { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { counterValue, until } from '../harness/barrier.ts'
import { spawnWorker, type Worker } from '../harness/child.ts'
import { subscribed } from '../harness/pubsub.ts'
import { countingLoader, sleep } from '../harness/stores.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'

const WORKER = new URL('./fixtures/fleet-worker.ts', import.meta.url).pathname
let counter = 0
const ns = () => `tiers${process.pid}-${++counter}`
type Message = { id?: number; event?: string; value?: unknown }

/** Polls `read` until it returns `expected`; returns how long that took (ms), or Infinity. */
async function seenWithin(read: () => Promise<unknown>, expected: unknown, limitMs: number): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < limitMs) {
    if ((await read()) === expected) return performance.now() - started
    await sleep(2)
  }
  return Number.POSITIVE_INFINITY
}

async function commandsProcessed(raw: Redis): Promise<number> {
  const info = await raw.info('stats')
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1])
}

describe('L1 in front of Redis, kept coherent over the bus', () => {
  const redis = useRedis()
  const pair = async (options: Parameters<typeof createCache>[0] = {}) => {
    const namespace = ns()
    const make = () =>
      createCache({
        name: 'l1',
        namespace,
        store: redisStore({ url: redis.server.url }),
        l1: { maxEntries: 1_000 },
        logger: false,
        ...options,
      })
    const caches = [make(), make()] as const
    await subscribed(redis.raw, namespace, 2)
    return caches
  }
  const closeAll = (caches: readonly Cache[]) => Promise.all(caches.map((c) => c.close()))

  it('serves hits from process memory without a Redis command', async () => {
    const [a, b] = await pair()
    await a.set('hot', { n: 1 })
    expect(await b.get('hot')).toEqual({ n: 1 })
    const before = await commandsProcessed(redis.raw)
    for (let i = 0; i < 1_000; i++) await b.wrap('hot', async () => ({ n: -1 }))
    const after = await commandsProcessed(redis.raw)
    expect(after - before).toBeLessThan(5) // the INFO call itself, nothing per hit
    await closeAll([a, b])
  })

  it('a set, delete, tag invalidation or load in one instance reaches the other L1 within 200 ms', async () => {
    const [a, b] = await pair()
    await a.set('k', 'v1', { tags: ['org:1'] })
    expect(await b.get('k')).toBe('v1') // now in b's L1
    await a.set('k', 'v2', { tags: ['org:1'] })
    expect(await seenWithin(() => b.get('k'), 'v2', 1_000)).toBeLessThan(200)
    await a.delete('k')
    expect(await seenWithin(() => b.get('k'), undefined, 1_000)).toBeLessThan(200)
    await a.wrap('k', async () => 'v3', { tags: ['org:1'] })
    expect(await b.get('k')).toBe('v3')
    await a.invalidateTags(['org:1'])
    expect(await seenWithin(() => b.get('k'), undefined, 1_000)).toBeLessThan(200)
    expect(await b.wrap('k', async () => 'v4', { tags: ['org:1'] })).toBe('v4')
    expect(await seenWithin(() => a.get('k'), 'v4', 1_000)).toBeLessThan(200)
    await closeAll([a, b])
  })

  it('an L1 copy never outlives the store entry’s fresh time', async () => {
    const [a, b] = await pair({ ttl: 150 })
    const loader = countingLoader((n) => `v${n}`, 1)
    expect(await b.wrap('short', loader)).toBe('v1')
    await sleep(200)
    expect(await b.get('short')).toBeUndefined()
    expect(await a.wrap('short', loader)).toBe('v2')
    await closeAll([a, b])
  })

  it('a bus connection killed and restored leaves no stale L1 entry served', async () => {
    const registry = new Registry()
    const namespace = ns()
    const make = (metrics?: { registry: Registry }) =>
      createCache({
        name: 'bus',
        namespace,
        store: redisStore({ url: redis.server.url }),
        l1: { maxEntries: 100 },
        logger: false,
        ...(metrics ? { metrics } : {}),
      })
    const a = make()
    const b = make({ registry })
    await subscribed(redis.raw, namespace, 2)
    await a.set('k', 'old')
    expect(await b.get('k')).toBe('old')
    // Kill every pub/sub connection: b's subscriber drops and misses what is published meanwhile.
    await redis.raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    await a.set('k', 'new')
    const reads: unknown[] = []
    for (let i = 0; i < 100; i++) {
      reads.push(await b.get('k'))
      await sleep(5)
    }
    expect(reads.every((v) => v === 'new')).toBe(true)
    const cleared = await registry.getSingleMetricAsString('corral_l1_cleared_total')
    expect(cleared).toMatch(/corral_l1_cleared_total\{cache="bus",reason="bus_lost"\} [1-9]/)
    // Once resubscribed, L1 works and stays coherent again.
    await subscribed(redis.raw, namespace, 2)
    await a.set('k', 'newer')
    expect(await seenWithin(() => b.get('k'), 'newer', 1_000)).toBeLessThan(200)
    await closeAll([a, b])
  })

  it('a write it missed drops only the copy of the key written: the others stay', async () => {
    const registry = new Registry()
    const namespace = ns()
    const writer = createCache({ name: 'w', namespace, store: redisStore({ url: redis.server.url }), logger: false })
    const reader = createCache({
      name: 'r',
      namespace,
      store: redisStore({ url: redis.server.url }),
      l1: { maxEntries: 100 },
      metrics: { registry },
      logger: false,
    })
    await subscribed(redis.raw, namespace, 1)
    for (const key of ['changed', 'same', 'other']) await writer.set(key, `old ${key}`)
    // The tier keeps copies once it has read the generation.
    await until('3 copies in L1', async () => {
      for (const key of ['changed', 'same', 'other']) expect(await reader.get(key)).toBe(`old ${key}`)
      return reader.inspect().l1Entries === 3
    })
    // The reader's subscriber drops and misses the write published meanwhile.
    await redis.raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    await writer.set('changed', 'new')
    const cleared = () => counterValue(registry, 'corral_l1_evictions_total', { reason: 'cleared' })
    await until('the missed write found', async () => (await cleared()) > 0, 5_000)
    expect(await counterValue(registry, 'corral_l1_cleared_total', { reason: 'bus_lost' })).toBeGreaterThan(0)
    expect(await cleared()).toBe(1)
    expect(reader.inspect().l1Entries).toBe(2)
    expect(await reader.get('changed')).toBe('new')
    await closeAll([writer, reader])
  })

  it('child processes with L1: a write in one is seen by the others within 200 ms', async () => {
    const config = { url: redis.server.url, lock: true, namespace: ns(), l1: { maxEntries: 1_000 } }
    const workers = Array.from({ length: 3 }, () =>
      spawnWorker<Message>(WORKER, [], { FLEET_CONFIG: JSON.stringify(config) }),
    )
    await Promise.all(workers.map((w) => w.waitFor((m) => m.event === 'started', 20_000)))
    await subscribed(redis.raw, config.namespace, 3)
    let id = 1_000
    const ask = async (w: Worker<Message>, command: object) => {
      const n = ++id
      w.send({ id: n, ...command })
      return w.waitFor((m) => m.id === n, 10_000)
    }
    const [writer, r1, r2] = workers as [Worker<Message>, Worker<Message>, Worker<Message>]
    await ask(writer, { op: 'set', key: 'p', value: 'one', tags: ['t'] })
    expect((await ask(r1, { op: 'get', key: 'p' })).value).toBe('one')
    expect((await ask(r2, { op: 'get', key: 'p' })).value).toBe('one')
    for (const [command, expected] of [
      [{ op: 'set', key: 'p', value: 'two', tags: ['t'] }, 'two'],
      [{ op: 'invalidate', tags: ['t'] }, null],
      [{ op: 'set', key: 'p', value: 'three' }, 'three'],
      [{ op: 'delete', key: 'p' }, null],
    ] as const) {
      await ask(writer, command)
      const started = Date.now()
      for (const reader of [r1, r2]) {
        while ((await ask(reader, { op: 'get', key: 'p' })).value !== expected) {
          if (Date.now() - started > 1_000) throw new Error(`${JSON.stringify(command)} not seen`)
          await sleep(5)
        }
      }
      expect(Date.now() - started).toBeLessThan(200)
    }
    for (const w of workers) w.send({ op: 'exit' })
    await Promise.all(workers.map((w) => w.exited))
  }, 60_000)
})

describe('tags at scale', () => {
  const redis = useRedis()

  it('invalidating a tag over 20,000 entries takes under 1 s and voids them all, in every tier', async () => {
    const namespace = ns()
    // 20,000 entries: a busy machine must not turn a slow command into a skipped write.
    const store = () => redisStore({ url: redis.server.url, timeout: 5_000 })
    const plain = createCache({ namespace, store: store(), logger: false })
    const tiered = createCache({
      namespace,
      store: store(),
      l1: { maxEntries: 30_000 },
      logger: false,
    })
    await subscribed(redis.raw, namespace, 1)
    const keys = Array.from({ length: 20_000 }, (_, i) => `row:${i}`)
    await plain.warm(keys, async (missing) => new Map(missing.map((k) => [k, k])), { tags: ['org:7'] })
    const sample = keys.filter((_, i) => i % 500 === 0)
    expect(await tiered.wrapMany(sample, async () => ({}))).toEqual(sample)
    const started = performance.now()
    await plain.invalidateTags(['org:7'])
    const took = performance.now() - started
    expect(took).toBeLessThan(1_000)
    await until(
      'the tiered cache hears of the invalidation',
      async () => (await tiered.get(sample[0] as string)) === undefined,
    )
    for (const cache of [plain, tiered]) {
      const values = await cache.wrapMany(sample, async (missing) => new Map(missing.map((k) => [k, `fresh ${k}`])), {
        tags: ['org:7'],
      })
      expect(values.every((v, i) => v === `fresh ${sample[i]}`)).toBe(true)
    }
    await plain.close()
    await tiered.close()
  }, 60_000)

  it('an untagged hit costs one Redis command, a tagged hit two (no extra round trip for untagged keys)', async () => {
    const cache = createCache({ namespace: ns(), store: redisStore({ url: redis.server.url }), logger: false })
    await cache.set('plain', 1)
    await cache.set('tagged', 2, { tags: ['a', 'b'] })
    const count = async (key: string) => {
      const before = await commandsProcessed(redis.raw)
      for (let i = 0; i < 100; i++) await cache.get(key)
      return (await commandsProcessed(redis.raw)) - before - 1
    }
    expect(await count('plain')).toBe(100)
    expect(await count('tagged')).toBe(200)
    await cache.close()
  })

  it('invalidateAsStale serves the invalidated value as stale while one refresh runs', async () => {
    const cache = createCache({
      namespace: ns(),
      store: redisStore({ url: redis.server.url }),
      grace: '1m',
      invalidateAsStale: true,
      logger: false,
    })
    const loader = countingLoader((n) => `v${n}`, 50)
    await cache.wrap('k', loader, { tags: ['t'] })
    await cache.invalidateTags(['t'])
    expect(await cache.wrap('k', loader, { tags: ['t'] })).toBe('v1')
    await until('the refresh is stored', async () => (await cache.get('k')) === 'v2')
    expect(await cache.wrap('k', loader, { tags: ['t'] })).toBe('v2')
    await cache.close()
  })
})
