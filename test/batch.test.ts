import { subscribe } from 'node:diagnostics_channel'
import { Cluster } from 'ioredis'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisCluster, startRedisCluster } from '../harness/redis-server.ts'
import { useRedis } from '../harness/use-redis.ts'
import { BatchResultError, CorralError, createCache, redisStore } from '../src/index.ts'

let counter = 0
const ns = () => `batch${process.pid}-${++counter}`

/** A row of about `bytes` bytes once serialized. */
const rowOf = (key: string, bytes: number) => ({ id: key, body: 'x'.repeat(Math.max(1, bytes - key.length - 20)) })

/** The last store error seen per operation, so that a failed check says what the store answered. */
const lastStoreError = new Map<string, string>()
subscribe('corral:error', (event) => {
  const { source, op, error } = event as { source: string; op?: string; error: unknown }
  if (source === 'store' && op) lastStoreError.set(op, String(error))
})

/** Store errors counted so far, by operation (only the operations that failed), with the last error of each. */
async function storeErrors(registry: Registry): Promise<Record<string, string>> {
  const metric = await registry.getSingleMetric('corral_store_errors_total')?.get()
  const failed: Record<string, string> = {}
  for (const v of metric?.values ?? []) {
    const op = String(v.labels.op)
    if (v.value > 0) failed[op] = `${v.value} (last: ${lastStoreError.get(op) ?? 'unknown'})`
  }
  return failed
}

/** How many of `names` exist in Redis, counted in pipelined chunks. */
async function existing(raw: import('ioredis').Redis, names: string[]): Promise<number> {
  let found = 0
  for (let i = 0; i < names.length; i += 5_000) found += await raw.exists(...names.slice(i, i + 5_000))
  return found
}

describe('wrapMany at scale on Redis', () => {
  const redis = useRedis()

  for (const size of [20_000, 100_000]) {
    for (const bytes of [100, 1_024]) {
      for (const l1 of [false, true]) {
        it(`${size.toLocaleString('en')} keys x ${bytes} B${l1 ? ', with L1' : ''}: every entry written once, 0 store errors, the breaker stays closed`, async () => {
          const registry = new Registry()
          const namespace = ns()
          const cache = createCache({
            name: 'batch',
            namespace,
            store: redisStore({ url: redis.server.url }),
            metrics: { registry },
            logger: false,
            ...(l1 ? { l1: { maxEntries: 10_000 } } : {}),
          })
          const keys = Array.from({ length: size }, (_, i) => `row:${i}`)
          const asked = new Map<string, number>()
          let calls = 0
          const loadMany = (missing: string[]) => {
            calls += 1
            for (const key of missing) asked.set(key, (asked.get(key) ?? 0) + 1)
            return new Map(missing.map((key) => [key, rowOf(key, bytes)]))
          }
          const values = await cache.wrapMany(keys, loadMany)
          expect(values.filter((v, i) => (v as { id: string }).id === keys[i])).toHaveLength(size)
          expect(calls).toBe(1)
          expect(asked.size).toBe(size)
          expect([...asked.values()].every((n) => n === 1)).toBe(true)
          expect(await storeErrors(registry)).toEqual({})
          // Every entry is in Redis: the raw names are the namespaced keys in a hash tag.
          expect(
            await existing(
              redis.raw,
              keys.map((key) => `{${namespace}:${key}}`),
            ),
          ).toBe(size)

          // The same call right after loads nothing: every entry was stored.
          const again = await cache.wrapMany(keys, loadMany)
          expect(calls).toBe(1)
          expect((again[size - 1] as { id: string }).id).toBe(keys[size - 1])
          expect(await storeErrors(registry)).toEqual({})

          // The breaker is closed: unrelated writes and invalidations go through.
          await cache.set('after', 'set works', { tags: ['t'] })
          expect(await cache.get('after')).toBe('set works')
          await cache.invalidateTags(['t'])
          expect(await cache.get('after')).toBeUndefined()
          expect(await storeErrors(registry)).toEqual({})
          await cache.close()
          await redis.raw.flushall()
        }, 180_000)
      }
    }
  }

  it('warm() of 100,000 keys: each loaded once, then served without a load', async () => {
    const registry = new Registry()
    const cache = createCache({
      name: 'batch',
      namespace: ns(),
      store: redisStore({ url: redis.server.url }),
      metrics: { registry },
      logger: false,
    })
    const keys = Array.from({ length: 100_000 }, (_, i) => `row:${i}`)
    let loaded = 0
    const loadMany = (missing: string[]) => {
      loaded += missing.length
      return new Map(missing.map((key) => [key, rowOf(key, 100)]))
    }
    expect(await cache.warm(keys, loadMany)).toEqual({ total: 100_000, loaded: 100_000, cached: 0 })
    expect(await cache.warm(keys, loadMany)).toEqual({ total: 100_000, loaded: 0, cached: 100_000 })
    expect(loaded).toBe(100_000)
    expect(await storeErrors(registry)).toEqual({})
    await cache.close()
    await redis.raw.flushall()
  }, 180_000)
})

describe('a key asked more than once in one wrapMany', () => {
  const redis = useRedis()

  for (const lock of [false, true]) {
    it(`is loaded once and written once, and every place it was asked gets its value${lock ? ' (lock: true)' : ''}`, async () => {
      const registry = new Registry()
      const cache = createCache({
        name: 'repeats',
        namespace: ns(),
        store: redisStore({ url: redis.server.url }),
        metrics: { registry },
        logger: false,
        lock,
      })
      const asked: string[][] = []
      const loadMany = (missing: string[]) => {
        asked.push(missing)
        return new Map(missing.map((key) => [key, { key }]))
      }
      const keys = ['a', 'b', 'a', 'c', 'b', 'a']
      expect(await cache.wrapMany(keys, loadMany)).toEqual(keys.map((key) => ({ key })))
      expect(asked).toEqual([['a', 'b', 'c']])
      const writes = await registry.getSingleMetric('corral_fenced_writes_total')?.get()
      expect(writes?.values.find((v) => v.labels.outcome === 'written')?.value).toBe(3)
      // Warm: read back in the asked order, no load; a key repeated around a miss still loads once.
      expect(await cache.wrapMany(keys, loadMany)).toEqual(keys.map((key) => ({ key })))
      expect(await cache.wrapMany(['d', 'a', 'd'], loadMany)).toEqual([{ key: 'd' }, { key: 'a' }, { key: 'd' }])
      expect(asked).toEqual([['a', 'b', 'c'], ['d']])
      await cache.close()
    })
  }
})

describe('a batch loader that answers something else than what was asked', () => {
  const redis = useRedis()

  const scenario = async (answer: (keys: string[]) => unknown) => {
    const namespace = ns()
    const cache = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false })
    await cache.set('kept', 'old value')
    const error = await cache
      .wrapMany(['kept', '1', '0', 'b'], (keys) => answer(keys) as Map<string, unknown>)
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      )
    // Nothing was written and nothing stored was lost: the keys stay cold, the stored one unchanged.
    const stored = await redis.raw.exists(`{${namespace}:1}`, `{${namespace}:0}`, `{${namespace}:b}`)
    const kept = await cache.get('kept')
    const after = await cache.wrapMany(['1', '0', 'b'], (keys) => new Map(keys.map((k) => [k, `v${k}`])))
    await cache.close()
    return { error, stored, kept, after }
  }

  it('an array is a typed error naming the problem; nothing is written', async () => {
    const { error, stored, kept, after } = await scenario((keys) => keys.map((k) => `v${k}`))
    expect(error).toBeInstanceOf(CorralError)
    expect(error).toBeInstanceOf(BatchResultError)
    expect((error as BatchResultError).code).toBe('CORRAL_BATCH_RESULT')
    expect(error?.message).toMatch(/array/)
    expect(stored).toBe(0)
    expect(kept).toBe('old value')
    expect(after).toEqual(['v1', 'v0', 'vb'])
  })

  it('a Map with a key that was not asked for is a typed error naming that key; nothing is written', async () => {
    const { error, stored, kept, after } = await scenario(
      (keys) => new Map([...keys.map((k) => [k, `v${k}`] as const), ['intruder', 'x']]),
    )
    expect(error).toBeInstanceOf(CorralError)
    expect(error).toBeInstanceOf(BatchResultError)
    expect((error as BatchResultError).unexpectedKeys).toEqual(['intruder'])
    expect(error?.message).toMatch(/intruder/)
    expect(stored).toBe(0)
    expect(kept).toBe('old value')
    expect(after).toEqual(['v1', 'v0', 'vb'])
  })

  it('a record with a key that was not asked for is a typed error naming that key; nothing is written', async () => {
    const { error, stored, kept, after } = await scenario((keys) => ({
      ...Object.fromEntries(keys.map((k) => [k, `v${k}`])),
      stranger: 'x',
    }))
    expect(error).toBeInstanceOf(CorralError)
    expect(error).toBeInstanceOf(BatchResultError)
    expect(error?.message).toMatch(/stranger/)
    expect(stored).toBe(0)
    expect(kept).toBe('old value')
    expect(after).toEqual(['v1', 'v0', 'vb'])
  })

  it('a primitive is a typed error too', async () => {
    const { error, stored } = await scenario(() => 42)
    expect(error).toBeInstanceOf(CorralError)
    expect(error).toBeInstanceOf(BatchResultError)
    expect(stored).toBe(0)
  })
})

describe('wrapMany on a Redis Cluster', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster(6)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('5,000 keys across slots, with lock: every entry written once (one script per slot group), then all served', async () => {
    const client = new Cluster(cluster.nodes, { redisOptions: { protocol: 2 } })
    const registry = new Registry()
    const cache = createCache({
      namespace: ns(),
      store: redisStore({ client }),
      lock: true,
      metrics: { registry },
      logger: false,
    })
    const keys = Array.from({ length: 5_000 }, (_, i) => `row:${i}`)
    let loaded = 0
    const loadMany = (missing: string[]) => {
      loaded += missing.length
      return new Map(missing.map((key) => [key, rowOf(key, 100)]))
    }
    const values = await cache.wrapMany(keys, loadMany)
    expect(values.filter((v, i) => (v as { id: string }).id === keys[i])).toHaveLength(keys.length)
    expect(loaded).toBe(keys.length)
    expect(await cache.wrapMany(keys, loadMany)).toHaveLength(keys.length)
    expect(loaded).toBe(keys.length)
    expect(await storeErrors(registry)).toEqual({})
    await cache.close()
    client.disconnect()
  }, 120_000)
})
