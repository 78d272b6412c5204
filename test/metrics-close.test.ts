import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createCache } from '../src/index.ts'
import { flusherCount } from '../src/metrics.ts'

const COUNTERS = [
  'corral_requests_total',
  'corral_origin_calls_total',
  'corral_coalesced_total',
  'corral_refresh_total',
  'corral_stale_served_total',
  'corral_lock_total',
  'corral_store_errors_total',
  'corral_invalidations_total',
  'corral_l1_cleared_total',
]

async function requests(registry: Registry, result: string): Promise<number> {
  const metric = await registry.getSingleMetric('corral_requests_total')?.get()
  return metric?.values.find((v) => v.labels.cache === 'users' && v.labels.result === result)?.value ?? 0
}

describe('metrics on a shared registry', () => {
  it('1,000 caches created and closed leave nothing behind, and what they counted is kept', async () => {
    const registry = new Registry()
    for (let i = 0; i < 1_000; i++) {
      const cache = createCache({ name: 'users', logger: false, metrics: { registry } })
      await cache.wrap('k', () => i)
      await cache.wrap('k', () => i)
      await cache.close()
    }
    for (const name of COUNTERS) {
      const metric = registry.getSingleMetric(name)
      expect(metric, name).toBeDefined()
      expect(flusherCount(metric as object), name).toBe(0)
    }
    // Counts still pending at close were handed to prom-client, not dropped with the cache.
    expect(await requests(registry, 'miss')).toBe(1_000)
    expect(await requests(registry, 'hit')).toBe(1_000)
  })

  it('an open cache keeps counting into the registry while closed ones are gone', async () => {
    const registry = new Registry()
    const open = createCache({ name: 'users', logger: false, metrics: { registry } })
    const closed = createCache({ name: 'users', logger: false, metrics: { registry } })
    await closed.close()
    const requestsMetric = registry.getSingleMetric('corral_requests_total') as object
    expect(flusherCount(requestsMetric)).toBe(1)
    await open.wrap('k', () => 1)
    expect(await requests(registry, 'miss')).toBe(1)
    await open.close()
    expect(flusherCount(requestsMetric)).toBe(0)
  })
})
