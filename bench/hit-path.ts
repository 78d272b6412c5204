/**
 * Hit-path throughput, side by side in one process and one run: every ratio compares numbers
 * measured seconds apart in the same process, never figures from different runs.
 *
 *   npm run bench                       (node --import tsx bench/hit-path.ts)
 *   BENCH_ROUNDS=7 BENCH_MS=600 npm run bench
 *
 * Each case is timed with mitata's `measure` (the engine behind `run()`, called directly so that
 * every case gets the same CPU-time budget). All cases run in ROUNDS rounds, always in the same
 * order, and a case and its baseline sit next to each other. A ratio is the median over rounds of
 * (case / baseline) within a round, so a round slowed by something else on a 2-core machine
 * (redis-server, another process) moves both sides together; ops/s is the median over rounds.
 *
 * The peers (cache-manager 7, bentocache 1.6) are installed in bench/peers/ with their own
 * package.json: bentocache 1.6 wants ioredis 5 as a peer and corral depends on ioredis 6.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { cpus } from 'node:os'
import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { do_not_optimize, measure } from 'mitata'
import { Registry } from 'prom-client'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { type Cache, CHANNEL_NAMES, createCache, redisStore } from '../src/index.ts'
import { BentoCache, bentostore, createCacheManager, memoryDriver } from './peers/index.ts'

const ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 5)
/** CPU time budget of one case in one round, in ms (mitata's min_cpu_time). */
const CASE_MS = positiveInt(process.env.BENCH_MS, 400)
const FANOUT = 64
const KEY = 'k'
/** A small row, as a cached user record would be. */
const VALUE = Object.freeze({ id: 42, name: 'Ada Lovelace', email: 'ada@example.com', roles: ['admin', 'dev'] })
const JSON_VALUE = JSON.stringify(VALUE)
/** Counts loader calls: after priming, every measured call must be a hit that never loads. */
let loads = 0
const loader = async () => {
  loads++
  return VALUE
}

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

interface Case {
  id: string
  label: string
  /** Calls per invocation of `fn` (64 for the fan-out cases): ops/s counts each call. */
  calls: number
  fn: () => unknown
  /** Run before and after the case is measured, in every round (e.g. attach a subscriber). */
  before?: () => void
  after?: () => void
}

/** A subscriber that does nothing, on every corral channel: the cost of the events alone. */
let subscribed = 0
const noopSubscriber = () => {
  subscribed++
}
const subscribeAll = () => {
  for (const name of Object.values(CHANNEL_NAMES)) subscribe(name, noopSubscriber)
}
const unsubscribeAll = () => {
  for (const name of Object.values(CHANNEL_NAMES)) unsubscribe(name, noopSubscriber)
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

function fanout<T>(one: () => Promise<T>): () => Promise<T[]> {
  return () => {
    const calls = new Array<Promise<T>>(FANOUT)
    for (let i = 0; i < FANOUT; i++) calls[i] = one()
    return Promise.all(calls)
  }
}

function expectValue(v: unknown, where: string): void {
  const row = v as { id?: unknown } | undefined
  if (row?.id !== VALUE.id) throw new Error(`${where}: expected a hit on ${JSON.stringify(VALUE)}, got ${String(v)}`)
}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`)
}

async function main(): Promise<void> {
  const started = Date.now()
  const cleanups: Array<() => Promise<unknown> | unknown> = []
  let redis: RedisServer | undefined
  try {
    // --- memory tier -------------------------------------------------------------------------
    const lru = new LRUCache<string, typeof VALUE>({ max: 10_000 })
    lru.set(KEY, VALUE)

    const corralOff: Cache = createCache({ ttl: '1h', logger: false })
    const registry = new Registry()
    const corralOn: Cache = createCache({ ttl: '1h', logger: false, metrics: { registry } })
    cleanups.push(
      () => corralOff.close(),
      () => corralOn.close(),
    )

    const cacheManager = createCacheManager()
    cleanups.push(() => cacheManager.disconnect())
    const bento = new BentoCache({
      default: 'memory',
      stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) },
    })
    cleanups.push(() => bento.disconnect())
    const bentoGetOrSet = () => bento.getOrSet({ key: KEY, factory: loader, ttl: '1h' })
    const cacheManagerWrap = () => cacheManager.wrap(KEY, loader, 3_600_000)

    // --- redis tier ----------------------------------------------------------------------------
    redis = await startRedis()
    log(`redis-server on ${redis.url}`)
    const rawClient = new Redis(redis.url, { protocol: 2, lazyConnect: true })
    const corralClient = new Redis(redis.url, { protocol: 2, lazyConnect: true })
    // With a `commandTimeout` on the client, redisStore relies on it instead of arming a timer of
    // its own around every command (see RedisStore#run): measured as a variant.
    const timedClient = new Redis(redis.url, { protocol: 2, commandTimeout: 500, lazyConnect: true })
    cleanups.push(
      () => rawClient.quit(),
      () => corralClient.quit(),
      () => timedClient.quit(),
    )
    await Promise.all([rawClient.connect(), corralClient.connect(), timedClient.connect()])
    await rawClient.set('raw:k', JSON_VALUE)
    const corralRedis: Cache = createCache({ store: redisStore({ client: corralClient }), ttl: '1h', logger: false })
    const corralTimed: Cache = createCache({ store: redisStore({ client: timedClient }), ttl: '1h', logger: false })
    cleanups.push(
      () => corralRedis.close(),
      () => corralTimed.close(),
    )
    const l1Client = new Redis(redis.url, { protocol: 2, lazyConnect: true })
    cleanups.push(() => l1Client.quit())
    await l1Client.connect()
    const corralL1: Cache = createCache({
      store: redisStore({ client: l1Client }),
      l1: { maxEntries: 10_000 },
      ttl: '1h',
      logger: false,
    })
    cleanups.push(() => corralL1.close())
    await new Promise((r) => setTimeout(r, 200)) // L1 is trusted once its bus subscription is up
    const TAGS = { tags: ['org:7', 'plan:pro'] }
    const corralL1Wrap = () => corralL1.wrap(KEY, loader)
    const corralL1Tagged = () => corralL1.wrap('tagged', loader, TAGS)
    const corralRedisTagged = () => corralRedis.wrap('tagged', loader, TAGS)
    const rawGet = async () => JSON.parse((await rawClient.get('raw:k')) as string) as typeof VALUE
    const corralRedisWrap = () => corralRedis.wrap(KEY, loader)
    const corralTimedWrap = () => corralTimed.wrap(KEY, loader)

    // Prime every cache (the first wrap is the miss) and check that each case really hits.
    for (const [where, v] of [
      ['corral memory wrap', await corralOff.wrap(KEY, loader)],
      ['corral memory wrap (metrics)', await corralOn.wrap(KEY, loader)],
      ['corral memory get', await corralOff.get(KEY)],
      ['cache-manager wrap', await cacheManagerWrap()],
      ['bentocache getOrSet', await bentoGetOrSet()],
      ['raw ioredis GET', await rawGet()],
      ['corral redis wrap', await corralRedisWrap()],
      ['corral redis wrap (again)', await corralRedisWrap()],
      ['corral redis wrap (commandTimeout)', await corralTimedWrap()],
      ['corral L1 wrap', await corralL1Wrap()],
      ['corral L1 wrap (again)', await corralL1Wrap()],
      ['corral redis tagged wrap', await corralRedisTagged()],
      ['corral L1 tagged wrap', await corralL1Tagged()],
      ['corral L1 tagged wrap (again)', await corralL1Tagged()],
    ] as const) {
      expectValue(v, where)
    }
    const primedLoads = loads

    const cases: Case[] = [
      { id: 'lru', label: 'lru-cache `get` (sync)', calls: 1, fn: () => do_not_optimize(lru.get(KEY)) },
      {
        id: 'lruAsync',
        label: 'lru-cache `get` in an async fn',
        calls: 1,
        fn: async () => lru.get(KEY),
      },
      { id: 'wrapOff', label: 'corral memory `wrap`, metrics off', calls: 1, fn: () => corralOff.wrap(KEY, loader) },
      { id: 'wrapOn', label: 'corral memory `wrap`, metrics on', calls: 1, fn: () => corralOn.wrap(KEY, loader) },
      {
        id: 'wrapEvents',
        label: 'corral memory `wrap`, a diagnostics_channel subscriber',
        calls: 1,
        fn: () => corralOff.wrap(KEY, loader),
        before: subscribeAll,
        after: unsubscribeAll,
      },
      { id: 'get', label: 'corral memory `get`', calls: 1, fn: () => corralOff.get(KEY) },
      { id: 'cm', label: 'cache-manager 7 `wrap` (default memory)', calls: 1, fn: cacheManagerWrap },
      { id: 'bento', label: 'bentocache 1.6 L1 `getOrSet`', calls: 1, fn: bentoGetOrSet },
      { id: 'l1', label: 'corral L1 + redis `wrap` (L1 hit)', calls: 1, fn: corralL1Wrap },
      { id: 'l1Tagged', label: 'corral L1 + redis `wrap`, 2 tags (L1 hit)', calls: 1, fn: corralL1Tagged },
      { id: 'rawRedis1', label: 'ioredis `GET` + `JSON.parse`, 1 caller', calls: 1, fn: rawGet },
      { id: 'corralRedis1', label: 'corral redis `wrap`, 1 caller', calls: 1, fn: corralRedisWrap },
      {
        id: 'corralTimed1',
        label: 'corral redis `wrap`, 1 caller, client `commandTimeout`',
        calls: 1,
        fn: corralTimedWrap,
      },
      { id: 'tagged1', label: 'corral redis `wrap`, 2 tags, 1 caller', calls: 1, fn: corralRedisTagged },
      {
        id: 'rawRedis64',
        label: `ioredis \`GET\` + \`JSON.parse\`, ${FANOUT} callers`,
        calls: FANOUT,
        fn: fanout(rawGet),
      },
      {
        id: 'corralRedis64',
        label: `corral redis \`wrap\`, ${FANOUT} callers`,
        calls: FANOUT,
        fn: fanout(corralRedisWrap),
      },
      {
        id: 'corralTimed64',
        label: `corral redis \`wrap\`, ${FANOUT} callers, client \`commandTimeout\``,
        calls: FANOUT,
        fn: fanout(corralTimedWrap),
      },
    ]

    /** ops/s of each case, one number per round. */
    const perRound = new Map<string, number[]>(cases.map((c) => [c.id, []]))
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of cases) {
        c.before?.()
        const stats = await measure(c.fn, { min_cpu_time: CASE_MS * 1e6 })
        c.after?.()
        const ops = (c.calls * 1e9) / stats.avg
        perRound.get(c.id)?.push(ops)
        log(`round ${round}/${ROUNDS}  ${c.label.padEnd(58)} ${fmtOps(ops).padStart(8)} ops/s`)
      }
    }

    // Every measured call must have been a hit: no loader ran after priming.
    if (loads !== primedLoads) throw new Error(`${loads - primedLoads} loader calls during the measured (hit) runs`)
    const hits = await registry.getSingleMetricAsString('corral_requests_total')
    if (!/result="hit"/.test(hits)) throw new Error(`metrics on, but no hit counted:\n${hits}`)
    if (subscribed === 0) throw new Error('a subscriber was attached, but no event reached it')

    const rounds = (id: string): number[] => {
      const found = perRound.get(id)
      if (!found?.length) throw new Error(`no result for ${id}`)
      return found
    }
    const ops = (id: string): number => median(rounds(id))
    /** Median over rounds of a / b within each round. */
    const ratio = (a: string, b: string): string => {
      const bs = rounds(b)
      return fmtRatio(median(rounds(a).map((x, i) => x / (bs[i] as number))))
    }
    const vs: Record<string, string> = {
      lru: '1.00x of itself (memory baseline)',
      lruAsync: `${ratio('lruAsync', 'lru')} of lru-cache sync`,
      wrapOff: `${ratio('wrapOff', 'lru')} of lru-cache sync; ${ratio('wrapOff', 'lruAsync')} of lru-cache async`,
      wrapOn: `**on/off = ${ratio('wrapOn', 'wrapOff')}**; ${ratio('wrapOn', 'lru')} of lru-cache sync`,
      wrapEvents: `**subscriber/none = ${ratio('wrapEvents', 'wrapOff')}**`,
      get: `${ratio('get', 'lru')} of lru-cache sync; ${ratio('get', 'wrapOff')} of corral wrap`,
      cm: `corral wrap = ${ratio('wrapOff', 'cm')} of this`,
      bento: `corral wrap = ${ratio('wrapOff', 'bento')} of this`,
      l1: `${ratio('l1', 'lru')} of lru-cache sync; ${ratio('l1', 'bento')} of bentocache L1; ${ratio('l1', 'corralRedis1')} of corral redis`,
      l1Tagged: `${ratio('l1Tagged', 'l1')} of an untagged L1 hit`,
      tagged1: `${ratio('tagged1', 'corralRedis1')} of an untagged redis hit (one more round trip)`,
      rawRedis1: '1.00x (redis baseline, 1 caller)',
      corralRedis1: `${ratio('corralRedis1', 'rawRedis1')} of raw ioredis, 1 caller`,
      rawRedis64: `1.00x (redis baseline, ${FANOUT} callers); ${ratio('rawRedis64', 'rawRedis1')} of 1 caller`,
      corralRedis64: `${ratio('corralRedis64', 'rawRedis64')} of raw ioredis, ${FANOUT} callers`,
      corralTimed1: `${ratio('corralTimed1', 'rawRedis1')} of raw ioredis, 1 caller (variant)`,
      corralTimed64: `${ratio('corralTimed64', 'rawRedis64')} of raw ioredis, ${FANOUT} callers (variant)`,
    }

    const lines = [
      `Hit path: ${ROUNDS} rounds x ${CASE_MS} ms per case; ops/s = median of rounds, ratio = median of per-round ratios; ` +
        `node ${process.version}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}.`,
      '',
      '| # | case | ops/s | ns/call | ratio |',
      '|---|---|---:|---:|---|',
      ...cases.map(
        (c, i) => `| ${i + 1} | ${c.label} | ${fmtOps(ops(c.id))} | ${fmtNs(1e9 / ops(c.id))} | ${vs[c.id] ?? ''} |`,
      ),
      '',
      `Per round (ops/s): ${cases.map((c) => `${c.id} ${rounds(c.id).map(fmtOps).join('/')}`).join('; ')}.`,
      `Total time ${((Date.now() - started) / 1000).toFixed(1)} s.`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (err) {
        log(`cleanup failed: ${String(err)}`)
      }
    }
    await redis?.stop()
  }
}

function fmtOps(ops: number): string {
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M`
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)}K`
  return ops.toFixed(0)
}

function fmtRatio(x: number): string {
  return `${x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}x`
}

function fmtNs(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}

await main()
