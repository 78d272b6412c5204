/**
 * The memory-store miss path alone, for a CPU profile: 100,000 cold keys through corral's `wrap`
 * on a memoryStore (or, with the argument `lru`, hand-written cache-aside on lru-cache), 64 calls
 * in flight, three passes, nothing else in the process. Prints CPU time per miss, which is the
 * figure to read on a shared machine (wall time there includes waiting for a core). With `both`,
 * the two alternate pass by pass (5 passes each, `PASSES` to change) and the ratio of their best
 * passes is printed: the steadiest comparison on a busy machine.
 *
 *   node --import tsx bench/memory-miss-profile.ts [lru|both]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/memory-miss-profile.ts
 *   node bench/top-functions.mjs /tmp/prof/*.cpuprofile      (self time by function)
 */
import { memoryStore } from '../src/index.ts'
import { corral, lruAside } from './contenders.ts'
import { inFlight, row } from './support.ts'

const KEYS = Number(process.env.BENCH_FILL_KEYS ?? 100_000)
const mode = process.argv[2]
const kinds =
  mode === 'both' ? (['lru', 'corral'] as const) : mode === 'lru' ? (['lru'] as const) : (['corral'] as const)
const passes = mode === 'both' ? Number(process.env.PASSES ?? 5) : 3
const best = new Map<string, number>()
for (let pass = 0; pass < passes; pass++) {
  for (const kind of kinds) {
    const cache = kind === 'lru' ? lruAside(KEYS) : corral('corral', { store: memoryStore({ maxEntries: KEYS }) })
    const started = performance.now()
    const cpu = process.cpuUsage()
    await inFlight(KEYS, (i) => cache.wrap(`p${pass}:${i}`, async () => row(i)))
    const ms = performance.now() - started
    const used = process.cpuUsage(cpu)
    const perMiss = (used.user + used.system) / KEYS
    best.set(kind, Math.min(best.get(kind) ?? Number.POSITIVE_INFINITY, perMiss))
    process.stderr.write(
      `${cache.label} pass ${pass + 1}: ${KEYS} misses in ${ms.toFixed(0)} ms wall, ${perMiss.toFixed(1)} µs of CPU a miss\n`,
    )
    await cache.close()
  }
}
const lru = best.get('lru')
const ours = best.get('corral')
if (lru !== undefined && ours !== undefined) {
  process.stderr.write(
    `best pass: lru-cache ${lru.toFixed(1)} µs, corral ${ours.toFixed(1)} µs of CPU a miss: ${(ours / lru).toFixed(2)}x\n`,
  )
}
