/**
 * The store contract: one set of tests that every store passes, whatever it keeps its entries in.
 * A new store joins by adding one entry to `contractStores`. The tests speak only the Store and
 * Coordinator interfaces (src/stores/store.ts, src/coordination.ts), plus a few reads through a
 * cache on top.
 */
import { randomUUID } from 'node:crypto'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../harness/redis-server.ts'
import { type Entry, entryWith } from '../src/entry.ts'
import {
  CorralError,
  createCache,
  jsonSerializer,
  type LockDecision,
  type LockMetrics,
  memcachedStore,
  memoryStore,
  NotACounterError,
  RemoteLoaderError,
  redisStore,
  type Store,
  type StoreFactory,
} from '../src/index.ts'
import type { Receipt } from '../src/stores/store.ts'

/** A begun load's fence token: every store that answered gives one. */
function tokenOf(begun: { token?: number }): number {
  expect(begun.token).toBeTypeOf('number')
  return begun.token as number
}

/** One store under contract: started once for the suite, and a factory per store instance. */
interface ContractStore {
  name: string
  start(): Promise<void>
  factory(): StoreFactory
  stop(): Promise<void>
}

/**
 * The stores' command timeout here: the contract is about what stores keep, not how fast, and a
 * busy machine may take more than the default 500 ms to open a Cluster client.
 */
const CONTRACT_TIMEOUT = '3s'

function memoryContract(): ContractStore {
  return { name: 'memory', start: async () => {}, factory: () => memoryStore(), stop: async () => {} }
}

function redisContract(): ContractStore {
  let server: RedisServer | undefined
  return {
    name: 'redis',
    start: async () => {
      server = await startRedis()
    },
    factory: () => redisStore({ url: (server as RedisServer).url, timeout: CONTRACT_TIMEOUT }),
    stop: async () => {
      await server?.stop()
    },
  }
}

function redisClusterContract(): ContractStore {
  let cluster: RedisCluster | undefined
  const clients: Cluster[] = []
  return {
    name: 'redis cluster',
    start: async () => {
      cluster = await startRedisCluster(6)
    },
    factory: () => {
      const client = new Cluster((cluster as RedisCluster).nodes, { redisOptions: { protocol: 2 } })
      clients.push(client)
      return redisStore({ client, timeout: CONTRACT_TIMEOUT })
    },
    stop: async () => {
      for (const client of clients) client.disconnect()
      await cluster?.stop()
    },
  }
}

/** Every store in the suite; a new store adds itself here. */
/** Two memcached servers, so keys spread over a hash ring as they do in production. */
function memcachedContract(): ContractStore {
  let servers: MemcachedServer[] = []
  return {
    name: 'memcached',
    start: async () => {
      servers = await Promise.all([startMemcached(), startMemcached()])
    },
    factory: () => memcachedStore({ servers: servers.map((s) => s.address), timeout: CONTRACT_TIMEOUT }),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()))
    },
  }
}

const contractStores: ContractStore[] = [memoryContract(), redisContract(), redisClusterContract(), memcachedContract()]

const silent = { warn() {}, error() {} }
const noLockMetrics: LockMetrics = { lock() {}, lockWait() {} }

/** Lock metrics that tell when the lock found the key held by another: the waiter is then waiting. */
function watchContention(): { metrics: LockMetrics; contended: Promise<void> } {
  let seen!: () => void
  const contended = new Promise<void>((resolve) => (seen = resolve))
  return { metrics: { lock: (outcome) => outcome === 'contended' && seen(), lockWait() {} }, contended }
}

function entryOf(value: unknown, overrides: Partial<Entry> = {}): Entry {
  const now = Date.now()
  return {
    value,
    negative: value === null || value === undefined,
    freshUntilMs: now + 60_000,
    staleUntilMs: now + 120_000,
    deltaMs: 12,
    createdAtUs: now * 1_000,
    tags: [],
    failSafe: false,
    ...overrides,
  }
}

const payloadOf = (entry: Entry) => (entry.negative ? '' : jsonSerializer.serialize(entry.value))

/** Polls `check` until it holds (a deadline, never a fixed sleep, decides failure). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** What a store holds after `set`: the entry, with the birth time the store stamped (if it did). */
function stamped(entry: Entry, receipt: Receipt): Entry {
  return { ...entry, createdAtUs: receipt.createdAtUs ?? entry.createdAtUs }
}

/** Every field of an entry as read through the Entry interface (a store may keep them behind getters). */
function fieldsOf(entry: Entry | undefined): Entry | undefined {
  return entry && entryWith(entry, {})
}

describe.each(contractStores)('store contract: $name', (contract) => {
  const opened: Store[] = []
  /** A store instance on the shared backend; instances with one `channel` are one cache in two processes. */
  const open = (channel = `corral:contract:${randomUUID()}`): Store => {
    const store = contract.factory().create({ serializer: jsonSerializer, logger: silent, channelName: channel })
    opened.push(store)
    return store
  }
  /**
   * Two instances sharing a channel, each connected (a store command waits for the first connect;
   * a lock does not, and treats a store it cannot reach yet as one it cannot lock on).
   */
  const openPair = async (): Promise<[Store, Store]> => {
    const name = `corral:contract:${randomUUID()}`
    const pair: [Store, Store] = [open(name), open(name)]
    await Promise.all(pair.map((store) => store.get('contract:connect')))
    return pair
  }
  /** A key no other test uses; braces and non-ASCII included, as real keys may hold them. */
  const key = (name: string) => `contract:${randomUUID()}:{${name}}:é`

  beforeAll(() => contract.start(), 60_000)
  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()))
    await contract.stop()
  })

  describe('entries', () => {
    it('reads what was written, every field of the entry intact', async () => {
      const store = open()
      const k = key('all-fields')
      expect(await store.get(k)).toBeUndefined()
      const written = entryOf({ name: 'Zoë', n: 1, list: [1, 'two'] }, { tags: ['a', 'b'], failSafe: true })
      const receipt = await store.set(k, written, payloadOf(written), 60_000)
      // A store with a clock stamps the birth time itself, and says so in the receipt.
      expect(fieldsOf(await store.get(k))).toEqual(stamped(written, receipt))
    })

    it('a write on a store shared between processes moves the namespace generation, and says to what', async () => {
      const store = open()
      if (!store.generation) return
      const before = await store.generation()
      const set = await store.set(key('gen'), entryOf('g'), payloadOf(entryOf('g')), 60_000)
      const deleted = await store.delete(key('gen'))
      const tagged = await store.invalidateTags([key('gen-tag')])
      expect([set.generation, deleted.generation, tagged.generation]).toEqual([before + 1, before + 2, before + 3])
      expect(await store.generation()).toBe(before + 3)
    })

    it('keeps negative entries apart: null stays null, undefined stays undefined', async () => {
      const store = open()
      const [a, b] = [key('null'), key('undefined')]
      await store.set(a, entryOf(null), '', 60_000)
      await store.set(b, entryOf(undefined), '', 60_000)
      expect(await store.get(a)).toMatchObject({ negative: true, value: null })
      const undef = await store.get(b)
      expect(undef?.negative).toBe(true)
      expect(undef?.value).toBeUndefined()
    })

    it('keeps an entry that never expires', async () => {
      const store = open()
      const k = key('forever')
      const forever = entryOf('v', {
        freshUntilMs: Number.POSITIVE_INFINITY,
        staleUntilMs: Number.POSITIVE_INFINITY,
      })
      const receipt = await store.set(k, forever, payloadOf(forever), Number.POSITIVE_INFINITY)
      expect(fieldsOf(await store.get(k))).toEqual(stamped(forever, receipt))
    })

    it('getMany answers in the order asked, undefined where absent, across slots', async () => {
      const store = open()
      const keys = Array.from({ length: 20 }, (_, i) => key(`many-${i}`))
      for (const [i, k] of keys.entries()) if (i % 3 !== 0) await store.set(k, entryOf(i), String(i), 60_000)
      const got = await store.getMany(keys)
      expect(got.map((e) => e?.value)).toEqual(keys.map((_, i) => (i % 3 !== 0 ? i : undefined)))
      expect(await store.getMany([])).toEqual([])
    })

    it('forgets an entry once its store ttl has passed', async () => {
      const store = open()
      const k = key('ttl')
      await store.set(k, entryOf('short'), payloadOf(entryOf('short')), 60)
      expect((await store.get(k))?.value).toBe('short')
      await eventually(async () => (await store.get(k)) === undefined)
    })

    it('delete removes the entry', async () => {
      const store = open()
      const k = key('delete')
      await store.set(k, entryOf('v'), '"v"', 60_000)
      await store.delete(k)
      expect(await store.get(k)).toBeUndefined()
      await store.delete(key('never-written')) // deleting nothing is not an error
    })

    it('peek, when offered, answers from memory what get answers', async () => {
      const store = open()
      if (!store.peek) return
      const k = key('peek')
      const written = entryOf('near')
      await store.set(k, written, payloadOf(written), 60_000)
      expect(store.peek(k)).toEqual(await store.get(k))
      expect(store.peek(key('absent'))).toBeUndefined()
    })
  })

  describe('fences', () => {
    it('a load commits what it began, and the store then holds it', async () => {
      const store = open()
      const k = key('commit')
      const begun = await store.begin(k)
      expect(begun.entry).toBeUndefined()
      const loaded = entryOf('loaded')
      expect(await store.commit(k, loaded, payloadOf(loaded), 60_000, tokenOf(begun))).toBeDefined()
      expect((await store.get(k))?.value).toBe('loaded')
      expect((await store.begin(k)).entry?.value).toBe('loaded')
    })

    it('a load begun before a set cannot overwrite it', async () => {
      const store = open()
      const k = key('set-wins')
      const begun = await store.begin(k)
      await store.set(k, entryOf('explicit'), '"explicit"', 60_000)
      expect(await store.commit(k, entryOf('late'), '"late"', 60_000, tokenOf(begun))).toBeUndefined()
      expect((await store.get(k))?.value).toBe('explicit')
    })

    it('a load begun before a delete cannot write the key back', async () => {
      const store = open()
      const k = key('delete-wins')
      await store.set(k, entryOf('old'), '"old"', 60_000)
      const begun = await store.begin(k)
      await store.delete(k)
      expect(await store.commit(k, entryOf('late'), '"late"', 60_000, tokenOf(begun))).toBeUndefined()
      expect(await store.get(k)).toBeUndefined()
    })

    it('of two overlapping loads the first to finish writes and the other is refused', async () => {
      const store = open()
      const k = key('overlap')
      const first = await store.begin(k)
      const second = await store.begin(k)
      // Beginning does not move the fence: overlapping loads do not refuse each other's begin.
      expect(second.token).toBe(first.token)
      expect(await store.commit(k, entryOf('second'), '"second"', 60_000, tokenOf(second))).toBeDefined()
      expect(await store.commit(k, entryOf('first'), '"first"', 60_000, tokenOf(first))).toBeUndefined()
      expect((await store.get(k))?.value).toBe('second')
    })

    it("two instances on one backend share fences: one instance's write refuses the other's older load", async () => {
      const a = open()
      const b = open()
      const k = key('shared-fence')
      const begun = await a.begin(k)
      await b.set(k, entryOf('b'), '"b"', 60_000)
      const shared = (await a.get(k)) !== undefined
      // Stores in one process only (memory) do not share; those that share entries share fences.
      expect((await a.commit(k, entryOf('a'), '"a"', 60_000, tokenOf(begun))) !== undefined).toBe(!shared)
    })
  })

  describe('counters', () => {
    it('increment creates the counter at `by`, then adds', async () => {
      const store = open()
      const k = key('counter')
      expect(await store.increment(k, 5, 60_000)).toBe(5)
      expect(await store.increment(k, -2, 60_000)).toBe(3)
      expect((await store.get(k))?.value).toBe(3)
    })

    it('a whole number written by set can be incremented', async () => {
      const store = open()
      const k = key('set-counter')
      const bare: Entry = {
        ...entryOf(41, { deltaMs: 0, freshUntilMs: Number.POSITIVE_INFINITY, staleUntilMs: Number.POSITIVE_INFINITY }),
      }
      await store.set(k, bare, '41', Number.POSITIVE_INFINITY)
      expect(await store.increment(k, 1, Number.POSITIVE_INFINITY)).toBe(42)
    })

    it('refuses to increment what is not a counter, and leaves it as it was', async () => {
      const store = open()
      const k = key('not-counter')
      const written = entryOf({ a: 1 })
      const receipt = await store.set(k, written, payloadOf(written), 60_000)
      await expect(store.increment(k, 1, 60_000)).rejects.toBeInstanceOf(NotACounterError)
      expect(fieldsOf(await store.get(k))).toEqual(stamped(written, receipt))
    })
  })

  describe('tags', () => {
    it('a tag never invalidated reads as 0; an invalidation records a time that only grows', async () => {
      const store = open()
      const [t1, t2] = [key('tag1'), key('tag2')]
      expect(await store.tagTimes([t1, t2])).toEqual([0, 0])
      const first = (await store.invalidateTags([t1])).atUs
      expect(first).toBeGreaterThan(0)
      const [time1, time2] = await store.tagTimes([t1, t2])
      expect(time1).toBe(first)
      expect(time2).toBe(0)
      const second = (await store.invalidateTags([t1, t2])).atUs
      expect(second).toBeGreaterThan(first)
      // Each tag may get its own instant; the call returns the latest.
      const times = await store.tagTimes([t1, t2])
      for (const time of times) {
        expect(time).toBeGreaterThan(first)
        expect(time).toBeLessThanOrEqual(second)
      }
      expect(Math.max(...times)).toBe(second)
      expect(await store.tagTimes([])).toEqual([])
    })

    it('a load begun after an invalidation is born after it, on the same clock', async () => {
      const store = open()
      const tag = key('tag-clock')
      const { atUs: at } = await store.invalidateTags([tag])
      const begun = await store.begin(key('born-after'))
      // An entry is void when a tag time >= its birth; this load's entry must not be.
      expect(begun.nowUs).toBeGreaterThan(at)
    })

    it('a begin asked for tag times, and a tagged get, give what tagTimes gives (when offered)', async () => {
      const store = open()
      const k = key('tagged-begin')
      const [t1, t2] = [key('bt1'), key('bt2')]
      const written = entryOf('v', { tags: [t1, t2] })
      await store.set(k, written, payloadOf(written), 60_000)
      await store.invalidateTags([t2])
      const expected = await store.tagTimes([t1, t2])
      expect(expected[1]).toBeGreaterThan(0)
      const begun = await store.begin(k, [t1, t2])
      expect(begun.entry?.value).toBe('v')
      if (begun.tagTimesUs) expect(begun.tagTimesUs).toEqual(expected)
      // Its fence is the one a plain begin reads: a write after it refuses the load.
      await store.set(k, written, payloadOf(written), 60_000)
      expect(await store.commit(k, entryOf('late'), '"late"', 60_000, tokenOf(begun))).toBeUndefined()
      if (store.getWithTagTimes) {
        const read = await store.getWithTagTimes(k, [t1, t2])
        expect(read.entry?.value).toBe('v')
        expect(read.tagTimesUs).toEqual(expected)
      }
    })
  })

  describe('coordination', () => {
    it('the channel never throws, subscribed or not', async () => {
      const store = open()
      const { channel } = store.coordinator
      await expect(channel.publish({ kind: 'drop', keys: [key('x')] })).resolves.toBeUndefined()
      await expect(channel.publish({ kind: 'tags', tags: [key('t')], atUs: 1 })).resolves.toBeUndefined()
      expect(typeof (await channel.subscribe())).toBe('boolean')
      expect(channel.listening).toBe(0)
    })

    it('a channel that subscribes hears the other instances, not itself', async () => {
      const [a, b] = await openPair()
      const subscribed = (await a.coordinator.channel.subscribe()) && (await b.coordinator.channel.subscribe())
      if (!subscribed) {
        expect(b.coordinator.channel.live).toBe(false)
        return
      }
      expect(b.coordinator.channel.live).toBe(true)
      const heard: unknown[] = []
      const own: unknown[] = []
      b.coordinator.channel.onOthers((message) => heard.push(message))
      a.coordinator.channel.onOthers((message) => own.push(message))
      const k = key('announced')
      const keyHeard = new Promise((resolve) => b.coordinator.channel.listen(k, resolve))
      await a.coordinator.channel.publish({ kind: 'tags', tags: ['t'], atUs: 123 })
      await a.coordinator.channel.publish({ kind: 'ready', key: k })
      expect(await keyHeard).toEqual({ kind: 'ready', key: k })
      await eventually(async () => heard.length === 2)
      // In either order: a Cluster client publishes each message through whichever node it picks,
      // and a message published on another node than the subscriber's travels the cluster bus.
      expect(heard).toHaveLength(2)
      expect(heard).toEqual(
        expect.arrayContaining([
          { kind: 'tags', tags: ['t'], atUs: 123 },
          { kind: 'ready', key: k },
        ]),
      )
      await b.coordinator.channel.publish({ kind: 'drop', keys: ['x'] })
      await eventually(async () => own.length === 1)
      expect(own).toEqual([{ kind: 'drop', keys: ['x'] }])
    })

    it('a lock lets one instance lead a key; another waits for its success, or shares its failure', async () => {
      const [a, b] = await openPair()
      const settings = { ttlMs: 5_000, waitMs: 5_000, metrics: noLockMetrics, logger: silent }
      const lockA = a.coordinator.lock(settings)
      const lockB = b.coordinator.lock(settings)
      /** B's lock, fresh, with a promise settled once it found the key held. */
      const waiterB = () => {
        const watch = watchContention()
        return { lock: b.coordinator.lock({ ...settings, metrics: watch.metrics }), contended: watch.contended }
      }
      const k = key('locked')
      const first = await lockA.coordinate(k, 'wait', Date.now() + 5_000)
      expect(first.kind).toBe('lead')
      const lease = (first as Extract<LockDecision, { kind: 'lead' }>).lease
      const attempt = await lockB.coordinate(k, 'try', Date.now() + 5_000)
      if (!a.coordinator.crossProcess) {
        // Nothing to coordinate with: every instance leads.
        expect(attempt.kind).toBe('lead')
        await lease.succeed(true)
        return
      }
      expect(attempt.kind).toBe('skip')
      const firstWaiter = waiterB()
      const waiting = firstWaiter.lock.coordinate(k, 'wait', Date.now() + 5_000)
      await firstWaiter.contended
      await lease.succeed(true)
      expect((await waiting).kind).toBe('ready')

      const again = await lockA.coordinate(k, 'wait', Date.now() + 5_000)
      expect(again.kind).toBe('lead')
      const secondWaiter = waiterB()
      const failing = secondWaiter.lock.coordinate(k, 'wait', Date.now() + 5_000)
      await secondWaiter.contended
      await (again as Extract<LockDecision, { kind: 'lead' }>).lease.fail(new TypeError('origin down'))
      const outcome = await failing
      expect(outcome.kind).toBe('failed')
      const error = (outcome as Extract<LockDecision, { kind: 'failed' }>).error
      expect(error).toBeInstanceOf(RemoteLoaderError)
      expect(error.remoteName).toBe('TypeError')
      expect(error.message).toContain('origin down')
    })

    it('a waiter gives up at its deadline with a lease of its own, and the holder can still release', async () => {
      const [a, b] = await openPair()
      if (!a.coordinator.crossProcess) return
      const settings = { ttlMs: 5_000, waitMs: 200, metrics: noLockMetrics, logger: silent }
      const k = key('deadline')
      const held = await a.coordinator.lock(settings).coordinate(k, 'wait', Date.now() + 200)
      expect(held.kind).toBe('lead')
      const waited = await b.coordinator.lock(settings).coordinate(k, 'wait', Date.now() + 200)
      expect(waited.kind).toBe('timeout')
      await (waited as Extract<LockDecision, { kind: 'timeout' }>).lease.succeed(false)
      const lease = (held as Extract<LockDecision, { kind: 'lead' }>).lease
      await lease.release()
      await lease.release() // a second release is harmless
      const next = await b.coordinator.lock(settings).coordinate(k, 'try', Date.now() + 200)
      expect(next.kind).toBe('lead')
      await (next as Extract<LockDecision, { kind: 'lead' }>).lease.release()
    })
  })

  describe('through a cache', () => {
    it('wrap loads once for concurrent callers, then serves the stored value', async () => {
      const cache = createCache({ store: contract.factory(), logger: false, namespace: randomUUID(), lock: true })
      try {
        let calls = 0
        const loader = async () => {
          calls += 1
          return { id: 7 }
        }
        const values = await Promise.all(Array.from({ length: 20 }, () => cache.wrap('k', loader)))
        expect(values.every((v) => v.id === 7)).toBe(true)
        expect(calls).toBe(1)
        expect(await cache.get('k')).toEqual({ id: 7 })
        await cache.invalidateTags(['none'])
        await cache.set('tagged', 1, { tags: ['t'] })
        await cache.invalidateTags(['t'])
        expect(await cache.get('tagged')).toBeUndefined()
      } finally {
        await cache.close()
      }
    })

    it('a closed cache refuses calls with a CorralError', async () => {
      const cache = createCache({ store: contract.factory(), logger: false })
      await cache.close()
      await expect(cache.get('k')).rejects.toBeInstanceOf(CorralError)
    })
  })
})
