import { get } from 'node:http'
import { type Mode, memcachedServersFrom, startDemo } from './app.ts'

/**
 * `npm run demo:herd`: a cold start, measured. The demo is started in this process once per mode
 * (fresh cache, fresh count of queries), hit by a burst of concurrent requests over a few person
 * ids, and the origin queries and latencies are printed side by side.
 */
const REQUESTS = Number(process.env.HERD_REQUESTS ?? 500)
const IDS = Number(process.env.HERD_IDS ?? 20)
const MODES: { mode: Mode; label: string }[] = [
  { mode: 'off', label: 'no cache' },
  { mode: 'aside', label: 'cache-aside (get/query/set)' },
  { mode: 'corral', label: 'corral' },
]

/** One GET on a connection of its own (agent: false): a burst of clients, not one client's queue. */
function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    }).once('error', reject)
  })
}

interface Row {
  label: string
  queries: number
  p50: number
  p99: number
  wall: number
  errors: number
}

async function run(mode: Mode, label: string): Promise<Row> {
  const demo = await startDemo({
    port: 0,
    mode,
    redisUrl: process.env.REDIS_URL || undefined,
    memcachedServers: memcachedServersFrom(process.env),
    mysqlUrl: process.env.MYSQL_URL || undefined,
    namespace: `herd:${process.pid}:${Date.now()}:${mode}`,
  })
  try {
    const latencies: number[] = []
    let errors = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const t = performance.now()
        if ((await status(`${demo.url}/persons/${(i % IDS) + 1}`)) !== 200) errors += 1
        latencies.push(performance.now() - t)
      }),
    )
    const wall = performance.now() - started
    latencies.sort((a, b) => a - b)
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
    return { label, queries: demo.origin.queries, p50: at(0.5), p99: at(0.99), wall, errors }
  } finally {
    await demo.close()
  }
}

const first = await startDemo({ port: 0, mode: 'off', mysqlUrl: process.env.MYSQL_URL || undefined })
const origin = first.origin.description
await first.close()
console.log(`cold start: ${REQUESTS} concurrent GET /persons/:id over ${IDS} ids`)
const storeName = process.env.REDIS_URL ? 'Redis' : memcachedServersFrom(process.env) ? 'Memcached' : undefined
console.log(`origin: ${origin}; store: ${storeName ? `${storeName} (lock: true)` : 'memory'}\n`)

const rows: Row[] = []
for (const { mode, label } of MODES) rows.push(await run(mode, label))

const ms = (n: number) => `${Math.round(n)} ms`
const table = [
  ['', 'origin queries', 'p50', 'p99', 'all done', 'errors'],
  ...rows.map((r) => [r.label, String(r.queries), ms(r.p50), ms(r.p99), ms(r.wall), String(r.errors)]),
]
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)))
for (const [i, row] of table.entries()) {
  console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   '))
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('   '))
}
const corral = rows.at(-1)!
const none = rows[0]!
console.log(
  `\ncorral: ${corral.queries} queries for ${REQUESTS} requests (one per id), ` +
    `${(none.queries / Math.max(1, corral.queries)).toFixed(0)}x fewer than without a cache.`,
)
