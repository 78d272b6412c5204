import { describe, expect, it } from 'vitest'
import { startFaultProxy } from '../harness/fault-proxy.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'

let counter = 0
const ns = () => `outage${process.pid}-${++counter}`

/** A loader that counts its calls. */
function counted(value: (n: number) => string) {
  const state = { calls: 0 }
  const loader = () => {
    state.calls += 1
    return value(state.calls)
  }
  return Object.assign(loader, { state })
}

/** Waits until `check` holds, polling every 20 ms; fails after `limitMs`. */
async function eventually(check: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < limitMs) {
    if (await check()) return performance.now() - started
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`not within ${limitMs} ms`)
}

/**
 * Through a Redis outage, L1 keeps serving what it holds and what this process loads meanwhile,
 * and is reconciled once when Redis is back: kept if no write was missed, dropped if one was.
 */
describe('L1 through a Redis outage', () => {
  const redis = useRedis()
  const l1Cache = (url: string, namespace: string): Cache =>
    createCache({
      namespace,
      store: redisStore({ url, timeout: 200 }),
      l1: { maxEntries: 100, verifyAfter: 200 },
      lock: true,
      ttl: '1h',
      logger: false,
    })

  it('keeps serving, loads each new key once, and keeps its copies when Redis comes back empty', async () => {
    const namespace = ns()
    const cache = l1Cache(redis.server.url, namespace)
    // The tier reads the namespace's generation once before it keeps copies.
    await eventually(async () => {
      await cache.wrap('k', () => 'v')
      return cache.inspect().l1Entries > 0
    }, 2_000)
    const loader = counted((n) => `loaded-${n}`)
    await redis.server.kill('SIGKILL')
    try {
      expect(await cache.wrap('k', loader)).toBe('v')
      expect(await cache.wrap('during', loader)).toBe('loaded-1')
      expect(await cache.wrap('during', loader)).toBe('loaded-1')
      expect(await cache.get('k')).toBe('v')
      expect(loader.state.calls).toBe(1)
    } finally {
      await redis.server.restart()
    }
    // Back, and empty: once the tier has checked the generation again, nothing written was
    // missed, so the copies stay (served again without a reload of `k`).
    await eventually(async () => (await cache.get('k')) === 'v', 3_000)
    expect(await cache.wrap('k', loader)).toBe('v')
    expect(loader.state.calls).toBe(1)
    await cache.close()
  })

  it('drops its copies once when a write it could not hear of happened while it was cut off', async () => {
    const namespace = ns()
    const proxy = await startFaultProxy(redis.server.port)
    const reader = l1Cache(proxy.url, namespace)
    const writer = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false })
    try {
      await eventually(async () => {
        await reader.wrap('price', () => 'old')
        return reader.inspect().l1Entries > 0
      }, 2_000)
      proxy.set({ kind: 'blackhole' })
      await writer.set('price', 'new')
      // Cut off, the reader keeps serving what it holds (it cannot know better yet).
      expect(await reader.wrap('price', () => 'loaded')).toBe('old')
      proxy.set({ kind: 'reset' })
      proxy.set({ kind: 'pass' })
      // Back in reach: the generation check finds the write it missed and drops the tier.
      const ms = await eventually(async () => (await reader.get('price')) === 'new', 5_000)
      expect(ms).toBeLessThan(3_000)
    } finally {
      await reader.close()
      await writer.close()
      await proxy.close()
    }
  })
})
