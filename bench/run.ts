/**
 * `npm run bench -- [suite...]`: runs the named suites in one process and prints their tables
 * (markdown) on stdout, progress on stderr.
 *
 *   hit      hit path, memory and Redis (bench/hit-path.ts; the default; `hit-path` also works)
 *   batch    wrapMany against a raw pipeline and the peers (bench/batch.ts)
 *   miss     commands per miss and 20,000 cold keys on Redis (bench/miss-path.ts)
 *   memory   fill 100,000 keys into the memory tier and into L1 + Redis + bus, time and heap (bench/fill.ts)
 *   l2       Redis hits, 64 callers, distinct keys, tagged and untagged (bench/redis-hits.ts)
 *   table    miss, memory and l2 in one run, and the summary table of all three
 *
 * hit and batch start their own redis-server and run when imported; miss, memory and l2 share one.
 * BENCH_ROUNDS (default 3; hit: 5) and BENCH_MS (CPU ms per timed case, default 400) change the budget.
 */
import { startRedis } from '../harness/redis-server.ts'
import { fill } from './fill.ts'
import { missPath } from './miss-path.ts'
import { redisHits } from './redis-hits.ts'
import { summary } from './summary.ts'
import { log, machine } from './support.ts'

const SUITES = ['hit', 'batch', 'miss', 'memory', 'l2', 'table'] as const
type Suite = (typeof SUITES)[number]
const ALIASES: Readonly<Record<string, Suite>> = { 'hit-path': 'hit' }

const asked: Suite[] = []
for (const raw of process.argv.slice(2)) {
  const name = ALIASES[raw] ?? raw
  if (!(SUITES as readonly string[]).includes(name)) {
    log(`unknown suite ${JSON.stringify(raw)}; one or more of: ${SUITES.join(', ')}`)
    process.exit(2)
  }
  asked.push(name as Suite)
}
const suites = new Set<Suite>(asked.length ? asked : ['hit'])
if (suites.has('table')) for (const s of ['miss', 'memory', 'l2'] as const) suites.add(s)

if (suites.has('hit')) await import('./hit-path.ts')
if (suites.has('batch')) await import('./batch.ts')

if (suites.has('miss') || suites.has('memory') || suites.has('l2')) {
  const started = Date.now()
  const head = machine()
  const redis = await startRedis()
  log(`redis-server on ${redis.url}`)
  const out: string[] = []
  try {
    const miss = suites.has('miss') ? await missPath(redis.url) : undefined
    const filled = suites.has('memory') ? await fill(redis.url) : undefined
    const hits = suites.has('l2') ? await redisHits(redis.url) : undefined
    out.push(head, '')
    if (miss && filled && hits) out.push('### Summary', '', ...summary(miss, filled, hits), '')
    if (miss) out.push('### Misses on Redis', '', ...miss.lines, '')
    if (filled) out.push('### Filling the cache', '', ...filled.lines, '')
    if (hits) out.push('### Redis hits', '', ...hits.lines, '')
    out.push(`Total time ${((Date.now() - started) / 1000).toFixed(1)} s.`)
    process.stdout.write(`${out.join('\n')}\n`)
  } finally {
    await redis.stop()
  }
}
