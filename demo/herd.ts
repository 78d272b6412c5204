import { memcachedServersFrom, startDemo } from './app.ts'
import { type HerdRun, MODE_LABELS, type Mode } from './stampede.ts'

/**
 * `npm run demo:herd`: a cold start, measured, in each mode on one demo server and one origin:
 * the same POST /herd the page's button sends (the herd is fired inside the server), printed side
 * by side.
 */
const REQUESTS = Number(process.env.HERD_REQUESTS ?? 500)
const IDS = Number(process.env.HERD_IDS ?? 20)
const MODES: Mode[] = ['off', 'aside', 'corral']

const demo = await startDemo({
  port: 0,
  redisUrl: process.env.REDIS_URL || undefined,
  memcachedServers: memcachedServersFrom(process.env),
  mysqlUrl: process.env.MYSQL_URL || undefined,
  queryMs: process.env.QUERY_MS ? Number(process.env.QUERY_MS) : undefined,
  namespace: `herd:${process.pid}:${Date.now()}`,
})
const rows: HerdRun[] = []
try {
  console.log(`cold start: ${REQUESTS} concurrent reads of GET /persons/:id over ${IDS} ids, fired inside the server`)
  console.log(`origin: ${demo.origin.description}; store: ${demo.store}\n`)
  for (const mode of MODES) {
    const res = await fetch(`${demo.url}/herd`, {
      method: 'POST',
      body: JSON.stringify({ mode, requests: REQUESTS, ids: IDS }),
    })
    const body = (await res.json()) as HerdRun & { error?: string }
    if (!res.ok) throw new Error(`POST /herd ${mode}: ${body.error}`)
    rows.push(body)
  }
} finally {
  await demo.close()
}

const ms = (n: number) => `${Math.round(n)} ms`
const table = [
  ['', 'origin queries', 'coalesced', 'peak at origin', 'p50', 'p99', 'all done', 'errors'],
  ...rows.map((r) => [
    MODE_LABELS[r.mode],
    String(r.queries),
    String(r.coalesced),
    String(r.peakConcurrentQueries),
    ms(r.p50Ms),
    ms(r.p99Ms),
    ms(r.ms),
    String(r.errors),
  ]),
]
const widths = (table[0] as string[]).map((_, c) => Math.max(...table.map((row) => (row[c] as string).length)))
for (const [i, row] of table.entries()) {
  console.log(
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('   '),
  )
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('   '))
}
const corral = rows.at(-1) as HerdRun
const none = rows[0] as HerdRun
console.log(
  `\ncorral: ${corral.queries} queries for ${REQUESTS} requests (one per id), ` +
    `${(none.queries / Math.max(1, corral.queries)).toFixed(0)}x fewer than without a cache.`,
)
