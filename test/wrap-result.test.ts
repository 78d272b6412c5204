import { describe, expect, it } from 'vitest'
import { sleep } from '../harness/stores.ts'
import { useRedis } from '../harness/use-redis.ts'
import { createCache, redisStore, type WrapResult } from '../src/index.ts'

/** A loader that waits until released, and a promise that resolves when it has started. */
function gatedLoader<T>(value: T) {
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let started!: () => void
  const running = new Promise<void>((resolve) => (started = resolve))
  const state = { calls: 0 }
  const loader = async () => {
    state.calls += 1
    started()
    await gate
    return value
  }
  return { loader, release, running, state }
}

/** Records the results one call reports, and whether the report came before the promise settled. */
function recorder() {
  const seen: WrapResult[] = []
  return { seen, onResult: (result: WrapResult) => void seen.push(result) }
}

describe('wrap onResult', () => {
  it('reports miss, coalesced, hit and negative_hit, once per call, before the promise settles', async () => {
    const cache = createCache({ logger: false })
    const { loader, release, running } = gatedLoader({ v: 1 })
    const first = recorder()
    const second = recorder()
    const a = cache.wrap('k', loader, { onResult: first.onResult })
    await running
    const b = cache.wrap('k', loader, { onResult: second.onResult })
    const order: string[] = []
    const settled = Promise.all([a, b]).then(() =>
      order.push(`settled after ${first.seen.length + second.seen.length}`),
    )
    release()
    await settled
    expect(order).toEqual(['settled after 2'])
    expect(first.seen).toEqual(['miss'])
    expect(second.seen).toEqual(['coalesced'])

    const hit = recorder()
    await cache.wrap('k', loader, { onResult: hit.onResult })
    expect(hit.seen).toEqual(['hit'])

    const none = recorder()
    await cache.wrap('empty', () => null, { onResult: none.onResult })
    await cache.wrap('empty', () => null, { onResult: none.onResult })
    expect(none.seen).toEqual(['miss', 'negative_hit'])
    await cache.close()
  })

  it('reports stale for a graced value and miss or coalesced when the load rejects', async () => {
    const cache = createCache({ logger: false, ttl: 30, grace: '1m' })
    await cache.wrap('s', () => 1)
    await sleep(50)
    const stale = recorder()
    expect(await cache.wrap('s', () => 2, { onResult: stale.onResult })).toBe(1)
    expect(stale.seen).toEqual(['stale'])

    const { loader, release, running } = gatedLoader(0)
    const failing = async () => {
      await loader()
      throw new Error('origin down')
    }
    const own = recorder()
    const joined = recorder()
    const a = cache.wrap('f', failing, { onResult: own.onResult })
    await running
    const b = cache.wrap('f', failing, { onResult: joined.onResult })
    release()
    await expect(a).rejects.toThrow('origin down')
    await expect(b).rejects.toThrow('origin down')
    expect(own.seen).toEqual(['miss'])
    expect(joined.seen).toEqual(['coalesced'])
    await cache.close()
  })

  it('a throwing onResult does not change the answer', async () => {
    const cache = createCache({ logger: false })
    const boom = () => {
      throw new Error('callback bug')
    }
    expect(await cache.wrap('t', () => 7, { onResult: boom })).toBe(7)
    expect(await cache.wrap('t', () => 8, { onResult: boom })).toBe(7)
    await expect(cache.wrap('t', () => 8, { onResult: 'no' as never })).rejects.toThrow(/onResult/)
    await cache.close()
  })

  describe('across processes sharing a Redis store and a lock', () => {
    const redis = useRedis()
    it("reports coalesced for a caller that waited on another cache's load", async () => {
      const one = createCache({ name: 'a', store: redisStore({ url: redis.server.url }), lock: true, logger: false })
      const two = createCache({ name: 'a', store: redisStore({ url: redis.server.url }), lock: true, logger: false })
      const { loader, release, running, state } = gatedLoader('v')
      const first = recorder()
      const second = recorder()
      const a = one.wrap('d', loader, { onResult: first.onResult })
      await running
      const b = two.wrap('d', loader, { onResult: second.onResult })
      // Released only once the second cache waits on the first one's lock.
      for (const until = Date.now() + 5_000; two.inspect().waiters === 0 && Date.now() < until; ) await sleep(5)
      expect(two.inspect().waiters).toBe(1)
      release()
      expect(await Promise.all([a, b])).toEqual(['v', 'v'])
      expect(state.calls).toBe(1)
      expect(first.seen).toEqual(['miss'])
      expect(second.seen).toEqual(['coalesced'])
      await one.close()
      await two.close()
    })
  })
})
