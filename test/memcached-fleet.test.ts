import { MemcacheClient } from 'memcache-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ask, burst, startFleet as startFleetOf, stopFleet } from '../harness/fleet.ts'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { itemKey } from '../src/memcached/keys.ts'

type Message = {
  pid: number
  id?: number
  event?: string
  key?: string
  loads?: number
  counts?: Record<string, number>
  value?: string | null
}
const WORKER = new URL('./fixtures/fleet-worker.ts', import.meta.url).pathname

let nsCounter = 0
const namespace = () => `mcfleet${process.pid}-${++nsCounter}`
const startFleet = (n: number, config: object) => startFleetOf<Message>(WORKER, n, config)

const keys = Array.from({ length: 10 }, (_, i) => `item:${i}`)

describe('a fleet of processes on Memcached', () => {
  let server: MemcachedServer
  let raw: MemcacheClient
  beforeAll(async () => {
    server = await startMemcached()
    raw = new MemcacheClient({ server: server.address })
  })
  afterAll(async () => {
    raw?.shutdown()
    await server?.stop()
  })

  it('6 processes x 50 callers x 10 cold keys: exactly 10 origin calls with lock, more without', async () => {
    const locked = await startFleet(6, { memcached: [server.address], lock: true, namespace: namespace() })
    const withLock = await burst(locked, keys, 50)
    await stopFleet(locked)
    expect(withLock.counts).toEqual({ right: 6 * 50 * keys.length })
    expect(withLock.loads).toBe(keys.length)

    const unlocked = await startFleet(6, { memcached: [server.address], lock: false, namespace: namespace() })
    const without = await burst(unlocked, keys, 50)
    await stopFleet(unlocked)
    expect(without.counts).toEqual({ right: 6 * 50 * keys.length })
    expect(without.loads).toBeGreaterThan(keys.length)
  }, 60_000)

  it("a loader error in the winner reaches the other processes' waiters without each calling the origin", async () => {
    const fleet = await startFleet(4, { memcached: [server.address], lock: true, namespace: namespace() })
    const result = await burst(fleet, ['failing'], 25, { fail: true })
    await stopFleet(fleet)
    expect(result.loads).toBe(1)
    expect(Object.keys(result.counts).every((k) => k.startsWith('error:'))).toBe(true)
    expect(Object.values(result.counts).reduce((a, b) => a + b, 0)).toBe(100)
  }, 60_000)

  it('a lock holder SIGKILLed mid-load: another process takes over once its lock expires, 2 loads in all', async () => {
    const ns = namespace()
    const config = { memcached: [server.address], lock: { ttl: 800, wait: 10_000 }, namespace: ns }
    const [holder] = await startFleet(1, config)
    const others = await startFleet(4, config)
    if (!holder) throw new Error('fleet did not start')
    holder.send({ id: 0, op: 'wrap', key: 'k', loaderMs: 60_000, value: 'never' })
    await holder.waitFor((m) => m.event === 'loading')
    const waiting = others.map((w) => ask(w, { op: 'burst', keys: ['k'], callers: 20, at: 0, loaderMs: 100 }, 20_000))
    await holder.kill('SIGKILL')
    const replies = await Promise.all(waiting)
    await stopFleet(others)
    expect(replies.every((r) => r.counts?.right === 20)).toBe(true)
    expect(replies.reduce((sum, r) => sum + (r.loads ?? 0), 0)).toBe(1) // + the dead holder's = 2
  }, 60_000)

  it('fenced write: a set in another process while a load runs is not overwritten by that load', async () => {
    const ns = namespace()
    const [loader, writer] = await startFleet(2, { memcached: [server.address], lock: true, namespace: ns })
    if (!loader || !writer) throw new Error('fleet did not start')
    const loading = ask(loader, { op: 'wrap', key: 'k', loaderMs: 300, value: 'loaded before the set' })
    await loader.waitFor((m) => m.event === 'loading')
    await ask(writer, { op: 'set', key: 'k', value: 'set while loading' })
    expect((await loading).value).toBe('loaded before the set') // its caller still gets its own value
    expect((await ask(writer, { op: 'get', key: 'k' })).value).toBe('set while loading')
    expect((await ask(loader, { op: 'get', key: 'k' })).value).toBe('set while loading')
    await stopFleet([loader, writer])
  }, 30_000)

  it('a holder paused past its lock ttl cannot overwrite the value written by the process that took over', async () => {
    const ns = namespace()
    const config = { memcached: [server.address], lock: { ttl: 400, wait: 5_000 }, namespace: ns }
    const [paused, other] = await startFleet(2, config)
    if (!paused || !other) throw new Error('fleet did not start')
    const pausedReply = ask(paused, { op: 'wrap', key: 'k', loaderMs: 300, value: 'old' })
    await paused.waitFor((m) => m.event === 'loading')
    paused.child.kill('SIGSTOP')
    // Nobody extends the frozen holder's lock: wait until Memcached expires it.
    const lockItem = itemKey('lock', `${ns}:k`)
    const until = Date.now() + 10_000
    while ((await raw.get(lockItem)) !== undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    const otherReply = await ask(other, { op: 'wrap', key: 'k', loaderMs: 10, value: 'new' })
    expect(otherReply.value).toBe('new')
    paused.child.kill('SIGCONT')
    expect((await pausedReply).value).toBe('old')
    const stored = await raw.get<Buffer>(itemKey('entry', `${ns}:k`))
    // The serializer's bytes of 'new' end the item (JSON or msgpack), and the paused load left nothing.
    const body = stored?.value.toString('latin1') ?? ''
    expect(body.endsWith('new')).toBe(true)
    expect(body.includes('old')).toBe(false)
    await stopFleet([paused, other])
  }, 30_000)
})
