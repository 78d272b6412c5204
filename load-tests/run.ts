/**
 * Load tests: a fleet of real processes reading through each contender against a throwaway
 * redis-server and MariaDB, same traffic for every contender, origin calls counted by MariaDB.
 *
 *   npm run load -- <cold-restart|hot-expiry|redis-outage|http> [--quick]
 *
 * Writes load-tests/results/<scenario>.json and .svg and prints a Markdown table. Exits non-zero
 * when a check fails: any corral caller saw an error, or (cold-restart) corral with `lock` made
 * more than 1.05 origin calls per key.
 */
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import cliProgress from 'cli-progress'
import { Redis } from 'ioredis'
import { createPool } from 'mysql2/promise'
import { spawnWorker, type Worker } from '../harness/child.ts'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'
import { CONTENDERS, type ContenderName } from './contenders.ts'
import { runHttp } from './http.ts'
import { type OriginCall, originCalls, originCount, setUpOrigin } from './origin.ts'
import {
  type Column,
  fmtInt,
  fmtMs,
  type Histogram,
  histogram,
  markdownTable,
  summary,
  svgChart,
  write,
} from './report.ts'
import type { WorkerConfig } from './worker.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const WORKER = join(HERE, 'worker.ts')

export interface FleetParams {
  workers: number
  /** Requests per second from each process. */
  ratePerWorker: number
  durationMs: number
  keys: number
  /** Zipf exponent of key popularity; 0 = uniform. */
  zipfS: number
  ttlMs: number
  originMinMs: number
  originMaxMs: number
  /** MySQL connections per process. */
  poolSize: number
  /** corral's originConcurrency per process. */
  originConcurrency: number
  /** Width of one bin of the origin-queries/s series. */
  binMs: number
  /** Redis is SIGKILLed `atMs` after the load started and restarted `forMs` later. */
  outage?: { atMs: number; forMs: number }
}

type FleetScenario = 'cold-restart' | 'hot-expiry' | 'redis-outage'

function fleetParams(scenario: FleetScenario, quick: boolean): FleetParams {
  const origin = { originMinMs: 20, originMaxMs: 50 }
  switch (scenario) {
    case 'cold-restart':
      return quick
        ? {
            workers: 4,
            ratePerWorker: 200,
            durationMs: 3_000,
            keys: 200,
            zipfS: 1,
            ttlMs: 120_000,
            ...origin,
            poolSize: 16,
            originConcurrency: 64,
            binMs: 250,
          }
        : {
            workers: 8,
            ratePerWorker: 250,
            durationMs: 20_000,
            keys: 1_000,
            zipfS: 1,
            ttlMs: 120_000,
            ...origin,
            poolSize: 24,
            originConcurrency: 64,
            binMs: 500,
          }
    case 'hot-expiry':
      return quick
        ? {
            workers: 4,
            ratePerWorker: 100,
            durationMs: 6_000,
            keys: 10,
            zipfS: 0,
            ttlMs: 2_000,
            ...origin,
            poolSize: 8,
            originConcurrency: 64,
            binMs: 100,
          }
        : {
            workers: 4,
            ratePerWorker: 150,
            durationMs: 30_000,
            keys: 10,
            zipfS: 0,
            ttlMs: 2_000,
            ...origin,
            poolSize: 8,
            originConcurrency: 64,
            binMs: 100,
          }
    case 'redis-outage':
      return quick
        ? {
            workers: 4,
            ratePerWorker: 150,
            durationMs: 8_000,
            keys: 500,
            zipfS: 1,
            ttlMs: 120_000,
            ...origin,
            poolSize: 16,
            originConcurrency: 8,
            binMs: 250,
            outage: { atMs: 3_000, forMs: 2_000 },
          }
        : {
            workers: 4,
            ratePerWorker: 250,
            durationMs: 25_000,
            keys: 1_000,
            zipfS: 1,
            ttlMs: 120_000,
            ...origin,
            poolSize: 16,
            originConcurrency: 8,
            binMs: 250,
            outage: { atMs: 8_000, forMs: 5_000 },
          }
  }
}

/** What one contender's run produced, before analysis. */
interface Measured {
  name: ContenderName
  startAt: number
  requests: number
  pending: number
  /** Flat [intended ms after startAt, key, latency µs, ok] quadruples. */
  samples: number[]
  calls: OriginCall[]
  errorTexts: string[]
  outage?: { killMs: number; restartMs: number }
}

interface Row {
  name: string
  requests: number
  errors: number
  originCalls: number
  keys: number
  originCallsPerKey: number
  maxOriginCallsOneKey: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  errorTexts: string[]
  [extra: string]: unknown
}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`)
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function machine() {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? ''
    } catch {
      return 'unknown'
    }
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    redis: version('redis-server', ['--version']),
    memcached: version('memcached', ['-V']),
    mariadb: version(process.env.MARIADBD_BIN ?? '/usr/sbin/mariadbd', ['--version']),
  }
}

/** True when createCache takes `l1` and a hit is then served without a Redis round trip. */
async function l1Works(redisUrl: string): Promise<{ ok: boolean; why: string }> {
  const raw = new Redis(redisUrl, { protocol: 2 })
  let cache: ReturnType<typeof createCache> | undefined
  try {
    cache = createCache({
      name: 'l1probe',
      store: redisStore({ url: redisUrl }),
      l1: { maxEntries: 100 },
      logger: false,
    })
    const stat = async () => Number(/total_commands_processed:(\d+)/.exec(await raw.info('stats'))?.[1])
    // The tier serves copies once its channel is subscribed and it has read the namespace's
    // generation: on a busy machine that can take longer than 52 reads, so it gets 5 s to start.
    const deadline = Date.now() + 5_000
    let used = 0
    do {
      await cache.wrap('probe', async () => ({ v: 1 }))
      await cache.wrap('probe', async () => ({ v: 2 }))
      const before = await stat()
      for (let i = 0; i < 50; i++) await cache.wrap('probe', async () => ({ v: 3 }))
      used = (await stat()) - before - 1
      if (used < 25) return { ok: true, why: `50 hits cost ${used} Redis commands` }
      await sleep(100)
    } while (Date.now() < deadline)
    return {
      ok: false,
      why: `createCache accepts l1, but 50 hits still cost ${used} Redis commands (L1 not serving yet)`,
    }
  } catch (err) {
    return { ok: false, why: `createCache({ l1 }) failed: ${(err as Error).message}` }
  } finally {
    await cache?.close().catch(() => {})
    raw.disconnect()
  }
}

async function flushRedis(url: string): Promise<void> {
  const r = new Redis(url, { protocol: 2, maxRetriesPerRequest: 3 })
  try {
    await r.flushall()
  } finally {
    r.disconnect()
  }
}

async function runContender(
  scenario: FleetScenario,
  name: ContenderName,
  p: FleetParams,
  redis: RedisServer,
  db: MariaDbServer,
  stamp: string,
  memcached: MemcachedServer | undefined,
): Promise<Measured> {
  await flushRedis(redis.url)
  // A restarted memcached is empty: every contender starts cold.
  await memcached?.restart()
  const run = `${scenario}/${name}/${stamp}`.slice(0, 64)
  const base: Omit<WorkerConfig, 'index'> = {
    name,
    redisUrl: redis.url,
    ...(memcached ? { memcachedAddress: memcached.address } : {}),
    mysqlUrl: db.url,
    run,
    ttlMs: p.ttlMs,
    originConcurrency: p.originConcurrency,
    workers: p.workers,
    rate: p.ratePerWorker,
    durationMs: p.durationMs,
    keys: p.keys,
    zipfS: p.zipfS,
    seed: 42,
    originMinMs: p.originMinMs,
    originMaxMs: p.originMaxMs,
    poolSize: p.poolSize,
    drainMs: 10_000,
  }
  type Msg = { type: string; s?: number[]; errors?: string[]; pending?: number }
  const workers: Worker<Msg>[] = []
  const samples: number[] = []
  const monitor = createPool({ uri: db.url, connectionLimit: 1 })
  const bar = new cliProgress.SingleBar(
    {
      format: `${name.padEnd(24)} {bar} {percentage}% | {elapsed}/{total} s | requests {requests} | errors {errors} | origin calls {origin}`,
      hideCursor: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  )
  let outage: Measured['outage']
  try {
    for (let index = 0; index < p.workers; index++) {
      workers.push(spawnWorker<Msg>(WORKER, [JSON.stringify({ ...base, index })]))
    }
    await Promise.all(workers.map((w) => w.waitFor((m) => m.type === 'ready', 60_000)))
    for (const w of workers) {
      w.child.stdout.on('data', () => {})
    }
    const startAt = Date.now() + 300
    for (const w of workers) w.send({ type: 'go', startAt })
    const totalS = Math.round(p.durationMs / 1000)
    bar.start(totalS, 0, { elapsed: 0, requests: 0, errors: 0, origin: 0 })
    const seen = workers.map(() => 0)
    let errors = 0
    const collect = () => {
      workers.forEach((w, i) => {
        for (let j = seen[i] as number; j < w.messages.length; j++) {
          const m = w.messages[j] as Msg
          if (m.type === 'samples' && m.s) {
            for (let k = 0; k < m.s.length; k += 4) {
              samples.push(m.s[k] as number, m.s[k + 1] as number, m.s[k + 2] as number, m.s[k + 3] as number)
              if (m.s[k + 3] === 0) errors++
            }
          }
        }
        seen[i] = w.messages.length
      })
    }
    const allDone = Promise.all(workers.map((w) => w.waitFor((m) => m.type === 'done', p.durationMs + 30_000)))
    let finished = false
    void allDone.then(
      () => {
        finished = true
      },
      () => {
        finished = true
      },
    )
    const outageTask = (async () => {
      if (!p.outage) return
      await sleep(startAt + p.outage.atMs - Date.now())
      const killAt = Date.now()
      await redis.kill('SIGKILL')
      await sleep(killAt + p.outage.forMs - Date.now())
      await redis.restart()
      outage = { killMs: killAt - startAt, restartMs: Date.now() - startAt }
    })()
    while (!finished) {
      await sleep(250)
      collect()
      const origin = await originCount(monitor, run).catch(() => 0)
      const elapsed = Math.min(totalS, Math.max(0, Math.floor((Date.now() - startAt) / 1000)))
      bar.update(elapsed, {
        elapsed,
        requests: fmtInt(samples.length / 4),
        errors: fmtInt(errors),
        origin: fmtInt(origin),
      })
    }
    await outageTask
    const done = (await allDone) as Msg[]
    collect()
    const origin = await originCount(monitor, run)
    bar.update(totalS, {
      elapsed: totalS,
      requests: fmtInt(samples.length / 4),
      errors: fmtInt(errors),
      origin: fmtInt(origin),
    })
    bar.stop()

    return {
      name,
      startAt,
      requests: p.workers * Math.round((p.ratePerWorker * p.durationMs) / 1000),
      pending: done.reduce((n, m) => n + (m.pending ?? 0), 0),
      samples,
      calls: await originCalls(db.url, run),
      errorTexts: done.flatMap((m) => m.errors ?? []),
      ...(outage ? { outage } : {}),
    }
  } finally {
    bar.stop()
    for (const w of workers) w.send({ type: 'exit' })
    await Promise.all(
      workers.map(async (w) => {
        const t = setTimeout(() => void w.kill('SIGKILL'), 5_000)
        await w.exited
        clearTimeout(t)
      }),
    )
    await monitor.end()
  }
}

/** The per-contender figures every scenario reports. */
function baseRow(m: Measured): { row: Row; hist: Histogram } {
  const hist = histogram()
  const requested = new Set<number>()
  let failed = 0
  for (let i = 0; i < m.samples.length; i += 4) {
    requested.add(m.samples[i + 1] as number)
    hist.recordValue(m.samples[i + 2] as number)
    if (m.samples[i + 3] === 0) failed++
  }
  const perKey = new Map<number, number>()
  for (const c of m.calls) perKey.set(c.personId, (perKey.get(c.personId) ?? 0) + 1)
  const keys = requested.size
  // p99 per second of intended send time: where in the run the slow requests were.
  const perSecond: Histogram[] = []
  for (let i = 0; i < m.samples.length; i += 4) {
    const sec = Math.max(0, Math.floor((m.samples[i] as number) / 1000))
    perSecond[sec] ??= histogram()
    perSecond[sec]?.recordValue(m.samples[i + 2] as number)
  }
  const p99BySecondMs = Array.from(perSecond, (h) => (h ? summary(h).p99Ms : 0))
  return {
    hist,
    row: {
      name: m.name,
      requests: m.requests,
      errors: failed + m.pending,
      originCalls: m.calls.length,
      keys,
      originCallsPerKey: keys ? Math.round((m.calls.length / keys) * 1000) / 1000 : 0,
      maxOriginCallsOneKey: Math.max(0, ...perKey.values()),
      ...summary(hist),
      errorTexts: m.errorTexts.slice(0, 5),
      p99BySecondMs,
    },
  }
}

function series(m: Measured, binMs: number, spanMs: number): number[] {
  const bins = new Array<number>(Math.ceil(spanMs / binMs)).fill(0)
  for (const c of m.calls) {
    const b = Math.floor((c.startMs - m.startAt) / binMs)
    if (b >= 0 && b < bins.length) bins[b] = (bins[b] as number) + 1
  }
  return bins.map((n) => Math.round((n * 1000) / binMs))
}

/** hot-expiry: p99 of requests within 100 ms of a value's expiry vs all others, and calls per key per TTL. */
function hotExpiryExtras(m: Measured, p: FleetParams, row: Row): void {
  const expiries = new Map<number, number[]>()
  for (const c of m.calls) {
    const key = c.personId - 1
    const list = expiries.get(key) ?? []
    list.push(c.endMs - m.startAt + p.ttlMs)
    expiries.set(key, list)
  }
  const near = histogram()
  const elsewhere = histogram()
  for (let i = 0; i < m.samples.length; i += 4) {
    const t = m.samples[i] as number
    const list = expiries.get(m.samples[i + 1] as number) ?? []
    const isNear = list.some((e) => Math.abs(t - e) <= 100)
    ;(isNear ? near : elsewhere).recordValue(m.samples[i + 2] as number)
  }
  const ttls = p.durationMs / p.ttlMs
  row.originCallsPerKeyPerTtl = row.keys ? Math.round((row.originCalls / row.keys / ttls) * 100) / 100 : 0
  row.nearExpiryRequests = near.totalCount
  row.p99NearExpiryMs = summary(near).p99Ms
  row.p99ElsewhereMs = summary(elsewhere).p99Ms
}

/** redis-outage: errors, origin rate and in-flight calls while Redis is down, and time to recover. */
function outageExtras(m: Measured, p: FleetParams, row: Row): void {
  if (!m.outage) return
  const { killMs, restartMs } = m.outage
  const binMs = 250
  const nBins = Math.ceil((p.durationMs + 2_000) / binMs)
  const errPerBin = new Array<number>(nBins).fill(0)
  const latPerBin: number[][] = Array.from({ length: nBins }, () => [])
  let outageErrors = 0
  const during = histogram()
  for (let i = 0; i < m.samples.length; i += 4) {
    const t = m.samples[i] as number
    const b = Math.floor(t / binMs)
    const us = m.samples[i + 2] as number
    const ok = m.samples[i + 3] === 1
    if (b >= 0 && b < nBins) {
      latPerBin[b]?.push(us)
      if (!ok) errPerBin[b] = (errPerBin[b] as number) + 1
    }
    if (t >= killMs && t < restartMs) {
      during.recordValue(us)
      if (!ok) outageErrors++
    }
  }
  const p99 = (xs: number[]) => {
    if (xs.length === 0) return 0
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] as number
  }
  // Baseline: the 2 s before the kill.
  const b0 = Math.max(0, Math.floor((killMs - 2_000) / binMs))
  const b1 = Math.floor(killMs / binMs)
  const baseP99 = p99(latPerBin.slice(b0, b1).flat())
  let lastDisturbed = -1
  const firstAfter = Math.floor(restartMs / binMs)
  const lastLoadBin = Math.floor(p.durationMs / binMs) - 1
  for (let b = firstAfter; b <= lastLoadBin; b++) {
    // Callers' view: errors, or a p99 well above what it was before the kill. (Origin calls stay
    // high for a while after the restart whatever the cache: the restarted Redis is empty.)
    const disturbed = (errPerBin[b] as number) > 0 || p99(latPerBin[b] ?? []) > Math.max(100_000, 3 * baseP99)
    if (disturbed) lastDisturbed = b
  }
  // Peak origin calls in flight while Redis was down (from MariaDB's start/end times).
  const events: [number, number][] = []
  for (const c of m.calls) {
    const s = c.startMs - m.startAt
    const e = c.endMs - m.startAt
    if (e >= killMs && s < restartMs) events.push([s, 1], [e, -1])
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let inflight = 0
  let peakInflight = 0
  for (const [, d] of events) peakInflight = Math.max(peakInflight, (inflight += d))
  const outageCalls = m.calls.filter((c) => c.startMs - m.startAt >= killMs && c.startMs - m.startAt < restartMs).length
  row.outageMs = restartMs - killMs
  row.errorsDuringOutage = outageErrors
  row.originQpsDuringOutage = Math.round((outageCalls * 1000) / (restartMs - killMs))
  row.peakOriginInflightDuringOutage = peakInflight
  row.p99DuringOutageMs = summary(during).p99Ms
  row.originCallsAfterRestart = m.calls.filter((c) => c.startMs - m.startAt >= restartMs).length
  row.recoverMs = lastDisturbed < 0 ? 0 : (lastDisturbed + 1) * binMs - restartMs
  row.recovered = lastDisturbed < lastLoadBin
}

async function runFleet(scenario: FleetScenario, quick: boolean, only: string[] | undefined): Promise<number> {
  const p = fleetParams(scenario, quick)
  const started = Date.now()
  log(`${scenario}${quick ? ' (quick)' : ''}: starting redis-server and mariadbd on free loopback ports`)
  const [redis, db] = await Promise.all([startRedis(), startMariaDb()])
  let memcached: MemcachedServer | undefined
  try {
    await setUpOrigin(db.url, p.keys)
    const probe = await l1Works(redis.url)
    log(`corral L1: ${probe.ok ? 'available' : 'not available'} (${probe.why})`)
    let names = CONTENDERS.filter((n) => n !== 'corral+lock, xfetch off' || scenario === 'hot-expiry')
    // Memcached contenders run the cold restart only (the outage scenario kills Redis, not memcached).
    if (scenario !== 'cold-restart') names = names.filter((n) => !n.endsWith('on memcached'))
    if (!probe.ok) names = names.filter((n) => n !== 'corral+lock+l1')
    if (only) names = names.filter((n) => only.includes(n))
    memcached = names.some((n) => n.endsWith('on memcached')) ? await startMemcached() : undefined
    const stamp = Date.now().toString(36)
    const rows: Row[] = []
    const chart: { name: string; values: number[] }[] = []
    const spanMs = p.durationMs + 2_000
    const measuredOutages: Measured['outage'][] = []
    for (const name of names) {
      const m = await runContender(scenario, name, p, redis, db, stamp, memcached)
      const { row } = baseRow(m)
      if (scenario === 'hot-expiry') hotExpiryExtras(m, p, row)
      if (scenario === 'redis-outage') {
        outageExtras(m, p, row)
        measuredOutages.push(m.outage)
      }
      rows.push(row)
      chart.push({ name, values: series(m, p.binMs, spanMs) })
      log(
        `  ${name}: ${fmtInt(row.originCalls)} origin calls for ${row.keys} keys (${row.originCallsPerKey}/key), ${row.errors} errors, p99 ${fmtMs(row.p99Ms)} ms${row.errorTexts.length ? `; ${row.errorTexts.join('; ')}` : ''}`,
      )
      await sleep(500)
    }
    const params = {
      ...p,
      quick,
      totalRate: p.workers * p.ratePerWorker,
      l1: probe,
      machine: machine(),
      wallClockS: Math.round((Date.now() - started) / 1000),
    }
    const result = { scenario, params, contenders: rows, series: { binMs: p.binMs, contenders: chart } }
    const outage = measuredOutages[0]
    const svg = svgChart({
      title: `${scenario}: origin queries per second`,
      subtitle: subtitle(scenario, p, quick),
      binMs: p.binMs,
      series: chart,
      ...(p.outage
        ? {
            bands: [
              {
                fromS: (outage?.killMs ?? p.outage.atMs) / 1000,
                toS: (outage?.restartMs ?? p.outage.atMs + p.outage.forMs) / 1000,
                label: 'Redis down',
              },
            ],
          }
        : {}),
    })
    await write(scenario, quick, result, svg)
    process.stdout.write(`\n${subtitle(scenario, p, quick)}\n\n${table(scenario, rows)}\n\n`)
    return check(scenario, rows)
  } finally {
    await Promise.all([redis.stop(), db.stop(), memcached?.stop()])
  }
}

function subtitle(scenario: string, p: FleetParams, quick: boolean): string {
  const what =
    scenario === 'hot-expiry'
      ? `${p.keys} hot keys, TTL ${p.ttlMs / 1000} s`
      : `${fmtInt(p.keys)} keys, ${p.zipfS ? `Zipf s=${p.zipfS}` : 'uniform'}, from an empty cache`
  const outage = p.outage ? `, Redis SIGKILLed at ${p.outage.atMs / 1000} s for ${p.outage.forMs / 1000} s` : ''
  return `${p.workers} processes x ${p.ratePerWorker} req/s = ${fmtInt(p.workers * p.ratePerWorker)} req/s open-loop for ${p.durationMs / 1000} s, ${what}, origin = MariaDB query of ${p.originMinMs}-${p.originMaxMs} ms${outage}${quick ? ' (quick)' : ''}`
}

function table(scenario: string, rows: Row[]): string {
  const cols: Column<Row>[] = [
    { title: 'contender', value: (r) => r.name },
    { title: 'requests', right: true, value: (r) => fmtInt(r.requests) },
    { title: 'errors', right: true, value: (r) => fmtInt(r.errors) },
    { title: 'origin calls', right: true, value: (r) => fmtInt(r.originCalls) },
    { title: 'keys', right: true, value: (r) => fmtInt(r.keys) },
    { title: 'calls/key', right: true, value: (r) => r.originCallsPerKey.toFixed(2) },
    { title: 'max calls, 1 key', right: true, value: (r) => fmtInt(r.maxOriginCallsOneKey) },
  ]
  if (scenario === 'hot-expiry') {
    cols.push(
      { title: 'calls/key/TTL', right: true, value: (r) => String(r.originCallsPerKeyPerTtl) },
      { title: 'p99 near expiry ms', right: true, value: (r) => fmtMs(r.p99NearExpiryMs as number) },
      { title: 'p99 elsewhere ms', right: true, value: (r) => fmtMs(r.p99ElsewhereMs as number) },
    )
  }
  if (scenario === 'redis-outage') {
    cols.push(
      { title: 'errors while down', right: true, value: (r) => fmtInt(r.errorsDuringOutage as number) },
      { title: 'origin q/s while down', right: true, value: (r) => fmtInt(r.originQpsDuringOutage as number) },
      { title: 'peak in flight', right: true, value: (r) => String(r.peakOriginInflightDuringOutage) },
      { title: 'p99 while down ms', right: true, value: (r) => fmtMs(r.p99DuringOutageMs as number) },
      { title: 'calls after restart', right: true, value: (r) => fmtInt(r.originCallsAfterRestart as number) },
      { title: 'recover ms', right: true, value: (r) => (r.recovered ? fmtInt(r.recoverMs as number) : 'not in run') },
    )
  }
  cols.push(
    { title: 'p50 ms', right: true, value: (r) => fmtMs(r.p50Ms) },
    { title: 'p99 ms', right: true, value: (r) => fmtMs(r.p99Ms) },
    { title: 'max ms', right: true, value: (r) => fmtMs(r.maxMs) },
  )
  return markdownTable(rows, cols)
}

/** 0 when corral passed, 1 when not. */
function check(scenario: string, rows: Row[]): number {
  const failures: string[] = []
  for (const r of rows) {
    if (!r.name.startsWith('corral')) continue
    if (r.errors > 0) failures.push(`${r.name}: ${r.errors} callers saw an error (${r.errorTexts.join('; ')})`)
    if (scenario === 'cold-restart' && r.name.includes('lock') && r.originCallsPerKey > 1.05) {
      failures.push(`${r.name}: ${r.originCallsPerKey} origin calls per key (limit 1.05)`)
    }
  }
  for (const f of failures) log(`CHECK FAILED ${f}`)
  if (failures.length === 0)
    log(
      `checks passed: no corral caller saw an error${scenario === 'cold-restart' ? '; corral with lock made <= 1.05 origin calls per key' : ''}`,
    )
  return failures.length === 0 ? 0 : 1
}

async function main(): Promise<number> {
  const args = process.argv.slice(2)
  const quick = args.includes('--quick')
  const onlyArg = args.find((a) => a.startsWith('--only='))
  const only = onlyArg?.slice('--only='.length).split(',')
  const scenario = args.find((a) => !a.startsWith('--'))
  switch (scenario) {
    case 'cold-restart':
    case 'hot-expiry':
    case 'redis-outage':
      return runFleet(scenario, quick, only)
    case 'http':
      return runHttp(quick)
    default:
      log('usage: npm run load -- <cold-restart|hot-expiry|redis-outage|http> [--quick] [--only=name,name]')
      return 2
  }
}

process.exitCode = await main()
// Servers are stopped; leftover sockets (a peer's reconnect timer) must not keep the run alive.
setTimeout(() => process.exit(), 200).unref()
