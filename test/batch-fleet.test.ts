import { describe, expect, it } from 'vitest'
import type { Worker } from '../harness/child.ts'
import { ask as askOf, startFleet as startFleetOf, stopFleet } from '../harness/fleet.ts'
import { useRedis } from '../harness/use-redis.ts'

type Message = {
  id?: number
  event?: string
  key?: string
  keys?: number
  loads?: number
  calls?: number
  wrong?: number
  value?: string
  error?: string
}
const WORKER = new URL('./fixtures/batch-worker.ts', import.meta.url).pathname

let counter = 0
const namespace = () => `bfleet${process.pid}-${++counter}`
const startFleet = (n: number, config: object) =>
  startFleetOf<Message>(WORKER, n, config, { configVar: 'BATCH_CONFIG', startMs: 30_000 })
const ask = (worker: Worker<Message>, command: object) => askOf(worker, command, 30_000)

const sum = (replies: Message[], field: 'loads' | 'wrong') => replies.reduce((s, r) => s + (r[field] ?? 0), 0)

describe('wrapMany across a fleet of processes with lock', () => {
  const redis = useRedis()

  it('4 processes x wrapMany of the same 1,000 cold keys: 1,000 key loads in all, every value right', async () => {
    const fleet = await startFleet(4, { url: redis.server.url, lock: true, namespace: namespace() })
    const keys = Array.from({ length: 1_000 }, (_, i) => `row:${i}`)
    const at = Date.now() + 500
    const replies = await Promise.all(fleet.map((w) => ask(w, { op: 'wrapMany', keys, loaderMs: 100, at })))
    await stopFleet(fleet)
    expect(replies.map((r) => r.error).filter(Boolean)).toEqual([])
    expect(sum(replies, 'wrong')).toBe(0)
    expect(sum(replies, 'loads')).toBe(1_000)
  }, 90_000)

  it("a wrapMany waits for another process's locked wrap of the same key instead of loading it again", async () => {
    const config = { url: redis.server.url, lock: { ttl: 5_000, wait: 10_000 }, namespace: namespace() }
    const [holder, batch] = await startFleet(2, config)
    if (!holder || !batch) throw new Error('fleet did not start')
    const held = ask(holder, { op: 'wrap', key: 'shared', loaderMs: 600 })
    await holder.waitFor((m) => m.event === 'loading' && m.key === 'shared')
    const reply = await ask(batch, { op: 'wrapMany', keys: ['shared', 'own'], loaderMs: 10, at: 0 })
    const holderReply = await held
    await stopFleet([holder, batch])
    expect(reply.error).toBeUndefined()
    expect(reply.wrong).toBe(0)
    expect(holderReply.loads).toBe(1)
    expect(reply.loads).toBe(1) // only 'own': 'shared' came from the holder's load
  }, 60_000)

  it('a holder SIGKILLed mid-batch: another process takes the keys over after the lock ttl and loads them once', async () => {
    const config = { url: redis.server.url, lock: { ttl: 800, wait: 10_000 }, namespace: namespace() }
    const [holder, other] = await startFleet(2, config)
    if (!holder || !other) throw new Error('fleet did not start')
    const keys = Array.from({ length: 50 }, (_, i) => `row:${i}`)
    holder.send({ id: 0, op: 'wrapMany', keys, loaderMs: 60_000, at: 0 })
    await holder.waitFor((m) => m.event === 'loading')
    const started = Date.now()
    const waiting = ask(other, { op: 'wrapMany', keys, loaderMs: 50, at: 0 })
    await holder.kill('SIGKILL')
    const reply = await waiting
    const elapsed = Date.now() - started
    await stopFleet([other])
    expect(reply.error).toBeUndefined()
    expect(reply.wrong).toBe(0)
    expect(reply.loads).toBe(keys.length)
    expect(elapsed).toBeGreaterThanOrEqual(300) // it waited for the dead holder's locks to expire
  }, 60_000)
})
