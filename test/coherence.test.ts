import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CacheProcess, spawnCacheProcess } from '../harness/cache-process.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'

/**
 * L1 coherence by namespace: a cache with an L1 tier in one process (an "api" service) and a
 * cache of another name without L1 writing in another (an "admin" tool), on one namespace and
 * one Redis. Whatever is lost on the way (a killed subscriber, a refused publish, a publish
 * skipped while the writer's breaker was open), the api's L1 stops serving the old value within
 * `l1.verifyAfter`.
 */
const VERIFY_AFTER = 400
/** What the bound may be exceeded by on this shared 2-core machine: scheduling, a reconnect. */
const SLACK = 600
const LIMIT = 4_000

let counter = 0
const ns = () => `coh${process.pid}-${++counter}`

describe('L1 coherence by namespace, with a bound that holds when messages are lost', () => {
  const redis = useRedis()
  let namespace: string
  let api: CacheProcess
  let admin: Cache

  const startApi = async () => {
    namespace = ns()
    api = await spawnCacheProcess({
      url: redis.server.url,
      namespace,
      name: 'api',
      l1: { maxEntries: 1_000, verifyAfter: VERIFY_AFTER },
    })
  }
  /** The api process's cache answers `value` for `key` within the bound: l1.verifyAfter plus slack. */
  const seenWithinBound = async (key: string, value: unknown) => {
    const seen = await api.ask({ op: 'until', key, value, limitMs: LIMIT })
    expect(seen.ms).not.toBeNull()
    expect(seen.ms as number).toBeLessThan(VERIFY_AFTER + SLACK)
  }
  const adminOn = (store: ReturnType<typeof redisStore>) =>
    createCache({ name: 'admin', namespace, store, ttl: '1h', logger: false })

  afterAll(async () => {
    await api?.close()
  })

  it('set, delete and invalidateTags by a cache of another name reach the other L1', async () => {
    await startApi()
    admin = adminOn(redisStore({ url: redis.server.url }))
    expect((await api.ask({ op: 'wrap', key: 'price', value: 'old', tags: ['prices'] })).value).toBe('old')
    await admin.set('price', 'new', { tags: ['prices'] })
    await seenWithinBound('price', 'new')

    await admin.delete('price')
    await seenWithinBound('price', null)

    expect((await api.ask({ op: 'wrap', key: 'price', value: 'again', tags: ['prices'] })).value).toBe('again')
    await admin.invalidateTags(['prices'])
    await seenWithinBound('price', null)
    await admin.close()
    await api.close()
  })

  describe('a publish that never goes out (PUBLISH refused by an ACL)', () => {
    let mute: Redis
    beforeAll(async () => {
      await redis.raw.call('ACL', 'SETUSER', 'mute', 'on', '>mute', '~*', '&*', '+@all', '-publish')
      mute = new Redis(redis.server.url, { protocol: 2, username: 'mute', password: 'mute' })
    })
    afterAll(() => mute?.disconnect())

    it('a set whose message is lost is caught within l1.verifyAfter', async () => {
      await startApi()
      admin = adminOn(redisStore({ client: mute }))
      expect((await api.ask({ op: 'wrap', key: 'price', value: 'old' })).value).toBe('old')
      await admin.set('price', 'new')
      await seenWithinBound('price', 'new')
      await admin.close()
      await api.close()
    })

    it('tag times kept in L1 follow a lost invalidation: an entry read from Redis is not served after it', async () => {
      await startApi()
      admin = adminOn(redisStore({ client: mute }))
      // The api loads, then reads a tagged entry, so it holds the tag's time (never invalidated) in memory.
      await api.ask({ op: 'wrap', key: 'a', value: 'a', tags: ['org:1'] })
      expect((await api.ask({ op: 'wrap', key: 'a', value: 'not loaded', tags: ['org:1'] })).loads).toBe(1)
      // Written by the admin only: the api has no L1 copy of it, and will read it from Redis.
      await admin.set('b', 'b', { tags: ['org:1'] })
      await admin.invalidateTags(['org:1'])
      expect(await admin.get('b')).toBeUndefined()
      await seenWithinBound('b', null)
      await admin.close()
      await api.close()
    })
  })

  it('a change made while the subscriber is cut off (CLIENT KILL TYPE pubsub) is caught on reconnect', async () => {
    await startApi()
    admin = adminOn(redisStore({ url: redis.server.url }))
    expect((await api.ask({ op: 'wrap', key: 'price', value: 'old' })).value).toBe('old')
    const killed = Number(await redis.raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))
    expect(killed).toBeGreaterThan(0)
    await admin.set('price', 'new')
    await seenWithinBound('price', 'new')
    await admin.close()
    await api.close()
  })

  it('a write that lands while the writer’s breaker is open reaches the L1 too (or the write rejects)', async () => {
    await startApi()
    admin = adminOn(redisStore({ url: redis.server.url, timeout: 400 }))
    expect((await api.ask({ op: 'wrap', key: 'price', value: 'old' })).value).toBe('old')
    const pid = redis.server.pid as number
    // Redis stops answering for 500 ms: three reads sent at once time out at 400 ms and open the
    // breaker; a set sent at 150 ms lands when Redis resumes, after the breaker opened.
    process.kill(pid, 'SIGSTOP')
    const resume = setTimeout(() => process.kill(pid, 'SIGCONT'), 500)
    try {
      const reads = Promise.all([admin.get('x'), admin.get('y'), admin.get('z')])
      await new Promise((resolve) => setTimeout(resolve, 150))
      const write = await admin.set('price', 'new').then(
        () => 'written',
        () => 'rejected',
      )
      await reads
      if (write === 'written') {
        await seenWithinBound('price', 'new')
      }
    } finally {
      clearTimeout(resume)
      process.kill(pid, 'SIGCONT')
    }
    await admin.close()
    await api.close()
  })
})
