/**
 * The Redis hit and miss paths alone, for a CPU profile: corral's `wrap` on a redisStore (or,
 * with the argument `raw`, hand-written cache-aside on ioredis) doing 64-caller hits on distinct
 * keys and then a loop of cold keys, nothing else in the process. Prints wall and CPU time per
 * call, the figure to read on a shared machine.
 *
 *   node --import tsx bench/redis-profile.ts [raw] [hits|miss]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/redis-profile.ts
 *   node bench/top-functions.mjs /tmp/prof/*.cpuprofile      (self time by function)
 */
import { startRedis } from '../harness/redis-server.ts'
import { type Contender, client, corralRedis, naiveRedis } from './contenders.ts'
import { CONCURRENCY, inFlight, row } from './support.ts'

const HITS = Number(process.env.BENCH_HITS ?? 200_000)
const COLD = Number(process.env.BENCH_COLD_KEYS ?? 20_000)
const raw = process.argv.includes('raw')
const only = process.argv.find((a) => a === 'hits' || a === 'miss')

/** redis-server's CPU time so far, in µs (INFO cpu). */
async function serverCpu(): Promise<number> {
  const info = await admin.info('cpu')
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6
}

async function measured(label: string, calls: number, fn: () => Promise<unknown>): Promise<void> {
  const server = await serverCpu()
  const started = performance.now()
  const cpu = process.cpuUsage()
  await fn()
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  const serverUs = (await serverCpu()) - server
  process.stderr.write(
    `${label}: ${calls} calls in ${ms.toFixed(0)} ms wall (${((calls * 1000) / ms).toFixed(0)}/s), ${((used.user + used.system) / calls).toFixed(1)} µs of CPU a call here, ${(serverUs / calls).toFixed(1)} in redis-server\n`,
  )
}

const redis = await startRedis()
const admin = await client(redis.url)
let cache: Contender | undefined
try {
  cache = raw ? await naiveRedis(redis.url) : await corralRedis('corral', redis.url)
  const c = cache
  if (only !== 'miss') {
    const keys = Array.from({ length: CONCURRENCY }, (_, i) => `hit:${i}`)
    for (const [i, key] of keys.entries()) await c.wrap(key, async () => row(i))
    for (let pass = 0; pass < 2; pass++) {
      await measured(`${c.label} hits pass ${pass + 1}`, HITS, async () => {
        for (let n = 0; n < HITS / CONCURRENCY; n++)
          await Promise.all(keys.map((key) => c.wrap(key, async () => row(0))))
      })
    }
  }
  if (only !== 'hits') {
    for (let pass = 0; pass < 2; pass++) {
      await measured(`${c.label} cold pass ${pass + 1}`, COLD, () =>
        inFlight(COLD, (i) => c.wrap(`cold:${pass}:${i}`, async () => row(i))),
      )
    }
  }
} finally {
  await cache?.close()
  await admin.quit()
  await redis.stop()
}
