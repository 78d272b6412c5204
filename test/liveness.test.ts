import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy.ts'
import { freePort } from '../harness/ports.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'
import { FIRST_CONNECT_MIN_MS } from '../src/redis/client.ts'

/**
 * Every Redis interaction is bounded: with Redis down at start, paused (SIGSTOP) or blackholed,
 * `wrap` with `lock: true` answers within 2 x the store timeout plus the loader's time, with the
 * clients corral opens and with a client passed in with ioredis's defaults (offline queue on,
 * 20 retries per request, no command timeout).
 */
const TIMEOUT = 200
const LOADER_MS = 50
/** Scheduling on this shared 2-core machine; the bound itself is 2 x TIMEOUT + the loader's time. */
const SLACK = 250
const BOUND = 2 * TIMEOUT + LOADER_MS + SLACK

type Kind = 'owned' | 'passed'
const kinds: Kind[] = ['owned', 'passed']

const passedClients: Redis[] = []
const caches: Cache[] = []

function cacheOn(url: string, kind: Kind, namespace: string): Cache {
  let store: ReturnType<typeof redisStore>
  if (kind === 'passed') {
    const client = new Redis(url, { protocol: 2 })
    client.on('error', () => {})
    passedClients.push(client)
    store = redisStore({ client, timeout: TIMEOUT })
  } else store = redisStore({ url, timeout: TIMEOUT })
  const cache = createCache({ namespace, store, lock: true, logger: false })
  caches.push(cache)
  return cache
}

const slowLoader = (value: string) => () =>
  new Promise<string>((resolve) => setTimeout(() => resolve(value), LOADER_MS))

/** How long `promise` took to settle (ms), or Infinity if it did not within `capMs`. */
async function settleTime(promise: Promise<unknown>, capMs = 5_000): Promise<number> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), capMs)
    }),
  ])
  clearTimeout(timer)
  return settled ? performance.now() - started : Number.POSITIVE_INFINITY
}

afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()))
  for (const c of passedClients.splice(0)) c.disconnect()
})

describe.each(kinds)('wrap with lock: true stays bounded (%s client)', (kind) => {
  let redis: RedisServer
  let proxy: FaultProxy
  beforeAll(async () => {
    redis = await startRedis()
    proxy = await startFaultProxy(redis.port)
  })
  afterAll(async () => {
    await proxy.close()
    await redis.stop()
  })

  it('Redis unreachable when the process starts', async () => {
    const nobody = `redis://127.0.0.1:${await freePort()}`
    const cache = cacheOn(nobody, kind, 'down')
    const call = cache.wrap('k', slowLoader('from origin'))
    expect(await settleTime(call)).toBeLessThan(BOUND)
    expect(await call).toBe('from origin')
    // And the next call does not pay the wait again.
    expect(await settleTime(cache.wrap('k2', slowLoader('again')))).toBeLessThan(BOUND)
  })

  it('Redis paused (SIGSTOP) while the lock holder loads', async () => {
    const cache = cacheOn(redis.url, kind, `paused-${kind}`)
    await cache.wrap('warm', () => 'warm')
    const pid = redis.pid as number
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    let started: () => void = () => {}
    const loading = new Promise<void>((resolve) => (started = resolve))
    const call = cache.wrap('k', async () => {
      started()
      await gate
      return 'loaded'
    })
    await loading
    process.kill(pid, 'SIGSTOP')
    try {
      release()
      // From the loader's end: commit, lock release and publish must each give up in time.
      expect(await settleTime(call)).toBeLessThan(BOUND)
      expect(await call).toBe('loaded')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
  })

  it('Redis paused while another process waits on the lock', async () => {
    const holder = cacheOn(redis.url, kind, `waiter-${kind}`)
    const waiter = cacheOn(redis.url, kind, `waiter-${kind}`)
    await holder.wrap('warm', () => 'warm')
    await waiter.wrap('warm', () => 'warm')
    const pid = redis.pid as number
    let started: () => void = () => {}
    const loading = new Promise<void>((resolve) => (started = resolve))
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const held = holder.wrap('k', async () => {
      started()
      await gate
      return 'holder'
    })
    await loading
    const waiting = waiter.wrap('k', slowLoader('waiter'))
    process.kill(pid, 'SIGSTOP')
    try {
      // The waiter gives up on Redis within its timeouts and loads itself (lock.wait is 3 s).
      expect(await settleTime(waiting)).toBeLessThan(BOUND)
    } finally {
      process.kill(pid, 'SIGCONT')
      release()
      await held
    }
  })

  it('Redis blackholed (fault proxy): connections open, nothing answers', async () => {
    const cache = cacheOn(proxy.url, kind, `blackhole-${kind}`)
    await cache.wrap('warm', () => 'warm')
    proxy.set({ kind: 'blackhole' })
    try {
      const call = cache.wrap('cold', slowLoader('from origin'))
      expect(await settleTime(call)).toBeLessThan(BOUND)
      expect(await call).toBe('from origin')
    } finally {
      proxy.set({ kind: 'pass' })
    }
  })
})

describe.each(kinds)('a stall of this process is not Redis being slow (%s client)', (kind) => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis.stop()
  })

  /**
   * Reads 'k' through `cache` (the read is sent, or starts waiting for the connection, in this
   * call), then holds the event loop for `blockMs`: what the read answered, how many loads it
   * made and the errors the cache reported meanwhile.
   */
  async function readThroughStall(cache: Cache, blockMs: number) {
    const errors: unknown[] = []
    const onError = (event: unknown) => errors.push(event)
    subscribe('corral:error', onError)
    let loads = 0
    const read = cache.wrap('k', () => {
      loads += 1
      return 'from origin'
    })
    const until = performance.now() + blockMs
    while (performance.now() < until) {}
    try {
      return { value: await read, loads, errors }
    } finally {
      unsubscribe('corral:error', onError)
    }
  }

  it('a read sent before the event loop was blocked past the timeout is answered from Redis', async () => {
    const cache = cacheOn(redis.url, kind, `stall-${kind}`)
    await cache.wrap('k', () => 'stored')
    // The GET leaves in the call (a connected client, the tick's first command); Redis answers
    // while the loop is held for twice the store timeout.
    expect(await readThroughStall(cache, 2 * TIMEOUT)).toEqual({ value: 'stored', loads: 0, errors: [] })
  })

  it('a client that connected while the event loop was blocked past its connect budget answers the first read from Redis', async () => {
    const writer = cacheOn(redis.url, kind, `first-${kind}`)
    await writer.wrap('k', () => 'stored')
    // A second cache on the namespace: its connection is still being made when the read starts
    // waiting for it, and the loop is then held for twice the first connection's budget.
    const reader = cacheOn(redis.url, kind, `first-${kind}`)
    expect(await readThroughStall(reader, 2 * Math.max(FIRST_CONNECT_MIN_MS, TIMEOUT))).toEqual({
      value: 'stored',
      loads: 0,
      errors: [],
    })
  })

  it('after thousands of answered commands, a paused Redis still fails the next read within the bound', async () => {
    const cache = cacheOn(redis.url, kind, `many-${kind}`)
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
    await Promise.all(keys.map((key) => cache.wrap(key, () => 'stored')))
    // 3,000 answered reads: enough that the connection's record of sent commands is cut down meanwhile.
    for (let round = 0; round < 10; round++) {
      const values = await Promise.all(keys.map((key) => cache.wrap(key, () => 'from origin')))
      expect(values.every((v) => v === 'stored')).toBe(true)
    }
    const pid = redis.pid as number
    process.kill(pid, 'SIGSTOP')
    try {
      const read = cache.wrap('k', slowLoader('from origin'))
      expect(await settleTime(read)).toBeLessThan(BOUND)
      expect(await read).toBe('from origin')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
  })
})
