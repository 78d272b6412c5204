import { MemcacheClient } from 'memcache-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { silentChannel } from '../src/coordination-local.ts'
import { CorralConfigError, jsonSerializer, MemcachedStore, RemoteLoaderError } from '../src/index.ts'
import { silentLogger } from '../src/logger.ts'
import { itemKey } from '../src/memcached/keys.ts'
import { MemcachedLock } from '../src/memcached/lock.ts'
import { noMetrics } from '../src/metrics.ts'

const context = { serializer: jsonSerializer, logger: silentLogger, channelName: 'corral:test' }
let n = 0
const fresh = () => `lock:${process.pid}:${++n}`

describe('the Memcached lock (two stores stand for two processes)', () => {
  let server: MemcachedServer
  let a: MemcachedStore
  let b: MemcachedStore
  let raw: MemcacheClient
  const lockOn = (store: MemcachedStore, ttlMs = 2_000, metrics = noMetrics) =>
    new MemcachedLock({ store, ttlMs, waitMs: 5_000, channel: silentChannel, metrics, logger: silentLogger })
  /** A lock whose `contended` resolves once it found the lock held and began to poll. */
  const waiterOn = (store: MemcachedStore) => {
    let heard: () => void = () => {}
    const contended = new Promise<void>((resolve) => (heard = resolve))
    const metrics = { ...noMetrics, lock: (outcome: string) => outcome === 'contended' && heard() }
    return { lock: lockOn(store, 2_000, metrics as typeof noMetrics), contended }
  }
  beforeAll(async () => {
    server = await startMemcached()
    a = new MemcachedStore({ servers: [server.address] }, context)
    b = new MemcachedStore({ servers: [server.address] }, context)
    raw = new MemcacheClient({ server: server.address })
  })
  afterAll(async () => {
    raw?.shutdown()
    await a?.close()
    await b?.close()
    await server?.stop()
  })

  it('one leads; a waiter hears "ready" once the holder succeeds, and a refresh in try mode skips', async () => {
    const key = fresh()
    const first = await lockOn(a).coordinate(key, 'wait', Date.now() + 5_000)
    expect(first.kind).toBe('lead')
    expect((await lockOn(b).coordinate(key, 'try', Date.now() + 5_000)).kind).toBe('skip')
    const waiter = waiterOn(b)
    const waiting = waiter.lock.coordinate(key, 'wait', Date.now() + 5_000)
    let settled = false
    void waiting.then(() => {
      settled = true
    })
    // The waiter is polling a held lock: it has not settled while the holder works.
    await waiter.contended
    expect(settled).toBe(false)
    if (first.kind === 'lead') await first.lease.succeed(true)
    expect((await waiting).kind).toBe('ready')
    // The next load takes the lock over the released mark at once.
    expect((await lockOn(b).coordinate(key, 'wait', Date.now() + 5_000)).kind).toBe('lead')
  })

  it("a holder's failure reaches the waiter as a RemoteLoaderError", async () => {
    const key = fresh()
    const first = await lockOn(a).coordinate(key, 'wait', Date.now() + 5_000)
    const waiter = waiterOn(b)
    const waiting = waiter.lock.coordinate(key, 'wait', Date.now() + 5_000)
    await waiter.contended
    if (first.kind === 'lead') await first.lease.fail(new TypeError('origin down'))
    const outcome = await waiting
    expect(outcome.kind).toBe('failed')
    if (outcome.kind === 'failed') {
      expect(outcome.error).toBeInstanceOf(RemoteLoaderError)
      expect(outcome.error.message).toContain('TypeError: origin down')
    }
    // A caller arriving while the failure mark stands gets the error too, without loading.
    const late = await lockOn(b).coordinate(key, 'wait', Date.now() + 5_000)
    expect(late.kind).toBe('failed')
  })

  it('only the owner releases: a lock taken over by another owner survives the old owner’s release', async () => {
    const key = fresh()
    const first = await lockOn(a).coordinate(key, 'wait', Date.now() + 5_000)
    // As if the lock had expired and another process had taken it.
    await raw.set(itemKey('lock', key), Buffer.from('Hsomeone-else'), { lifetime: 10 })
    if (first.kind === 'lead') await first.lease.release()
    expect((await raw.get<Buffer>(itemKey('lock', key)))?.value.toString()).toBe('Hsomeone-else')
    expect((await lockOn(b).coordinate(key, 'try', Date.now() + 5_000)).kind).toBe('skip')
  })

  it('a waiter stops at its deadline with a timeout', async () => {
    const key = fresh()
    await lockOn(a).coordinate(key, 'wait', Date.now() + 5_000)
    const started = Date.now()
    const outcome = await lockOn(b).coordinate(key, 'wait', Date.now() + 300)
    expect(outcome.kind).toBe('timeout')
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('an expired lock (its holder gone) is taken over', async () => {
    const key = fresh()
    await raw.set(itemKey('lock', key), Buffer.from('Hdead-holder'), { lifetime: 1 })
    const outcome = await lockOn(b).coordinate(key, 'wait', Date.now() + 5_000)
    expect(outcome.kind).toBe('lead')
  })

  it('the holder keeps its lock past its ttl while the load runs', async () => {
    const key = fresh()
    // Unextended, a 1.5 s lock is gone within 3 s (Memcached's whole seconds, plus one).
    const first = await lockOn(a, 1_500).coordinate(key, 'wait', Date.now() + 5_000)
    const outcome = await lockOn(b, 1_500).coordinate(key, 'wait', Date.now() + 4_000)
    expect(outcome.kind).toBe('timeout')
    if (first.kind === 'lead') await first.lease.release()
  }, 10_000)

  it('a waiter whose server dies leads without the lock instead of waiting out its deadline', async () => {
    const key = fresh()
    const first = await lockOn(a).coordinate(key, 'wait', Date.now() + 5_000)
    expect(first.kind).toBe('lead')
    const waiter = waiterOn(b)
    const waiting = waiter.lock.coordinate(key, 'wait', Date.now() + 20_000)
    await waiter.contended
    const started = Date.now()
    await server.kill('SIGKILL')
    try {
      expect((await waiting).kind).toBe('lead')
      expect(Date.now() - started).toBeLessThan(10_000)
    } finally {
      await server.restart()
    }
  }, 30_000)

  it('lock.clients is refused: a Memcached lock lives on the store’s servers', () => {
    expect(() =>
      a.coordinator.lock({ ttlMs: 1_000, waitMs: 1_000, clients: [{}], metrics: noMetrics, logger: silentLogger }),
    ).toThrow(CorralConfigError)
  })
})
