/**
 * What a miss costs on Redis: the commands one cold `wrap` sends (counted with MONITOR), and the
 * time to read 20,000 cold keys through a loop of `wrap` with 64 calls in flight, next to naive
 * cache-aside on raw ioredis and the peers, in one run.
 *
 *   npm run bench -- miss
 */
import type { Redis } from 'ioredis'
import { commandsDuring } from '../harness/redis-monitor.ts'
import { bentoTiered, type Contender, cacheManagerRedis, client, corralRedis, naiveRedis } from './contenders.ts'
import { fmtMs, fmtRatio, inFlight, log, positiveInt, Rounds, row, table, timed } from './support.ts'

/** More rounds than the other suites: on a shared 2-core machine one round can be off by 30%. */
const ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 5)

export const COLD_KEYS = Number(process.env.BENCH_COLD_KEYS ?? 20_000)

interface Made {
  id: string
  make: () => Promise<Contender>
}

function contenders(url: string): Made[] {
  // corral right after naive cache-aside: the ratio to read compares runs taken moments apart.
  return [
    { id: 'naive', make: () => naiveRedis(url) },
    { id: 'corral', make: () => corralRedis('corral `wrap` (redisStore)', url) },
    { id: 'naivePipelined', make: () => naiveRedis(url, true) },
    {
      id: 'corralPipelined',
      make: () => corralRedis('corral `wrap` (redisStore), auto-pipelined client', url, { autoPipelining: true }),
    },
    { id: 'cacheManager', make: async () => cacheManagerRedis(url) },
    { id: 'bento', make: async () => bentoTiered(url, 100_000) },
    {
      id: 'corralL1',
      make: () => corralRedis('corral `wrap` (L1 + redisStore + bus)', url, { l1: { maxEntries: 100_000 } }),
    },
    { id: 'corralLock', make: () => corralRedis('corral `wrap` (redisStore), `lock: true`', url, { lock: true }) },
  ]
}

/** One cold `wrap` of `contender`, as MONITOR saw it (harness/redis-monitor.ts). */
function commandsPerMiss(admin: Redis, contender: Contender): Promise<string[]> {
  return commandsDuring(admin, () => contender.wrap(`count:${Math.random()}`, async () => row(1)))
}

/** Runs the miss-path cases; returns the markdown (table and notes) and the figures by case id. */
export async function missPath(
  url: string,
): Promise<{ lines: string[]; rounds: Rounds; commands: Map<string, string[]> }> {
  const admin = await client(url)
  const rounds = new Rounds()
  const labels = new Map<string, string>()
  const commands = new Map<string, string[]>()
  try {
    for (const { id, make } of contenders(url)) {
      const contender = await make()
      labels.set(id, contender.label)
      try {
        // A first miss opens what a contender opens lazily (a subscription, a script load): not counted.
        await contender.wrap(`warm:${id}`, async () => row(0))
        commands.set(id, await commandsPerMiss(admin, contender))
      } finally {
        await contender.close()
      }
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const { id, make } of contenders(url)) {
        await admin.flushall()
        const contender = await make()
        try {
          const prefix = `cold:${round}:${id}:`
          const ms = await timed(() => inFlight(COLD_KEYS, (i) => contender.wrap(`${prefix}${i}`, async () => row(i))))
          rounds.add(id, ms)
          log(`round ${round}/${ROUNDS}  ${contender.label.padEnd(62)} ${fmtMs(ms).padStart(7)} ms`)
        } finally {
          await contender.close()
        }
      }
    }
  } finally {
    await admin.quit()
  }
  const rows = [...labels].map(([id, label]) => {
    const sent = commands.get(id) ?? []
    return [
      label,
      String(sent.length),
      sent.join(', '),
      fmtMs(rounds.median(id)),
      `${fmtRatio(rounds.ratio(id, 'naive'))}`,
    ]
  })
  const lines = [
    `${COLD_KEYS.toLocaleString('en')} cold keys through a loop of \`wrap\` (64 calls in flight, the loader returns a fresh 200 B row at once); median of ${ROUNDS} rounds, ratio = median of per-round ratios to naive cache-aside. Commands per miss: one cold \`wrap\` as MONITOR saw it (commands inside scripts not counted).`,
    '',
    ...table(
      ['contender', 'commands per miss', 'which', `${COLD_KEYS.toLocaleString('en')} cold keys (ms)`, 'vs naive'],
      ['l', 'r', 'l', 'r', 'r'],
      rows,
    ),
    '',
    `Per round (ms): ${rounds.perRound(fmtMs)}.`,
  ]
  return { lines, rounds, commands }
}
