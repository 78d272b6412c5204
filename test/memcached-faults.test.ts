import { createServer, type Server, type Socket } from 'node:net'
import { MemcacheClient } from 'memcache-client'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { freePort } from '../harness/ports.ts'
import { createCache, memcachedStore } from '../src/index.ts'

const TIMEOUT = 200

/** Times one call. */
async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await call()
  return { value, ms: performance.now() - started }
}

/** A TCP server that accepts connections and never answers: a hung memcached. */
async function silentServer(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('memcached faults: wrap answers from the loader, bounded by the store timeout', () => {
  let server: MemcachedServer
  beforeAll(async () => {
    server = await startMemcached()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('nothing listening at start: every wrap answers from the loader at once, and set reports the outage', async () => {
    const port = await freePort()
    const cache = createCache({
      store: memcachedStore({ servers: [`127.0.0.1:${port}`], timeout: TIMEOUT }),
      logger: false,
    })
    for (let i = 0; i < 5; i++) {
      const { value, ms } = await timed(() => cache.wrap(`k${i}`, () => `loaded ${i}`))
      expect(value).toBe(`loaded ${i}`)
      expect(ms).toBeLessThan(2 * TIMEOUT + 1_000)
    }
    await expect(cache.set('k', 'v')).rejects.toMatchObject({ name: 'StoreUnavailableError' })
    await cache.close()
  })

  it('a server that accepts and never answers: wraps answer within the timeout, then the breaker answers them at once', async () => {
    const hung = await silentServer()
    const registry = new Registry()
    const cache = createCache({
      store: memcachedStore({ servers: [hung.address], timeout: TIMEOUT, breaker: { failures: 2, cooldown: 60_000 } }),
      logger: false,
      metrics: { registry },
    })
    const first = await timed(() => cache.wrap('a', () => 'A'))
    expect(first.value).toBe('A')
    expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT - 20) // it did wait for the store ...
    expect(first.ms).toBeLessThan(2 * TIMEOUT + 1_000) // ... but no longer than its timeout per command
    const later = await timed(() => cache.wrap('b', () => 'B'))
    expect(later.value).toBe('B')
    expect(later.ms).toBeLessThan(TIMEOUT) // breaker open: no command is sent
    expect(await registry.metrics()).toMatch(/corral_breaker_state\{[^}]*store="memcached"[^}]*\} 2/)
    await cache.close()
    await hung.close()
  })

  it("a client you pass, on a server that never answers: corral's own timer bounds each command", async () => {
    const hung = await silentServer()
    const client = new MemcacheClient({ server: hung.address }) // its own command timeout is 5 s
    const cache = createCache({ store: memcachedStore({ client, timeout: TIMEOUT, breaker: false }), logger: false })
    const { value, ms } = await timed(() => cache.wrap('a', () => 'A'))
    expect(value).toBe('A')
    expect(ms).toBeLessThan(2 * TIMEOUT + 1_000)
    await cache.close()
    client.shutdown()
    await hung.close()
  })

  it('memcached paused (SIGSTOP) mid-traffic, then resumed: no caller hangs, and hits come back', async () => {
    const cache = createCache({
      store: memcachedStore({ servers: [server.address], timeout: TIMEOUT, breaker: { failures: 3, cooldown: 300 } }),
      logger: false,
    })
    let loads = 0
    const load = (key: string) => () => {
      loads += 1
      return `value of ${key}`
    }
    const keys = ['p1', 'p2', 'p3']
    for (const key of keys) await cache.wrap(key, load(key))
    const warm = loads
    for (const key of keys) expect(await cache.wrap(key, load(key))).toBe(`value of ${key}`)
    expect(loads).toBe(warm) // hits

    server.pause()
    let slowest = 0
    try {
      for (let round = 0; round < 6; round++) {
        for (const key of keys) {
          const { value, ms } = await timed(() => cache.wrap(key, load(key)))
          expect(value).toBe(`value of ${key}`)
          slowest = Math.max(slowest, ms)
        }
      }
    } finally {
      server.resume()
    }
    expect(loads).toBeGreaterThan(warm) // answered from the loader while paused
    expect(slowest).toBeLessThan(2 * TIMEOUT + 1_000)

    // After the cooldown a probe finds it answering again, and the cache serves hits again.
    const until = Date.now() + 10_000
    let hitsBack = false
    while (!hitsBack && Date.now() < until) {
      const before = loads
      for (const key of keys) await cache.wrap(key, load(key))
      hitsBack = loads === before
      if (!hitsBack) await new Promise((r) => setTimeout(r, 100))
    }
    expect(hitsBack).toBe(true)
    await cache.close()
  }, 30_000)

  it('memcached killed and restarted mid-traffic: callers keep getting values, and the cache refills', async () => {
    const cache = createCache({
      store: memcachedStore({ servers: [server.address], timeout: TIMEOUT, breaker: { failures: 3, cooldown: 200 } }),
      logger: false,
    })
    let loads = 0
    let stop = false
    const results: string[] = []
    let slowest = 0
    const traffic = (async () => {
      let i = 0
      while (!stop) {
        const key = `r${i++ % 5}`
        const { value, ms } = await timed(() =>
          cache.wrap(key, () => {
            loads += 1
            return `value of ${key}`
          }),
        )
        results.push(value === `value of ${key}` ? 'right' : 'wrong')
        slowest = Math.max(slowest, ms)
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    const waitFor = async (n: number) => {
      const until = Date.now() + 10_000
      while (results.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    }
    await waitFor(20)
    await server.kill('SIGKILL')
    const atKill = results.length
    await waitFor(atKill + 20)
    await server.restart()
    const atRestart = results.length
    await waitFor(atRestart + 20)
    // Once refilled, loads stop growing: the restarted server serves hits again.
    const until = Date.now() + 10_000
    let steady = false
    while (!steady && Date.now() < until) {
      const before = loads
      await new Promise((r) => setTimeout(r, 300))
      steady = loads === before
    }
    stop = true
    await traffic
    expect(results.length).toBeGreaterThan(atRestart)
    expect(results.every((r) => r === 'right')).toBe(true)
    expect(slowest).toBeLessThan(2 * TIMEOUT + 1_000)
    expect(steady).toBe(true)
    await cache.close()
  }, 40_000)
})
