import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Worker } from '../harness/child.ts'
import { ask, burst, startFleet as startFleetOf, stopFleet } from '../harness/fleet.ts'
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../harness/redis-server.ts'

type Message = {
  pid: number
  id?: number
  event?: string
  key?: string
  loads?: number
  counts?: Record<string, number>
  value?: string
  slowest?: number
  reads?: number
  slow?: number
}
const WORKER = new URL('./fixtures/fleet-worker.ts', import.meta.url).pathname

let nsCounter = 0
const namespace = () => `fleet${process.pid}-${++nsCounter}`
const startFleet = (n: number, config: object) => startFleetOf<Message>(WORKER, n, config)

const keys = Array.from({ length: 12 }, (_, i) => `item:${i}`)

describe('one load per key across a fleet of processes', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis.stop()
  })

  it('6 processes x 40 callers x 12 cold keys: 12 loads with lock, one per process and key without', async () => {
    const locked = await startFleet(6, { url: redis.url, lock: true, namespace: namespace() })
    const withLock = await burst(locked, keys, 40)
    await stopFleet(locked)
    expect(withLock.counts).toEqual({ right: 6 * 40 * keys.length })
    expect(withLock.loads).toBe(keys.length)

    const unlocked = await startFleet(6, { url: redis.url, lock: false, namespace: namespace() })
    const without = await burst(unlocked, keys, 40)
    await stopFleet(unlocked)
    expect(without.counts).toEqual({ right: 6 * 40 * keys.length })
    expect(without.loads).toBeGreaterThan(keys.length)
  }, 60_000)

  it('a loader error in the winner reaches waiters in other processes without each calling the origin', async () => {
    const fleet = await startFleet(4, { url: redis.url, lock: true, namespace: namespace() })
    const result = await burst(fleet, ['failing'], 25, { fail: true })
    await stopFleet(fleet)
    expect(result.loads).toBe(1)
    expect(Object.keys(result.counts).every((k) => k.startsWith('error:'))).toBe(true)
    expect(Object.values(result.counts).reduce((a, b) => a + b, 0)).toBe(100)
  }, 60_000)

  it('a lock holder SIGKILLed mid-load: another process takes over after the lock ttl, 2 loads in all', async () => {
    const ns = namespace()
    const [holder] = await startFleet(1, { url: redis.url, lock: { ttl: 800, wait: 10_000 }, namespace: ns })
    const others = await startFleet(4, { url: redis.url, lock: { ttl: 800, wait: 10_000 }, namespace: ns })
    holder?.send({ id: 0, op: 'wrap', key: 'k', loaderMs: 60_000, value: 'never' })
    await holder?.waitFor((m) => m.event === 'loading')
    const started = Date.now()
    const waiting = others.map((w) => ask(w, { op: 'burst', keys: ['k'], callers: 20, at: 0, loaderMs: 100 }, 20_000))
    await new Promise((r) => setTimeout(r, 200))
    await holder?.kill('SIGKILL')
    const replies = await Promise.all(waiting)
    const elapsed = Date.now() - started
    await stopFleet(others)
    expect(replies.every((r) => r.counts?.right === 20)).toBe(true)
    expect(replies.reduce((sum, r) => sum + (r.loads ?? 0), 0)).toBe(1) // + the dead holder's = 2
    expect(elapsed).toBeGreaterThanOrEqual(500)
  }, 60_000)

  it('a holder paused past its lock ttl cannot overwrite the value written by the process that took over', async () => {
    const ns = namespace()
    const config = { url: redis.url, lock: { ttl: 400, wait: 5_000 }, namespace: ns }
    const [paused, other] = await startFleet(2, config)
    if (!paused || !other) throw new Error('fleet did not start')
    const pausedReply = ask(paused, { op: 'wrap', key: 'k', loaderMs: 300, value: 'old' })
    await paused.waitFor((m) => m.event === 'loading')
    paused.child.kill('SIGSTOP')
    await new Promise((r) => setTimeout(r, 700)) // lock expires: no one extends it
    const otherReply = await ask(other, { op: 'wrap', key: 'k', loaderMs: 10, value: 'new' })
    expect(otherReply.value).toBe('new')
    paused.child.kill('SIGCONT')
    expect((await pausedReply).value).toBe('old')
    const raw = new Redis(redis.url, { protocol: 2 })
    const stored = await raw.get(`{${ns}:k}`)
    raw.disconnect()
    expect(stored?.endsWith('new')).toBe(true)
    await stopFleet([paused, other])
  }, 30_000)

  it('early refresh across 4 processes under steady reads: about one refresh per ttl, not one per process', async () => {
    const run = async (lock: boolean) => {
      const fleet = await startFleet(4, {
        url: redis.url,
        lock,
        namespace: namespace(),
        ttl: 1_000,
        earlyRefresh: { beta: 1 },
      })
      const first = await ask(fleet[0] as Worker<Message>, { op: 'wrap', key: 'hot', loaderMs: 40, value: 'v0' })
      const replies = await Promise.all(
        fleet.map((w) => ask(w, { op: 'reads', key: 'hot', everyMs: 5, forMs: 4_000, loaderMs: 40 })),
      )
      await stopFleet(fleet)
      return {
        loads: replies.reduce((sum, r) => sum + (r.loads ?? 0), 0) - (first.loads ?? 0),
        reads: replies.reduce((sum, r) => sum + (r.reads ?? 0), 0),
        slow: replies.reduce((sum, r) => sum + (r.slow ?? 0), 0),
        slowest: Math.max(...replies.map((r) => r.slowest ?? 0)),
      }
    }
    const locked = await run(true)
    const unlocked = await run(false)
    // 4 s of reads over a 1 s ttl: about 4 refreshes with the lock; each process refreshes on its own without it.
    console.log('early refresh, 4 processes x 4 s, ttl 1 s:', { locked, unlocked })
    expect(locked.loads).toBeGreaterThanOrEqual(3)
    expect(locked.loads).toBeLessThanOrEqual(7)
    // Without the lock every process may refresh the same window: 4 to 9 refreshes from run to run,
    // sometimes as few as with it, so the contrast is printed above rather than asserted.
    expect(unlocked.loads).toBeGreaterThanOrEqual(3)
    // No read waits for a refresh. Readers that did would wait on each of the ~4 refreshes, about
    // 1 read in 25; a busy machine stalls a read now and then, far fewer than that.
    expect(locked.reads).toBeGreaterThan(400)
    expect(locked.slow / locked.reads).toBeLessThan(0.02)
  }, 60_000)
})

describe('fleet coalescing on a Redlock quorum and on a Redis Cluster', () => {
  let nodes: RedisServer[] = []
  let cluster: RedisCluster
  beforeAll(async () => {
    nodes = await Promise.all([startRedis(), startRedis(), startRedis()])
    cluster = await startRedisCluster(6)
  }, 60_000)
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await cluster?.stop()
  })

  it('quorum of 3 independent nodes: one load per key', async () => {
    const urls = nodes.map((n) => n.url)
    const fleet = await startFleet(6, { url: urls[0], lockUrls: urls, lock: true, namespace: namespace() })
    const result = await burst(fleet, keys, 30)
    await stopFleet(fleet)
    expect(result.counts).toEqual({ right: 6 * 30 * keys.length })
    expect(result.loads).toBe(keys.length)
  }, 60_000)

  it('quorum with 1 of 3 nodes down still coalesces', async () => {
    const urls = nodes.map((n) => n.url)
    await nodes[2]?.kill('SIGKILL')
    const fleet = await startFleet(4, { url: urls[0], lockUrls: urls, lock: true, namespace: namespace() })
    const result = await burst(fleet, keys.slice(0, 4), 20)
    await stopFleet(fleet)
    await nodes[2]?.restart()
    expect(result.counts).toEqual({ right: 4 * 20 * 4 })
    expect(result.loads).toBe(4)
  }, 60_000)

  it('6-node Redis Cluster as the store: one load per key', async () => {
    const fleet = await startFleet(6, { cluster: cluster.nodes, lock: true, namespace: namespace() })
    const result = await burst(fleet, keys, 30)
    await stopFleet(fleet)
    expect(result.counts).toEqual({ right: 6 * 30 * keys.length })
    expect(result.loads).toBe(keys.length)
  }, 60_000)
})
