/**
 * Bytes a warm `wrapMany` of 20,000 keys allocates, by allocating function (V8's sampling heap
 * profiler, objects collected by minor and major GCs included): what a warm read leaves to the
 * garbage collector. One cold pass, two warm reads untimed, then 5 sampled.
 *
 *   node --import tsx bench/batch-allocations.ts
 */
import { Session } from 'node:inspector/promises'
import { Redis } from 'ioredis'
import { startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'

const KEYS = 20_000
const READS = 5
const row = (key: string) => ({ id: key, body: 'x'.repeat(Math.max(1, 100 - key.length - 20)) })

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number }
  selfSize: number
  children: SampleNode[]
}

const redis = await startRedis()
const client = new Redis(redis.url, { protocol: 2 })
const cache = createCache({ name: 'alloc', store: redisStore({ client }), ttl: 3_600_000, logger: false })
const session = new Session()
session.connect()
try {
  const keys = Array.from({ length: KEYS }, (_, i) => `k:${i}`)
  const loadMany = (missing: string[]) => new Map(missing.map((key) => [key, row(key)]))
  await cache.wrapMany(keys, loadMany)
  for (let i = 0; i < 2; i++) await cache.wrapMany(keys, loadMany)
  await session.post('HeapProfiler.enable')
  // The two include flags are V8's; Node's types do not list them yet.
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as { samplingInterval: number })
  for (let i = 0; i < READS; i++) await cache.wrapMany(keys, loadMany)
  const { profile } = await session.post('HeapProfiler.stopSampling')
  const bySite = new Map<string, number>()
  let total = 0
  const walk = (node: SampleNode) => {
    const f = node.callFrame
    const site = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*\/(node_modules\/|src\/)/, '$1')}:${f.lineNumber + 1}`
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize)
    total += node.selfSize
    for (const child of node.children) walk(child)
  }
  walk(profile.head as unknown as SampleNode)
  process.stdout.write(`${(total / READS / 1e6).toFixed(1)} MB allocated per warm wrapMany of ${KEYS} keys\n`)
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    process.stdout.write(`${(bytes / READS / 1e3).toFixed(0).padStart(7)} KB  ${site}\n`)
  }
} finally {
  session.disconnect()
  await cache.close()
  client.disconnect()
  await redis.stop()
}
