import { describe, expect, it } from 'vitest'
import { startFaultProxy } from '../harness/fault-proxy.ts'
import { subscribed } from '../harness/pubsub.ts'
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

/** Reads `key` through `cache` until its L1 tier keeps the copy (it does once it has read the generation). */
async function holding(cache: Cache, key: string, value: string): Promise<void> {
  await eventually(async () => {
    await cache.wrap(key, () => value)
    return cache.inspect().l1Entries > 0
  }, 2_000)
}

/**
 * Through a Redis outage, L1 keeps serving what it holds and what this process loads meanwhile,
 * and is reconciled once when Redis is back: copies of keys written meanwhile are dropped, the
 * others kept, and those Redis lost are written back (fenced) for the other processes.
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
  /** A reader with L1 behind a fault proxy, and a writer (as another process) straight on Redis. */
  const cutOffPair = async (namespace: string) => {
    const proxy = await startFaultProxy(redis.server.port)
    const reader = l1Cache(proxy.url, namespace)
    const writer = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false })
    const close = async () => {
      await reader.close()
      await writer.close()
      await proxy.close()
    }
    return { proxy, reader, writer, close }
  }

  it('keeps serving, loads each new key once, and keeps its copies when Redis comes back empty', async () => {
    const namespace = ns()
    const cache = l1Cache(redis.server.url, namespace)
    // The tier reads the namespace's generation once before it keeps copies.
    await holding(cache, 'k', 'v')
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

  it('writes back what it holds when Redis comes back empty, so another process reads it instead of loading', async () => {
    const namespace = ns()
    const cache = l1Cache(redis.server.url, namespace)
    const other = createCache({ namespace, store: redisStore({ url: redis.server.url }), lock: true, logger: false })
    try {
      await holding(cache, 'before', 'held')
      await redis.server.kill('SIGKILL')
      try {
        expect(await cache.wrap('during', () => 'loaded while down')).toBe('loaded while down')
      } finally {
        await redis.server.restart()
      }
      // Back and empty: once the tier has reconciled, both copies are in Redis again.
      const entries = [`{${namespace}:before}`, `{${namespace}:during}`]
      await eventually(async () => (await redis.raw.exists(...entries)) === 2, 5_000)
      const loader = counted((n) => `reloaded-${n}`)
      expect(await other.wrap('before', loader)).toBe('held')
      expect(await other.wrap('during', loader)).toBe('loaded while down')
      expect(loader.state.calls).toBe(0)
    } finally {
      await cache.close()
      await other.close()
    }
  })

  it('after Redis lost its data, keys written or deleted since keep what was written, and their copies go', async () => {
    const namespace = ns()
    const { proxy, reader, writer, close } = await cutOffPair(namespace)
    try {
      await holding(reader, 'kept', 'old kept')
      for (const key of ['rewritten', 'deleted', 'a', 'b', 'c']) await reader.wrap(key, () => `old ${key}`)
      proxy.set({ kind: 'blackhole' })
      // Cut off (its read times out), the reader loads a new key itself and keeps it.
      expect(await reader.wrap('cut off', () => 'loaded cut off')).toBe('loaded cut off')
      // Redis loses its data (the generation goes back to 0); then another process writes.
      await redis.raw.flushall()
      await writer.set('rewritten', 'new')
      await writer.delete('deleted')
      proxy.set({ kind: 'reset' })
      proxy.set({ kind: 'pass' })
      // Back in reach: copies the store has nothing of are written back...
      const back = [`{${namespace}:kept}`, `{${namespace}:cut off}`]
      await eventually(async () => (await redis.raw.exists(...back)) === 2, 5_000)
      // ...the others' writes stand (the write-back is fenced)...
      expect(await writer.get('rewritten')).toBe('new')
      expect(await writer.get('deleted')).toBeUndefined()
      // ...and only the copies of the keys written since were dropped.
      expect(reader.inspect().l1Entries).toBe(5)
      const loader = counted((n) => `reloaded-${n}`)
      expect(await reader.wrap('deleted', loader)).toBe('reloaded-1')
      expect(await reader.wrap('rewritten', loader)).toBe('new')
      expect(await reader.wrap('a', loader)).toBe('old a')
      expect(loader.state.calls).toBe(1)
    } finally {
      await close()
    }
  })

  it('until it can check what it missed, serves a copy only where Redis shows no write of the key (no fence)', async () => {
    const namespace = ns()
    const cache = l1Cache(redis.server.url, namespace)
    try {
      await holding(cache, 'untouched', 'held untouched')
      await cache.wrap('fenced', () => 'held fenced')
      // Redis loses its data; the generation cannot be read any more (a key of another type), so
      // once its subscriber drops, the tier cannot settle what it missed and asks Redis each time.
      await redis.raw.flushall()
      await redis.raw.hset(`{${namespace}:}:gen`, 'not', 'a counter')
      await redis.raw.set(`{${namespace}:fenced}:f`, String(Date.now()))
      await redis.raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
      await subscribed(redis.raw, namespace, 1)
      const loader = counted((n) => `reloaded-${n}`)
      // No entry and no fence: nothing wrote or deleted it since, so the copy stands.
      expect(await cache.wrap('untouched', loader)).toBe('held untouched')
      // A fence without an entry: a delete (or a write since gone): the copy is not served.
      expect(await cache.wrap('fenced', loader)).toBe('reloaded-1')
      expect(loader.state.calls).toBe(1)
    } finally {
      await cache.close()
    }
  })

  it('drops its copies once when a write it could not hear of happened while it was cut off', async () => {
    const namespace = ns()
    const { proxy, reader, writer, close } = await cutOffPair(namespace)
    try {
      await holding(reader, 'price', 'old')
      proxy.set({ kind: 'blackhole' })
      await writer.set('price', 'new')
      // Cut off, the reader keeps serving what it holds (it cannot know better yet).
      expect(await reader.wrap('price', () => 'loaded')).toBe('old')
      proxy.set({ kind: 'reset' })
      proxy.set({ kind: 'pass' })
      // Back in reach: the generation check finds the write it missed and drops that copy.
      const ms = await eventually(async () => (await reader.get('price')) === 'new', 5_000)
      expect(ms).toBeLessThan(3_000)
    } finally {
      await close()
    }
  })
})
