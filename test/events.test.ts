/**
 * corral's diagnostics_channel events: what a subscriber receives for each way a read is answered,
 * and that nothing is received once it unsubscribes.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Tracer } from '@opentelemetry/api'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { traceCorral } from '../examples/otel-spans.ts'
import { useRedis } from '../harness/use-redis.ts'
import {
  CHANNEL_NAMES,
  createCache,
  type ErrorEvent,
  type LoadEvent,
  type LockEvent,
  memoryStore,
  redisStore,
  type Store,
  type StoreFactory,
} from '../src/index.ts'

type Name = keyof typeof CHANNEL_NAMES
const received: { channel: Name; message: Record<string | symbol, unknown> }[] = []
const listeners = new Map<Name, (message: unknown) => void>()

function listen(...names: Name[]): void {
  for (const name of names) {
    const listener = (message: unknown) => received.push({ channel: name, message: message as Record<string, unknown> })
    listeners.set(name, listener)
    subscribe(CHANNEL_NAMES[name], listener)
  }
}

function events(name: Name): Record<string | symbol, unknown>[] {
  return received.filter((r) => r.channel === name).map((r) => r.message)
}

afterEach(() => {
  for (const [name, listener] of listeners) unsubscribe(CHANNEL_NAMES[name], listener)
  listeners.clear()
  received.length = 0
})

const ALL = Object.keys(CHANNEL_NAMES) as Name[]

describe('diagnostics_channel events', () => {
  it('uses the corral: prefix for every channel', () => {
    expect(CHANNEL_NAMES).toEqual({
      hit: 'corral:hit',
      miss: 'corral:miss',
      stale: 'corral:stale',
      loadStart: 'corral:load:start',
      loadEnd: 'corral:load:end',
      error: 'corral:error',
      lock: 'corral:lock',
      refresh: 'corral:refresh',
    })
  })

  it('a miss, its load (one object from start to end), then a hit from memory', async () => {
    const cache = createCache({ name: 'users', namespace: 'ns', logger: false })
    listen(...ALL)
    expect(await cache.wrap('user:1', () => ({ id: 1 }))).toEqual({ id: 1 })
    expect(events('miss')).toEqual([{ cache: 'users', key: 'user:1', coalesced: false }])
    const [start] = events('loadStart')
    const [end] = events('loadEnd')
    expect(start).toBe(end) // a tracer keeps its span on the object between the two
    expect(end).toMatchObject({ cache: 'users', key: 'user:1', outcome: 'success' })
    expect(end?.durationMs).toBeGreaterThanOrEqual(0)
    expect(events('hit')).toEqual([])

    expect(await cache.wrap('user:1', () => ({ id: 2 }))).toEqual({ id: 1 })
    expect(events('hit')).toEqual([{ cache: 'users', key: 'user:1', result: 'hit', from: 'memory' }])
    await cache.wrap('user:none', () => null)
    await cache.wrap('user:none', () => null)
    expect(events('hit').at(-1)).toEqual({ cache: 'users', key: 'user:none', result: 'negative_hit', from: 'memory' })
    await cache.close()
  })

  it('callers that join a running load are marked coalesced', async () => {
    const cache = createCache({ name: 'c', logger: false })
    listen('miss', 'loadStart')
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const calls = [1, 2, 3].map(() =>
      cache.wrap('k', async () => {
        await gate
        return 'v'
      }),
    )
    release()
    expect(await Promise.all(calls)).toEqual(['v', 'v', 'v'])
    expect(events('miss').map((m) => m.coalesced)).toEqual([false, true, true])
    expect(events('loadStart')).toHaveLength(1)
    await cache.close()
  })

  it('a loader error: load end with outcome error, and an error event with the key', async () => {
    const cache = createCache({ name: 'c', logger: false })
    listen('loadEnd', 'error')
    const boom = new Error('origin down')
    await expect(cache.wrap('k', () => Promise.reject(boom))).rejects.toBe(boom)
    expect(events('loadEnd')[0]).toMatchObject({ key: 'k', outcome: 'error', error: boom })
    expect(events('error')).toEqual([{ cache: 'c', source: 'loader', key: 'k', error: boom }])
    await expect(cache.wrap('slow', () => new Promise(() => {}), { timeout: { hard: 20 } })).rejects.toThrow()
    expect(events('loadEnd')[1]).toMatchObject({ key: 'slow', outcome: 'timeout' })
    await cache.close()
  })

  it('stale-while-revalidate: a stale event and a refresh event; a manual refresh too', async () => {
    const cache = createCache({ name: 'c', logger: false, ttl: 1, grace: '1m', timeout: { soft: 0 } })
    await cache.wrap('k', () => 'v1')
    const expired = Date.now() + 5
    while (Date.now() < expired) await new Promise((r) => setImmediate(r))
    listen('stale', 'refresh', 'hit', 'miss')
    expect(await cache.wrap('k', () => 'v2')).toBe('v1')
    expect(events('stale')).toEqual([{ cache: 'c', key: 'k', reason: 'revalidate' }])
    expect(events('refresh')).toEqual([{ cache: 'c', key: 'k', reason: 'stale' }])
    expect(events('hit')).toEqual([])
    expect(events('miss')).toEqual([])
    await cache.refresh('k', () => 'v3')
    expect(events('refresh').at(-1)).toEqual({ cache: 'c', key: 'k', reason: 'manual' })
    await cache.close()
  })

  it('a batch load names its keys', async () => {
    const cache = createCache({ name: 'c', logger: false })
    listen('loadStart')
    await cache.wrapMany(['a', 'b'], (keys) => Object.fromEntries(keys.map((k) => [k, k])))
    expect(events('loadStart')).toEqual([expect.objectContaining({ cache: 'c', key: undefined, keys: ['a', 'b'] })])
    await cache.close()
  })

  it('a store failure is an error event with the operation, never with error text in a label', async () => {
    const failing: StoreFactory = {
      kind: 'failing',
      create(context) {
        const inner = memoryStore().create(context)
        return new Proxy(inner, {
          get(target, prop) {
            // A wrap's read is the load's begin (entry and fence in one round trip): both fail.
            if (prop === 'get' || prop === 'begin') return () => Promise.reject(new Error('store unreachable'))
            // The memory store's own read, which the engine takes without a promise.
            if (prop === 'beginNow') {
              return () => {
                throw new Error('store unreachable')
              }
            }
            const value = Reflect.get(target, prop, target)
            return typeof value === 'function' ? value.bind(target) : value
          },
        }) as Store
      },
    }
    const cache = createCache({ name: 'c', store: failing, logger: false })
    listen('error')
    expect(await cache.wrap('k', () => 'from origin')).toBe('from origin')
    const [event] = events('error') as unknown as ErrorEvent[]
    expect(event).toMatchObject({ cache: 'c', source: 'store', op: 'get' })
    expect(String(event?.error)).toContain('store unreachable')
    await cache.close()
  })

  it('stops publishing once unsubscribed', async () => {
    const cache = createCache({ name: 'c', logger: false })
    listen(...ALL)
    await cache.wrap('k', () => 1)
    expect(received.length).toBeGreaterThan(0)
    for (const [name, listener] of listeners) unsubscribe(CHANNEL_NAMES[name], listener)
    listeners.clear()
    received.length = 0
    await cache.wrap('k', () => 1)
    await cache.wrap('other', () => 1)
    expect(received).toEqual([])
    await cache.close()
  })

  it('lets a subscriber keep state on the load event under a symbol of its own', async () => {
    const span = Symbol('span')
    const ended: unknown[] = []
    const onStart = (m: unknown) => void ((m as LoadEvent)[span] = `span for ${(m as LoadEvent).key}`)
    const onEnd = (m: unknown) => void ended.push((m as LoadEvent)[span])
    subscribe(CHANNEL_NAMES.loadStart, onStart)
    subscribe(CHANNEL_NAMES.loadEnd, onEnd)
    const cache = createCache({ name: 'c', logger: false })
    try {
      await cache.wrap('k', () => 1)
      expect(ended).toEqual(['span for k'])
    } finally {
      unsubscribe(CHANNEL_NAMES.loadStart, onStart)
      unsubscribe(CHANNEL_NAMES.loadEnd, onEnd)
      await cache.close()
    }
  })
})

describe('examples/otel-spans.ts', () => {
  interface Recorded {
    name: string
    attributes: Record<string, unknown>
    status?: { code: number }
    ended: boolean
  }
  /** Records what the example asks of a tracer (the OpenTelemetry SDK is not installed here). */
  function recordingTracer(spans: Recorded[]): Tracer {
    return {
      startSpan(name: string, options: { attributes?: Record<string, unknown> }) {
        const span = {
          name,
          attributes: { ...options.attributes },
          ended: false,
          status: undefined as { code: number } | undefined,
          setAttribute(k: string, v: unknown) {
            span.attributes[k] = v
            return span
          },
          recordException() {},
          setStatus(status: { code: number }) {
            span.status = status
            return span
          },
          end() {
            span.ended = true
          },
        }
        spans.push(span)
        return span
      },
    } as unknown as Tracer
  }

  it('turns each loader call into an ended span, keys left out unless asked for', async () => {
    const spans: Recorded[] = []
    const stop = traceCorral(recordingTracer(spans))
    const cache = createCache({ name: 'users', logger: false })
    try {
      await cache.wrap('user:ada@example.com', () => 1)
      await cache.wrap('user:ada@example.com', () => 2) // a hit: no load, no span
      await expect(cache.wrap('user:bad', () => Promise.reject(new Error('down')))).rejects.toThrow('down')
    } finally {
      stop()
      await cache.close()
    }
    expect(spans.map((s) => [s.name, s.ended, s.attributes['corral.outcome']])).toEqual([
      ['corral.load users', true, 'success'],
      ['corral.load users', true, 'error'],
    ])
    expect(spans[1]?.status?.code).toBe(2) // SpanStatusCode.ERROR
    expect(JSON.stringify(spans)).not.toContain('ada@example.com')

    const withKeys: Recorded[] = []
    const stopKeys = traceCorral(recordingTracer(withKeys), { recordKeys: true })
    const other = createCache({ name: 'users', logger: false })
    try {
      await other.wrap('user:1', () => 1)
    } finally {
      stopKeys()
      await other.close()
    }
    expect(withKeys[0]?.attributes['corral.key']).toBe('user:1')
  })
})

describe('diagnostics_channel lock events across two instances on one Redis', () => {
  const redis = useRedis()
  const closing: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const close of closing) await close()
  })

  it('the winner acquires; the other waits and takes the value loaded elsewhere', async () => {
    const make = () => {
      const cache = createCache({
        name: 'fleet',
        store: redisStore({ url: redis.server.url }),
        lock: true,
        logger: false,
      })
      closing.push(() => cache.close())
      return cache
    }
    const [a, b] = [make(), make()]
    listen('lock')
    let started!: () => void
    const loading = new Promise<void>((resolve) => (started = resolve))
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const first = a.wrap('k', async () => {
      started()
      await gate
      return 'from a'
    })
    await loading
    const second = b.wrap('k', () => 'from b')
    // b waits on the lock (listening for the winner's message) before a's load may finish.
    while (b.inspect().waiters === 0) await new Promise((r) => setTimeout(r, 5))
    release()
    expect(await Promise.all([first, second])).toEqual(['from a', 'from a'])
    const locks = events('lock') as unknown as LockEvent[]
    expect(locks.map((l) => l.outcome).sort()).toEqual(['acquired', 'loaded_elsewhere'])
    for (const l of locks) {
      expect(l).toMatchObject({ cache: 'fleet', key: 'k' })
      expect(l.waitedMs).toBeGreaterThanOrEqual(0)
    }
  })
})
