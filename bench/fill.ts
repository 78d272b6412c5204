/**
 * What filling a cache costs: 100,000 distinct keys read through a loop of `wrap` (64 calls in
 * flight, every one a miss whose loader returns a fresh 200 B row), into the memory tier and into
 * L1 + Redis + bus, with the time taken and the heap the filled cache holds. Run with
 * `--expose-gc` (`npm run bench` does) or the heap column stays empty.
 *
 *   npm run bench -- memory
 */
import { Redis } from 'ioredis'
import { memoryStore } from '../src/index.ts'
import {
  bentoMemory,
  bentoTiered,
  type Contender,
  cacheManagerMemory,
  corral,
  corralRedis,
  lruAside,
} from './contenders.ts'
import {
  fmtMb,
  fmtMs,
  fmtRatio,
  fmtUs,
  inFlight,
  log,
  ROUNDS,
  Rounds,
  row,
  settledHeap,
  table,
  timed,
} from './support.ts'

export const FILL_KEYS = Number(process.env.BENCH_FILL_KEYS ?? 100_000)

interface Made {
  id: string
  tier: 'memory' | 'l1'
  make: () => Promise<Contender>
}

function contenders(url: string): Made[] {
  const max = FILL_KEYS
  return [
    { id: 'lru', tier: 'memory', make: async () => lruAside(max) },
    { id: 'cacheManager', tier: 'memory', make: async () => cacheManagerMemory() },
    { id: 'bentoMemory', tier: 'memory', make: async () => bentoMemory(max) },
    {
      id: 'corralMemory',
      tier: 'memory',
      make: async () => corral('corral `wrap` (memoryStore)', { store: memoryStore({ maxEntries: max }) }),
    },
    { id: 'bentoTiered', tier: 'l1', make: async () => bentoTiered(url, max) },
    {
      id: 'corralTiered',
      tier: 'l1',
      make: () => corralRedis('corral `wrap` (L1 + redisStore + bus)', url, { l1: { maxEntries: max } }),
    },
  ]
}

/**
 * Fills each contender in turn, `ROUNDS` times. The heap is read after a full collection before
 * the contender is made and again once it is filled (still referenced), so its growth counts
 * everything the filled cache holds: values, keys, entries and the cache's own structures.
 */
export async function fill(url: string): Promise<{ lines: string[]; time: Rounds; heap: Rounds }> {
  const admin = new Redis(url, { protocol: 2 })
  const time = new Rounds()
  const heap = new Rounds()
  const labels = new Map<string, string>()
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const { id, make } of contenders(url)) {
        await admin.flushall()
        const before = settledHeap()
        const contender = await make()
        labels.set(id, contender.label)
        try {
          const ms = await timed(() => inFlight(FILL_KEYS, (i) => contender.wrap(`fill:${i}`, async () => row(i))))
          const after = settledHeap()
          // A cache that evicted or lost keys would look cheap: every key must still be there.
          const probe = (await contender.wrap(`fill:${FILL_KEYS - 1}`, async () => 'missing')) as { id?: number }
          if (probe?.id !== FILL_KEYS - 1) throw new Error(`${contender.label}: the last key filled is not cached`)
          time.add(id, ms)
          if (before !== undefined && after !== undefined) heap.add(id, after - before)
          log(
            `round ${round}/${ROUNDS}  ${contender.label.padEnd(55)} ${fmtMs(ms).padStart(7)} ms` +
              (after !== undefined && before !== undefined ? `  heap +${fmtMb(after - before)}` : ''),
          )
        } finally {
          await contender.close()
        }
      }
    }
  } finally {
    await admin.quit()
  }
  const rows = contenders(url).map(({ id, tier }) => {
    const base = tier === 'memory' ? 'lru' : 'bentoTiered'
    return [
      labels.get(id) ?? id,
      fmtMs(time.median(id)),
      fmtUs((time.median(id) * 1000) / FILL_KEYS),
      fmtRatio(time.ratio(id, base)),
      heap.has(id) ? fmtMb(heap.median(id)) : 'n/a',
      heap.has(id) ? String(Math.round(heap.median(id) / FILL_KEYS)) : 'n/a',
      heap.has(id) ? fmtRatio(heap.ratio(id, 'lru')) : 'n/a',
    ]
  })
  const lines = [
    `Fill ${FILL_KEYS.toLocaleString('en')} keys: a loop of \`wrap\` with 64 calls in flight, every call a miss whose loader returns a fresh 200 B row (a parsed JSON object). Time and heap growth (after a full GC, the filled cache still referenced, minus before it was made) are medians of ${ROUNDS} rounds; time ratios are to lru-cache (memory tier) or bentocache (L1 + Redis), heap ratios to lru-cache.`,
    '',
    ...table(
      ['contender', 'fill (ms)', 'µs per miss', 'time ratio', 'heap growth', 'B per key', 'heap vs lru-cache'],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
    ),
    '',
    `Per round (ms): ${time.perRound(fmtMs)}.`,
    heap.has('lru') ? `Per round (heap): ${heap.perRound(fmtMb)}.` : 'Heap not measured: run with node --expose-gc.',
  ]
  return { lines, time, heap }
}
