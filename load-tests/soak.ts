// Soak: 1,000,000 distinct keys through a 10,000-entry L1 in front of Redis, with lock and metrics,
// checking that what corral keeps in memory stays bounded. On demand, not in CI:
//
//   npm run soak -- [--keys 1000000] [--concurrency 64]
//
// Prints one line per 100,000 keys (RSS, heap, L1 entries, flights, waiters, metric series,
// subscriptions on the cache's channel) and fails if anything grows without bound.
import { Redis } from 'ioredis'
import pLimit from 'p-limit'
import { Registry } from 'prom-client'
import { startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const KEYS = arg('keys', 1_000_000)
const CONCURRENCY = arg('concurrency', 64)
const STEP = 100_000

const redis = await startRedis({ args: ['--maxmemory', '512mb', '--maxmemory-policy', 'allkeys-lru'] })
const raw = new Redis(redis.url, { protocol: 2 })
const registry = new Registry()
const cache = createCache({
  name: 'soak',
  namespace: 'soak',
  store: redisStore({ url: redis.url, timeout: 2_000 }),
  l1: { maxEntries: 10_000 },
  lock: true,
  ttl: '10m',
  metrics: { registry },
  logger: false,
})
await new Promise((r) => setTimeout(r, 200))

const series = async () => (await registry.getMetricsAsJSON()).reduce((n, metric) => n + metric.values.length, 0)
const subscriptions = async () =>
  Number(((await raw.call('PUBSUB', 'NUMSUB', 'corral:soak:soak')) as [string, number])[1])
const mb = (bytes: number) => `${Math.round(bytes / 1_048_576)} MB`

const limit = pLimit(CONCURRENCY)
const rows: Array<{ keys: number; rss: number; heap: number; series: number }> = []
const started = Date.now()
console.log('keys       rss      heap     l1      flights waiters series subs  keys/s')
for (let done = 0; done < KEYS; done += STEP) {
  const batch = Array.from({ length: Math.min(STEP, KEYS - done) }, (_, i) => done + i)
  const t = Date.now()
  await Promise.all(
    batch.map((n) =>
      limit(async () => {
        // Every key once through the loader, and again (a hit) now and then.
        await cache.wrap(`k:${n}`, async () => ({ n, pad: 'x'.repeat(64) }))
        if (n % 10 === 0) await cache.wrap(`k:${n - (n % 1_000)}`, async () => ({ n }))
      }),
    ),
  )
  globalThis.gc?.()
  const state = cache.inspect()
  const memory = process.memoryUsage()
  const row = { keys: done + batch.length, rss: memory.rss, heap: memory.heapUsed, series: await series() }
  rows.push(row)
  console.log(
    [
      String(row.keys).padEnd(10),
      mb(row.rss).padEnd(8),
      mb(row.heap).padEnd(8),
      String(state.l1Entries).padEnd(7),
      String(state.flights).padEnd(7),
      String(state.waiters).padEnd(7),
      String(row.series).padEnd(6),
      String(await subscriptions()).padEnd(5),
      Math.round(batch.length / ((Date.now() - t) / 1_000)),
    ].join(' '),
  )
  if (state.flights !== 0 || state.waiters !== 0 || state.originQueue !== 0)
    throw new Error(`not at rest: ${JSON.stringify(state)}`)
  if (state.l1Entries > 10_000) throw new Error(`L1 over its bound: ${state.l1Entries}`)
}
const first = rows[1] ?? rows[0]
const last = rows.at(-1)
if (first && last) {
  const growth = (last.rss - first.rss) / first.rss
  console.log(
    `\n${KEYS} keys in ${Math.round((Date.now() - started) / 1_000)} s; RSS ${mb(first.rss)} after ${first.keys} keys -> ${mb(last.rss)} at the end (${(growth * 100).toFixed(1)}%); metric series ${first.series} -> ${last.series}`,
  )
  if (last.series !== first.series) throw new Error('metric series grew with keys')
  if (growth > 0.5) throw new Error('RSS grew by more than 50% after warm-up')
}
await cache.close()
raw.disconnect()
await redis.stop()
