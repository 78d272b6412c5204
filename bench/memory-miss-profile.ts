/**
 * The memory-store miss path alone, for a CPU profile: 100,000 cold keys through corral's `wrap`
 * on a memoryStore (or, with the argument `lru`, hand-written cache-aside on lru-cache), 64 calls
 * in flight, three passes, nothing else in the process. Prints CPU time per miss, which is the
 * figure to read on a shared machine (wall time there includes waiting for a core).
 *
 *   node --import tsx bench/memory-miss-profile.ts [lru]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/memory-miss-profile.ts
 *   node bench/top-functions.mjs /tmp/prof/*.cpuprofile      (self time by function)
 */
import { memoryStore } from '../src/index.ts'
import { corral, lruAside } from './contenders.ts'
import { inFlight, row } from './support.ts'

const KEYS = Number(process.env.BENCH_FILL_KEYS ?? 100_000)
const lru = process.argv[2] === 'lru'
for (let pass = 0; pass < 3; pass++) {
  const cache = lru ? lruAside(KEYS) : corral('corral', { store: memoryStore({ maxEntries: KEYS }) })
  const started = performance.now()
  const cpu = process.cpuUsage()
  await inFlight(KEYS, (i) => cache.wrap(`p${pass}:${i}`, async () => row(i)))
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  process.stderr.write(
    `${cache.label} pass ${pass + 1}: ${KEYS} misses in ${ms.toFixed(0)} ms wall, ${((used.user + used.system) / KEYS).toFixed(1)} µs of CPU a miss\n`,
  )
  await cache.close()
}
