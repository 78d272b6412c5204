import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../harness/barrier.ts'
import { type Fault, type FaultProxy, startFaultProxy } from '../harness/fault-proxy.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { countingLoader, sleep } from '../harness/stores.ts'
import { createCache, OriginTimeoutError, redisStore } from '../src/index.ts'

const STORE_TIMEOUT = 150

describe.each([
  ['latency (1 s per chunk)', { kind: 'latency', ms: 1_000 }],
  ['blackhole', { kind: 'blackhole' }],
  ['connection resets', { kind: 'reset' }],
] as [string, Fault][])('Redis behind a fault proxy: %s', (_name, fault) => {
  let redis: RedisServer
  let proxy: FaultProxy
  let raw: Redis
  beforeAll(async () => {
    redis = await startRedis()
    proxy = await startFaultProxy(redis.port)
    raw = new Redis(redis.url, { protocol: 2 })
  })
  afterAll(async () => {
    raw.disconnect()
    await proxy.close()
    await redis.stop()
  })

  it('wrap answers from the loader within the store timeout, the breaker stops paying it, and all recovers', async () => {
    const registry = new Registry()
    const namespace = `fault-${fault.kind}`
    const cache = createCache({
      name: 'fault',
      namespace,
      store: redisStore({ url: proxy.url, timeout: STORE_TIMEOUT, breaker: { failures: 3, cooldown: 2_000 } }),
      lock: true,
      logger: false,
      metrics: { registry },
    })
    const loader = countingLoader((n) => `v${n}`, 5)
    expect(await cache.wrap('warm', loader)).toBe('v1')

    proxy.set(fault)
    const errors: unknown[] = []
    const timed = async (key: string) => {
      const t = performance.now()
      await cache.wrap(key, loader).catch((e) => errors.push(e))
      return performance.now() - t
    }
    // The first few pay the store timeout (a get, maybe a lock attempt); then the breaker opens.
    const burstStarted = performance.now()
    const first = await Promise.all(
      Array.from({ length: 30 }, () => cache.wrap('burst', loader).catch((e) => errors.push(e))),
    )
    const burstMs = performance.now() - burstStarted
    expect(new Set(first).size).toBe(1) // 30 concurrent callers still shared one load
    expect(burstMs).toBeLessThan(STORE_TIMEOUT * 4 + 200)
    const slowest = Math.max(await timed('a'), await timed('b'), await timed('c'))
    expect(slowest).toBeLessThan(STORE_TIMEOUT * 4 + 200)
    // The breaker is open: the next wraps send Redis nothing at all, so they wait for nothing.
    const sentBefore = proxy.sent
    const fastAfterOpen: number[] = []
    for (let i = 0; i < 20; i++) fastAfterOpen.push(await timed(`open${i}`))
    expect(proxy.sent).toBe(sentBefore)
    expect(errors).toEqual([])

    proxy.set({ kind: 'pass' })
    const healed = performance.now()
    // After the cooldown a probe goes through; writes land in Redis again without any help.
    let stored: string | null = null
    for (let i = 0; i < 60 && !stored; i++) {
      await sleep(100)
      await cache.wrap('recovered', loader).catch((e) => errors.push(e))
      stored = await raw.get(`{${namespace}:recovered}`)
    }
    expect(stored).not.toBeNull()
    expect(errors).toEqual([])
    console.log(
      `fault ${fault.kind}: 30 concurrent wraps while the breaker was closed ${Math.round(burstMs)} ms, ` +
        `next 3 ${Math.round(slowest)} ms, ` +
        `slowest after ${Math.max(...fastAfterOpen).toFixed(1)} ms, writes back ${Math.round(performance.now() - healed)} ms after the fault lifted, ` +
        `loader calls ${loader.state.calls}, caller errors ${errors.length}`,
    )
    const storeErrors = await registry.getSingleMetricAsString('corral_store_errors_total')
    expect(storeErrors).toMatch(/op="get"/)
    await cache.close()
  }, 30_000)
})

describe('origin faults', () => {
  it('a dead origin is not hammered: errorTtl answers from the last error, then tries again', async () => {
    const cache = createCache({ errorTtl: '2s', logger: false })
    let calls = 0
    const dead = async () => {
      calls += 1
      throw new Error(`connection refused #${calls}`)
    }
    await expect(cache.wrap('k', dead)).rejects.toThrow('connection refused #1')
    // Within errorTtl every request gets the last error; the origin is not called again.
    const during = await Promise.allSettled(Array.from({ length: 200 }, () => cache.wrap('k', dead)))
    expect(
      during.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'connection refused #1'),
    ).toBe(true)
    expect(calls).toBe(1)
    await sleep(2_100) // errorTtl runs out
    await expect(cache.wrap('k', dead)).rejects.toThrow('connection refused #2')
    expect(calls).toBe(2)
    await cache.close()
  })

  it('a failing origin with a graced value is called once per failSafeThrottle', async () => {
    const cache = createCache({ ttl: 50, grace: '1m', failSafeThrottle: '2s', earlyRefresh: false, logger: false })
    let fail = false
    let calls = 0
    const loader = async () => {
      calls += 1
      if (fail) throw new Error('db down')
      return 'good'
    }
    await cache.wrap('k', loader)
    fail = true
    await sleep(60) // the value goes stale
    calls = 0
    // The first stale read refreshes in the background; the refresh fails and the stale value is
    // kept for failSafeThrottle: 200 reads meanwhile are served without calling the origin.
    expect(await cache.wrap('k', loader, { timeout: { soft: '5s' } })).toBe('good')
    expect(calls).toBe(1)
    for (let i = 0; i < 200; i++) expect(await cache.wrap('k', loader)).toBe('good')
    expect(calls).toBe(1)
    await sleep(2_100) // the throttle runs out
    expect(await cache.wrap('k', loader)).toBe('good')
    await until('the origin is tried again', () => calls === 2)
    await cache.close()
  })

  it('hard timeouts: an OriginTimeoutError without a graced value, the graced value with one', async () => {
    const cache = createCache({ ttl: 50, grace: '1m', earlyRefresh: false, logger: false })
    const hang = () => new Promise<string>(() => {})
    await expect(cache.wrap('cold', hang, { timeout: { hard: 100 } })).rejects.toBeInstanceOf(OriginTimeoutError)
    await cache.wrap('warm', async () => 'old')
    await sleep(60)
    const t = performance.now()
    expect(await cache.wrap('warm', hang, { timeout: { soft: 100, hard: 100 } })).toBe('old')
    expect(performance.now() - t).toBeLessThan(500)
    await cache.close()
  })
})

describe('a Redlock quorum that loses its majority', () => {
  let nodes: RedisServer[]
  beforeAll(async () => {
    nodes = await Promise.all([startRedis(), startRedis(), startRedis()])
  })
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('with 2 of 3 nodes down falls back to in-process coalescing and counts it', async () => {
    const registry = new Registry()
    const clients = nodes.map(
      (n) => new Redis(n.url, { protocol: 2, enableOfflineQueue: false, maxRetriesPerRequest: 0 }),
    )
    for (const c of clients) c.on('error', () => {})
    const cache = createCache({
      name: 'quorum',
      store: redisStore({ client: clients[0] as Redis }),
      lock: { clients },
      logger: false,
      metrics: { registry },
    })
    await nodes[1]?.kill('SIGKILL')
    await nodes[2]?.kill('SIGKILL')
    await sleep(100)
    const loader = countingLoader(() => 'value', 50)
    const values = await Promise.all(Array.from({ length: 100 }, () => cache.wrap('k', loader)))
    expect(values.every((v) => v === 'value')).toBe(true)
    expect(loader.state.calls).toBe(1)
    expect(await registry.getSingleMetricAsString('corral_lock_total')).toMatch(/outcome="error"\} 1/)
    await cache.close()
    for (const c of clients) c.disconnect()
    await nodes[1]?.restart()
    await nodes[2]?.restart()
  })
})
