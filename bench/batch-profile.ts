/**
 * corral's `wrapMany` on Redis alone, for a CPU profile: rounds of cold then warm batches of
 * fresh keys on one throwaway redis-server, with a raw ioredis pipeline (SET PX / MGET +
 * JSON.parse) of the same keys in the same round for scale. Prints wall and CPU time per pass;
 * CPU time is the figure to read on a shared machine.
 *
 *   node --import tsx bench/batch-profile.ts
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/batch-profile.ts
 *   node bench/top-functions.mjs /tmp/prof/*.cpuprofile      (self time by function)
 *
 * Env: BATCH_KEYS (20,000), BATCH_VALUE_BYTES (100), BATCH_ROUNDS (5), BATCH_CHUNK (corral's default).
 */
import { Redis } from 'ioredis'
import { startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'

const KEYS = Number(process.env.BATCH_KEYS ?? 20_000)
const VALUE_BYTES = Number(process.env.BATCH_VALUE_BYTES ?? 100)
const ROUNDS = Number(process.env.BATCH_ROUNDS ?? 5)
const CHUNK = process.env.BATCH_CHUNK ? Number(process.env.BATCH_CHUNK) : undefined
const TTL_MS = 3_600_000

const row = (key: string) => ({ id: key, body: 'x'.repeat(Math.max(1, VALUE_BYTES - key.length - 20)) })

async function timed(label: string, work: () => Promise<unknown>): Promise<number> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  await work()
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  process.stderr.write(
    `${label.padEnd(12)} ${ms.toFixed(1).padStart(7)} ms wall ${((used.user + used.system) / 1000).toFixed(1).padStart(7)} ms CPU\n`,
  )
  return ms
}

const redis = await startRedis()
const raw = new Redis(redis.url, { protocol: 2 })
const client = new Redis(redis.url, { protocol: 2 })
const cache = createCache({
  name: 'profile',
  store: redisStore({ client, ...(CHUNK ? { chunk: CHUNK } : {}) }),
  ttl: TTL_MS,
  logger: false,
})
const loadMany = (missing: string[]) => new Map(missing.map((key) => [key, row(key)]))
try {
  for (let round = 0; round < ROUNDS; round++) {
    const rawKeys = Array.from({ length: KEYS }, (_, i) => `raw${round}:${i}`)
    const keys = Array.from({ length: KEYS }, (_, i) => `c${round}:${i}`)
    const rawCold = await timed('raw cold', async () => {
      const pipeline = raw.pipeline()
      for (const key of rawKeys) pipeline.set(key, JSON.stringify(row(key)), 'PX', TTL_MS)
      await pipeline.exec()
    })
    const cold = await timed('corral cold', () => cache.wrapMany(keys, loadMany))
    const rawWarm = await timed('raw warm', async () =>
      (await raw.mget(...rawKeys)).map((s) => (s === null ? undefined : JSON.parse(s))),
    )
    const warm = await timed('corral warm', async () => {
      const values = await cache.wrapMany(keys, () => {
        throw new Error('a warm read loaded')
      })
      if ((values[KEYS - 1] as { id?: string })?.id !== keys[KEYS - 1]) throw new Error('wrong value')
    })
    process.stderr.write(
      `round ${round + 1}: cold ${(cold / rawCold).toFixed(2)}x raw, warm ${(warm / rawWarm).toFixed(2)}x raw\n`,
    )
  }
} finally {
  await cache.close()
  client.disconnect()
  raw.disconnect()
  await redis.stop()
}
