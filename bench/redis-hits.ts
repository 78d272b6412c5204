/**
 * Redis hits (no L1): 64 callers in flight on distinct keys and on one key, and one caller, for
 * corral's `wrap` (untagged and with 2 tags) next to a hand-written ioredis GET + JSON.parse (plain
 * and auto-pipelined) and cache-manager on @keyv/redis, in one run. Timed with mitata's `measure`,
 * cases in a fixed order, rounds as in the hit-path bench.
 *
 *   npm run bench -- l2
 */
import type { Redis } from 'ioredis'
import { measure } from 'mitata'
import { type Contender, cacheManagerRedis, client, corralRedis } from './contenders.ts'
import { CONCURRENCY, fmtOps, fmtRatio, log, positiveInt, Rounds, row, rowJson, table } from './support.ts'

/** CPU time budget of one case in one round, in ms (mitata's min_cpu_time). */
const CASE_MS = positiveInt(process.env.BENCH_MS, 200)
/** More, shorter rounds than the other suites: on a shared 2-core machine a single round can be off by 30%. */
const L2_ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 7)
const TAGS = ['org:7', 'plan:pro']
const KEYS = Array.from({ length: CONCURRENCY }, (_, i) => `hit:${i}`)

interface Case {
  id: string
  label: string
  calls: number
  fn: () => Promise<unknown>
}

/** One iteration: every key once, all in flight together. */
function distinct(one: (key: string) => Promise<unknown>): () => Promise<unknown> {
  return () => Promise.all(KEYS.map(one))
}

/** One iteration: 64 calls for the same key in flight together. */
function sameKey(one: () => Promise<unknown>): () => Promise<unknown> {
  return () => Promise.all(KEYS.map(one))
}

function rawGet(redis: Redis): (key: string) => Promise<unknown> {
  return async (key) => JSON.parse((await redis.get(`raw:${key}`)) as string)
}

/** Runs the Redis-hit cases; returns the markdown and the ops/s by case id. */
export async function redisHits(url: string): Promise<{ lines: string[]; rounds: Rounds }> {
  const opened: Array<Contender | Redis> = []
  try {
    const raw = await client(url)
    const rawPipelined = await client(url, { enableAutoPipelining: true })
    opened.push(raw, rawPipelined)
    for (const [i, key] of KEYS.entries()) await raw.set(`raw:${key}`, rowJson(i))
    const cm = cacheManagerRedis(url)
    const plain = await corralRedis('corral', url, { namespace: 'plain' })
    const pipelined = await corralRedis('corral pipelined', url, { namespace: 'pipelined', autoPipelining: true })
    opened.push(cm, plain, pipelined)
    let loads = 0
    const loader = (i: number) => async () => {
      loads++
      return row(i)
    }
    const tagged = (key: string) => plain.cache.wrap(`t:${key}`, loader(0), { tags: TAGS })
    // Prime: the first wrap of each key is the miss; every measured call must then be a hit.
    for (const [i, key] of KEYS.entries()) {
      await cm.wrap(key, loader(i))
      await plain.wrap(key, loader(i))
      await pipelined.wrap(key, loader(i))
      await tagged(key)
    }
    const primed = loads
    const first = KEYS[0] as string
    // Each contender right after its baseline: a ratio compares figures taken moments apart.
    const cases: Case[] = [
      { id: 'raw1', label: 'ioredis GET + JSON.parse, 1 caller', calls: 1, fn: () => rawGet(raw)(first) },
      { id: 'corral1', label: 'corral `wrap`, 1 caller', calls: 1, fn: () => plain.wrap(first, loader(0)) },
      { id: 'tagged1', label: 'corral `wrap`, 2 tags, 1 caller', calls: 1, fn: () => tagged(first) },
      { id: 'raw', label: 'ioredis GET + JSON.parse, 64 callers, distinct keys', calls: 64, fn: distinct(rawGet(raw)) },
      {
        id: 'corral',
        label: 'corral `wrap`, 64 callers, distinct keys',
        calls: 64,
        fn: distinct((key) => plain.wrap(key, loader(0))),
      },
      { id: 'tagged', label: 'corral `wrap`, 2 tags, 64 callers, distinct keys', calls: 64, fn: distinct(tagged) },
      {
        id: 'rawPipelined',
        label: 'ioredis GET + JSON.parse, auto-pipelined, 64 callers, distinct keys',
        calls: 64,
        fn: distinct(rawGet(rawPipelined)),
      },
      {
        id: 'corralPipelined',
        label: 'corral `wrap`, auto-pipelined client, 64 callers, distinct keys',
        calls: 64,
        fn: distinct((key) => pipelined.wrap(key, loader(0))),
      },
      {
        id: 'cacheManager',
        label: 'cache-manager 7 `wrap` (@keyv/redis), 64 callers, distinct keys',
        calls: 64,
        fn: distinct((key) => cm.wrap(key, loader(0))),
      },
      {
        id: 'rawSame',
        label: 'ioredis GET + JSON.parse, 64 callers, one key',
        calls: 64,
        fn: sameKey(() => rawGet(raw)(first)),
      },
      {
        id: 'corralSame',
        label: 'corral `wrap`, 64 callers, one key',
        calls: 64,
        fn: sameKey(() => plain.wrap(first, loader(0))),
      },
    ]
    const rounds = new Rounds()
    for (let round = 1; round <= L2_ROUNDS; round++) {
      for (const c of cases) {
        const stats = await measure(c.fn, { min_cpu_time: CASE_MS * 1e6 })
        const ops = (c.calls * 1e9) / stats.avg
        rounds.add(c.id, ops)
        log(`round ${round}/${L2_ROUNDS}  ${c.label.padEnd(66)} ${fmtOps(ops).padStart(8)} ops/s`)
      }
    }
    if (loads !== primed) throw new Error(`${loads - primed} loader calls during the measured (hit) runs`)
    const vs: Record<string, string> = {
      raw1: '1.00x (baseline, 1 caller)',
      corral1: `${fmtRatio(rounds.ratio('corral1', 'raw1'))} of raw, 1 caller`,
      tagged1: `${fmtRatio(rounds.ratio('tagged1', 'corral1'))} of an untagged hit, 1 caller`,
      raw: '1.00x (baseline, 64 callers)',
      rawPipelined: `${fmtRatio(rounds.ratio('rawPipelined', 'raw'))} of raw`,
      cacheManager: `${fmtRatio(rounds.ratio('cacheManager', 'raw'))} of raw`,
      corral: `**${fmtRatio(rounds.ratio('corral', 'raw'))} of raw**; ${fmtRatio(rounds.ratio('corral', 'cacheManager'))} of cache-manager`,
      corralPipelined: `${fmtRatio(rounds.ratio('corralPipelined', 'raw'))} of raw; ${fmtRatio(rounds.ratio('corralPipelined', 'rawPipelined'))} of raw auto-pipelined`,
      tagged: `**${fmtRatio(rounds.ratio('tagged', 'corral'))} of an untagged hit**`,
      rawSame: `${fmtRatio(rounds.ratio('rawSame', 'raw'))} of distinct keys`,
      corralSame: `${fmtRatio(rounds.ratio('corralSame', 'rawSame'))} of raw, one key`,
    }
    const lines = [
      `Redis hits (redisStore, no L1), a 200 B row per key: ${L2_ROUNDS} rounds x ${CASE_MS} ms of CPU per case; ops/s = median of rounds, ratio = median of per-round ratios. For 64 callers one iteration is \`Promise.all\` of 64 calls and ops/s counts each call.`,
      '',
      ...table(
        ['case', 'ops/s', 'ratio'],
        ['l', 'r', 'l'],
        cases.map((c) => [c.label, fmtOps(rounds.median(c.id)), vs[c.id] ?? '']),
      ),
      '',
      `Per round (ops/s): ${rounds.perRound(fmtOps)}.`,
    ]
    return { lines, rounds }
  } finally {
    for (const thing of opened.reverse()) {
      try {
        await ('wrap' in thing ? thing.close() : thing.quit())
      } catch (error) {
        log(`cleanup failed: ${String(error)}`)
      }
    }
  }
}
