import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CacheProcess, spawnCacheProcess } from '../harness/cache-process.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'

const SKEWED_CLOCK = new URL('./fixtures/skewed-clock.mjs', import.meta.url).href
let counter = 0
const ns = () => `clock${process.pid}-${++counter}`

/**
 * One clock: entry birth times and tag times come from Redis, so a process whose clock is 50 ms
 * ahead or behind (a real child process with a shifted Date and performance.timeOrigin) neither
 * keeps a value past an invalidation that followed its write, nor loses one written after it.
 */
describe.each([50, -50])('a writer whose clock is off by %i ms', (skewMs) => {
  const redis = useRedis()
  let skewed: CacheProcess
  let here: Cache
  let namespace: string
  beforeAll(async () => {
    namespace = ns()
    skewed = await spawnCacheProcess(
      { url: redis.server.url, namespace, name: 'skewed' },
      { NODE_OPTIONS: `--import=${SKEWED_CLOCK}`, CLOCK_SKEW_MS: String(skewMs) },
    )
    here = createCache({ namespace, store: redisStore({ url: redis.server.url }), ttl: '1h', logger: false })
  })
  afterAll(async () => {
    await skewed?.close()
    await here?.close()
  })

  it('the child’s clock really is shifted', async () => {
    const before = Date.now()
    const reply = await skewed.ask({ op: 'clock' })
    const after = Date.now()
    // 20 ms of slack: each process's `performance.timeOrigin + now()` may sit a few ms off its
    // `Date.now()` (seen: 7 ms), still far from the 50 ms the child is shifted by.
    for (const seen of [reply.dateNow as number, reply.perfNow as number]) {
      expect(seen - skewMs).toBeGreaterThanOrEqual(before - 20)
      expect(seen - skewMs).toBeLessThanOrEqual(after + 20)
    }
  })

  it('a value set just before an invalidation does not survive it', async () => {
    await skewed.ask({ op: 'set', key: 'before', value: 'v', tags: ['t1'] })
    await here.invalidateTags(['t1'])
    expect(await here.get('before')).toBeUndefined()
    expect((await skewed.ask({ op: 'get', key: 'before' })).value).toBeNull()
  })

  it('a value set just after an invalidation is not lost', async () => {
    await here.invalidateTags(['t2'])
    await skewed.ask({ op: 'set', key: 'after', value: 'v', tags: ['t2'] })
    expect(await here.get('after')).toBe('v')
    expect((await skewed.ask({ op: 'get', key: 'after' })).value).toBe('v')
  })
})

describe('tag times from the bus are clamped', () => {
  const redis = useRedis()

  it('a forged tags message with `at: 1e300` does not switch caching off for that tag', async () => {
    const namespace = ns()
    const victim = await spawnCacheProcess({
      url: redis.server.url,
      namespace,
      name: 'victim',
      l1: { maxEntries: 100, verifyAfter: 300 },
    })
    try {
      // Cached before the forgery: the tag's time is held in the victim's memory.
      expect((await victim.ask({ op: 'cachedWithin', key: 'k', tags: ['t'], limitMs: 2_000 })).ms).not.toBeNull()
      const channels = (await redis.raw.pubsub('CHANNELS', `*${namespace}*`)) as string[]
      expect(channels.length).toBeGreaterThan(0)
      for (const channel of channels) {
        await redis.raw.publish(
          channel,
          JSON.stringify({ kind: 'tags', tags: [`${namespace}:t`], at: 1e300, src: 'forger' }),
        )
      }
      // The forged time may void what was cached, but caching of the tag comes back at once.
      const after = await victim.ask({ op: 'cachedWithin', key: 'k', tags: ['t'], limitMs: 3_000 })
      expect(after.ms).not.toBeNull()
      expect(after.ms as number).toBeLessThan(1_500)
    } finally {
      await victim.close()
    }
  })
})
