/**
 * Observability, proven end to end: corral's metrics on a user-given prom-client Registry, served
 * on /metrics by a small HTTP server in this process, scraped by a real (Debian) Prometheus; every
 * query of grafana/dashboard.json is then evaluated through Prometheus' HTTP API.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { register as globalRegister, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy.ts'
import { freePort } from '../harness/ports.ts'
import { run, sleep, trackDir, untrackDir } from '../harness/procs.ts'
import { PROMETHEUS, PROMTOOL, type PrometheusServer, startPrometheus } from '../harness/prometheus.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import {
  type Cache,
  createCache,
  memoryStore,
  OriginTimeoutError,
  redisStore,
  type Store,
  type StoreFactory,
} from '../src/index.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DASHBOARD = join(ROOT, 'grafana', 'dashboard.json')
const PROMETHEUS_YML = join(ROOT, 'grafana', 'prometheus.yml')
const MISSING_PROMETHEUS =
  `Debian's prometheus is not installed (${PROMETHEUS}, ${PROMTOOL}): ` +
  'run `apt-get install -y --no-install-recommends prometheus` (.ci/run installs it when missing)'

/** The "Metrics" table of API.md (a fixed contract): name -> type, label (besides `cache`), label values. */
const CONTRACT: Record<string, { type: string; label?: string; values?: string[] }> = {
  corral_requests_total: { type: 'counter', label: 'result', values: ['hit', 'stale', 'miss', 'negative_hit'] },
  corral_origin_calls_total: { type: 'counter', label: 'outcome', values: ['success', 'error', 'timeout'] },
  corral_origin_duration_seconds: { type: 'histogram' },
  corral_origin_inflight: { type: 'gauge' },
  corral_coalesced_total: { type: 'counter', label: 'scope', values: ['local', 'distributed'] },
  corral_refresh_total: { type: 'counter', label: 'reason', values: ['early', 'stale', 'manual'] },
  corral_stale_served_total: {
    type: 'counter',
    label: 'reason',
    values: ['revalidate', 'origin_error', 'timeout', 'store_error'],
  },
  corral_lock_total: { type: 'counter', label: 'outcome', values: ['acquired', 'contended', 'timeout', 'error'] },
  corral_lock_wait_seconds: { type: 'histogram' },
  corral_store_errors_total: { type: 'counter', label: 'op' },
  corral_invalidations_total: { type: 'counter', label: 'kind', values: ['key', 'tag'] },
  corral_wrap_duration_seconds: {
    type: 'histogram',
    label: 'result',
    values: ['hit', 'stale', 'miss', 'coalesced', 'negative_hit'],
  },
  corral_breaker_state: { type: 'gauge', label: 'store', values: ['redis', 'memcached'] },
  corral_breaker_transitions_total: { type: 'counter', label: 'to', values: ['open', 'half_open', 'closed'] },
  corral_origin_queue: { type: 'gauge' },
  corral_l1_entries: { type: 'gauge' },
  corral_l1_bytes: { type: 'gauge' },
  corral_l1_evictions_total: { type: 'counter', label: 'reason', values: ['size', 'invalidation', 'cleared'] },
}
/** Metrics corral adds beyond the contract (API.md allows additions). */
const ADDED: typeof CONTRACT = {
  corral_l1_cleared_total: { type: 'counter', label: 'reason', values: ['bus_lost'] },
  corral_fenced_writes_total: { type: 'counter', label: 'outcome', values: ['written', 'superseded'] },
}
const EXPOSED = { ...CONTRACT, ...ADDED }
/** Caches on the memory store, and one on Redis (through a fault proxy) with an L1 tier, a lock and a breaker. */
const MEMORY_CACHES = ['users', 'orders'] as const
const CACHES = [...MEMORY_CACHES, 'sessions'] as const
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const DATASOURCE_VAR = '${datasource}'
const DATASOURCE = { type: 'prometheus', uid: DATASOURCE_VAR }

// ---------------------------------------------------------------------------------------------
// The dashboard model
// ---------------------------------------------------------------------------------------------

interface Target {
  expr?: string
  refId?: string
  datasource?: { type?: string; uid?: string }
}
interface Panel {
  id: number
  type: string
  title: string
  datasource?: { type?: string; uid?: string }
  gridPos: { x: number; y: number; w: number; h: number }
  targets?: Target[]
}
interface Dashboard {
  schemaVersion: number
  uid: string
  title: string
  panels: Panel[]
  templating: { list: Record<string, unknown>[] }
}

const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard
/** The panels that chart something (rows only group them). */
const charts = dashboard.panels.filter((p) => p.type !== 'row')
const ROWS = ['Origin protection', 'Callers', 'Fleet coordination', 'Store and breaker', 'L1']
const FILTER = 'job=~"$job",instance=~"$instance",cache=~"$cache"'

function allTargets(): { panel: Panel; target: Target; expr: string }[] {
  return charts.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target, expr: target.expr ?? '' })))
}

/** What Grafana would send for "All" on `$job`, `$instance` and `$cache`, and a 1 s scrape interval. */
function substitute(expr: string, cache = '.*'): string {
  return expr
    .replaceAll('$__rate_interval', '15s')
    .replaceAll('$cache', cache)
    .replaceAll('$job', '.*')
    .replaceAll('$instance', '.*')
}

function panelByTitle(title: string): Panel {
  const panel = dashboard.panels.find((p) => p.title === title)
  if (!panel) throw new Error(`dashboard has no panel titled "${title}"`)
  return panel
}

describe('grafana/dashboard.json model', () => {
  it('is a schemaVersion 39 dashboard with a stable uid', () => {
    expect(dashboard.schemaVersion).toBe(39)
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/)
    expect(dashboard.title).toBeTruthy()
  })

  it('has unique integer panel ids and no overlapping panels on a 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id)
    expect(dashboard.panels.filter((p) => p.type === 'row')).toHaveLength(5)
    for (const id of ids) expect(Number.isInteger(id) && id > 0, `panel id ${id}`).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    const cells = new Map<string, string>()
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos
      expect(x + w, `${p.title} fits the 24-column grid`).toBeLessThanOrEqual(24)
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          const other = cells.get(`${i},${j}`)
          expect(other, `"${p.title}" overlaps "${other}"`).toBeUndefined()
          cells.set(`${i},${j}`, p.title)
        }
    }
  })

  it('has a prometheus datasource variable and multi/all `job`, `instance` and `cache` variables, each narrowing the next', () => {
    const vars = dashboard.templating.list
    expect(vars.map((v) => v.name)).toEqual(['datasource', 'job', 'instance', 'cache'])
    const ds = vars.find((v) => v.name === 'datasource')
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' })
    const queries = {
      job: 'label_values(corral_requests_total, job)',
      instance: 'label_values(corral_requests_total{job=~"$job"}, instance)',
      cache: 'label_values(corral_requests_total{job=~"$job",instance=~"$instance"}, cache)',
    }
    for (const [name, query] of Object.entries(queries)) {
      const v = vars.find((x) => x.name === name)
      expect(v).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*', datasource: DATASOURCE })
      expect((v?.query as { query?: string } | undefined)?.query).toBe(query)
    }
  })

  it('groups the panels in rows, in order, with caller latency next to origin latency', () => {
    const rows = dashboard.panels.filter((p) => p.type === 'row')
    expect(rows.map((r) => r.title)).toEqual(ROWS)
    for (const r of rows) expect(r.gridPos).toMatchObject({ x: 0, w: 24, h: 1 })
    // Each panel sits below its row and above the next one.
    for (const [i, r] of rows.entries()) {
      const next = rows[i + 1]?.gridPos.y ?? Number.POSITIVE_INFINITY
      const inRow = charts.filter((p) => p.gridPos.y > r.gridPos.y && p.gridPos.y < next)
      expect(inRow.length, r.title).toBeGreaterThan(0)
    }
    const caller = panelByTitle('Caller latency p50 / p95 / p99 (wrap)')
    const origin = panelByTitle('Origin latency p50 / p95 / p99')
    expect(caller.gridPos.y).toBe(origin.gridPos.y)
    expect(Math.abs(caller.gridPos.x - origin.gridPos.x)).toBe(caller.gridPos.w)
  })

  it(`points every panel and every target at ${DATASOURCE_VAR}`, () => {
    for (const panel of charts) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE)
      expect(panel.targets?.length, `${panel.title} has queries`).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        expect(target.datasource, panel.title).toEqual(DATASOURCE)
      }
      const refIds = (panel.targets ?? []).map((t) => t.refId)
      expect(new Set(refIds).size, `${panel.title} refIds`).toBe(refIds.length)
    }
  })

  it('queries only corral metrics, each filtered by $job, $instance and $cache, rates over $__rate_interval, and covers all of them', () => {
    const used = new Set<string>()
    for (const { panel, expr } of allTargets()) {
      const names = [...expr.matchAll(/\b(corral_\w+)/g)].map((m) => m[1] as string)
      expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0)
      for (const name of names) {
        const base = name.replace(/_(bucket|sum|count)$/, '')
        const contract = EXPOSED[base] ?? EXPOSED[name]
        expect(contract, `${panel.title}: unknown metric ${name}`).toBeDefined()
        if (name !== base) expect(EXPOSED[base]?.type, `${name} is a histogram series`).toBe('histogram')
        used.add(EXPOSED[base] ? base : name)
      }
      const selectors = [...expr.matchAll(/\bcorral_\w+(\{[^}]*\})?/g)]
      for (const s of selectors) expect(s[1] ?? '', `${panel.title}: ${s[0]}`).toContain(FILTER)
      for (const r of expr.matchAll(/\brate\([^)]*\)/g)) expect(r[0], panel.title).toContain('[$__rate_interval]')
    }
    expect([...used].sort()).toEqual(Object.keys(EXPOSED).sort())
  })
})

// ---------------------------------------------------------------------------------------------
// Traffic through two caches on one registry, served on /metrics
// ---------------------------------------------------------------------------------------------

/** Every key and tag this file hands to corral: none may ever show up as a label value. */
const usedKeys = new Set<string>()
const usedTags = new Set<string>()
const ERROR_TEXT = 'origin exploded while loading'
const STORE_ERROR_TEXT = 'store unreachable'

const key = (k: string): string => {
  usedKeys.add(k)
  return k
}
const tag = (t: string): string => {
  usedTags.add(t)
  return t
}
const loaded = async <T>(value: T, ms = 1 + Math.random() * 4): Promise<T> => {
  await sleep(ms)
  return value
}

/** A memory store whose reads fail for keys containing "flaky", so store errors get counted. */
function flakyStore(): StoreFactory {
  const inner = memoryStore()
  return {
    kind: 'flaky-memory',
    create(context) {
      const store = inner.create(context)
      return new Proxy(store, {
        get(target, prop) {
          // A wrap's read is the load's begin (entry and fence in one round trip): both fail.
          if (prop === 'get' || prop === 'begin') {
            return (k: string) =>
              k.includes('flaky') ? Promise.reject(new Error(`${STORE_ERROR_TEXT}: ${k}`)) : target[prop](k)
          }
          // The memory store's own read, which the engine takes without a promise.
          if (prop === 'beginNow') {
            return (k: string) => {
              if (k.includes('flaky')) throw new Error(`${STORE_ERROR_TEXT}: ${k}`)
              return target.beginNow?.(k)
            }
          }
          const value = Reflect.get(target, prop, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      }) as Store
    },
  }
}

/** One of everything the dashboard shows, for one cache. */
async function driveOnce(cache: Cache, p: string): Promise<void> {
  // miss, then hit (wrap and get)
  await cache.wrap(key(`${p}:1`), () => loaded({ id: 1 }))
  await cache.wrap(key(`${p}:1`), () => loaded({ id: 1 }))
  await cache.get(key(`${p}:1`))
  await cache.get(key(`${p}:absent`))
  // negative caching: miss, then negative_hit
  await cache.wrap(key(`${p}:ghost`), () => loaded(null))
  await cache.wrap(key(`${p}:ghost`), () => loaded(null))
  // coalescing: eight concurrent callers of one cold key share one loader call
  let calls = 0
  const cold = key(`${p}:cold`)
  const values = await Promise.all(
    Array.from({ length: 8 }, () =>
      cache.wrap(cold, () => {
        calls++
        return loaded('cold', 30)
      }),
    ),
  )
  expect(values).toEqual(Array(8).fill('cold'))
  expect(calls).toBe(1)
  // a loader error reaches the caller unchanged
  await expect(
    cache.wrap(key(`${p}:boom`), async () => {
      throw new Error(`${ERROR_TEXT} for ${p}:boom`)
    }),
  ).rejects.toThrow(ERROR_TEXT)
  // hard timeout
  await expect(
    cache.wrap(key(`${p}:slow`), () => loaded('slow', 200), { timeout: { hard: '20ms' } }),
  ).rejects.toBeInstanceOf(OriginTimeoutError)
  // stale-while-revalidate: short ttl, long grace, serve the stale value at once (soft timeout 0)
  const swr = { ttl: 30, grace: '10m', timeout: { soft: 0 } }
  await cache.wrap(key(`${p}:stale`), () => loaded('v1'), swr)
  // stale past the soft timeout: the load outlives it
  await cache.wrap(key(`${p}:stale-soft`), () => loaded('v1'), { ttl: 30, grace: '10m' })
  // stale-if-error
  await cache.wrap(key(`${p}:stale-error`), () => loaded('v1'), { ttl: 30, grace: '10m' })
  await sleep(60)
  expect(await cache.wrap(key(`${p}:stale`), () => loaded('v2'), swr)).toBe('v1')
  expect(
    await cache.wrap(key(`${p}:stale-soft`), () => loaded('v2', 80), {
      ttl: 30,
      grace: '10m',
      timeout: { soft: '5ms' },
    }),
  ).toBe('v1')
  expect(
    await cache.wrap(
      key(`${p}:stale-error`),
      async () => {
        throw new Error(`${ERROR_TEXT} for ${p}:stale-error`)
      },
      // The caller waits for the load (soft timeout), so it is handed the stale value because of the error.
      { ttl: 30, grace: '10m', timeout: { soft: '1s' } },
    ),
  ).toBe('v1')
  // early refresh (XFetch with a huge beta is always due)
  await cache.wrap(key(`${p}:early`), () => loaded('e1', 3), { earlyRefresh: { beta: 1e9 } })
  await cache.wrap(key(`${p}:early`), () => loaded('e2', 3), { earlyRefresh: { beta: 1e9 } })
  // manual refresh
  await cache.refresh(key(`${p}:1`), () => loaded({ id: 1 }))
  // a batch
  await cache.wrapMany([key(`${p}:m1`), key(`${p}:m2`), key(`${p}:1`)], async (keys) =>
    Object.fromEntries(keys.map((k) => [k, k.length])),
  )
  // a store error: the cache steps aside and the loader answers
  expect(await cache.wrap(key(`${p}:flaky`), () => loaded('from origin'))).toBe('from origin')
  // invalidation by key and by tag
  await cache.wrap(key(`${p}:tagged`), () => loaded('t'), { tags: [tag(`org:${p}:7`), tag(`team:${p}`)] })
  await cache.invalidateTags([tag(`org:${p}:7`), tag(`team:${p}`)])
  await cache.delete(key(`${p}:1`))
  await sleep(100) // let background revalidations finish
}

let traffic: NodeJS.Timeout | undefined
let tick = 0
/** Steady traffic while Prometheus scrapes: mostly hits, some misses and coalesced loads. */
function startTraffic(caches: Record<string, Cache>): void {
  traffic = setInterval(() => {
    tick++
    for (const [p, cache] of Object.entries(caches)) {
      const jobs: Promise<unknown>[] = []
      for (let i = 0; i < 8; i++) jobs.push(cache.wrap(key(`${p}:hot:${i % 4}`), () => loaded(i)))
      jobs.push(cache.wrap(key(`${p}:n:${tick}`), () => loaded(tick, 2 + Math.random() * 20)))
      if (tick % 5 === 0) {
        const k = key(`${p}:burst:${tick}`)
        for (let i = 0; i < 4; i++) jobs.push(cache.wrap(k, () => loaded(i, 10)))
      }
      if (tick % 10 === 0) jobs.push(cache.delete(key(`${p}:hot:${tick % 4}`)))
      Promise.all(jobs).catch((error) => console.error('traffic failed', error))
    }
  }, 25)
}

const registry = new Registry()
const users = createCache({ name: 'users', metrics: { registry }, store: flakyStore(), logger: false })
const orders = createCache({ name: 'orders', metrics: { registry }, store: flakyStore(), logger: false })
let server: Server
let metricsPort = 0
let redis: RedisServer | undefined
let proxy: FaultProxy | undefined
let sessions: Cache | undefined

/**
 * The Redis-only series: an L1 tier of 4 entries (size evictions), a delete (an invalidation), a
 * dropped connection (the breaker opened, a write missed), and Redis back (half-open, closed).
 */
async function driveSessions(): Promise<void> {
  redis = await startRedis()
  proxy = await startFaultProxy(redis.port)
  const cache = createCache({
    name: 'sessions',
    store: redisStore({ url: proxy.url, timeout: 100, breaker: { failures: 2, cooldown: '1s' } }),
    l1: { maxEntries: 4, maxBytes: 100_000 },
    lock: true,
    metrics: { registry },
    logger: false,
  })
  sessions = cache
  const sample = async (name: string, labels: Record<string, string> = {}) =>
    parseExposition(await scrape()).samples.find(
      (s) => s.name === name && Object.entries({ cache: 'sessions', ...labels }).every(([k, v]) => s.labels[k] === v),
    )?.value ?? 0
  let n = 0
  /** Reads keys of `prefix` until `done` (the L1 tier fills only once its bus is subscribed). */
  const readUntil = async (prefix: string, done: () => Promise<boolean>, what: string, limit = 2_000) => {
    while (!(await done())) {
      expect(await cache.wrap(key(`sessions:${prefix}:${n++}`), () => loaded('from origin', 1))).toBe('from origin')
      expect(n, what).toBeLessThan(limit)
    }
  }
  await readUntil(
    'fill',
    async () => (await sample('corral_l1_evictions_total', { reason: 'size' })) > 0,
    'no size eviction',
  )
  const last = key(`sessions:fill:${n - 1}`)
  expect(await cache.wrap(last, () => loaded('reloaded'))).toBe('from origin') // from L1
  await cache.delete(last)
  expect(await sample('corral_l1_evictions_total', { reason: 'invalidation' })).toBeGreaterThan(0)
  // Another instance of the cache (as in another process) asks for a key this one is loading: it
  // waits on the lock and takes the value, one load in all.
  const peer = createCache({
    name: 'sessions',
    store: redisStore({ url: redis.url, breaker: false }),
    lock: true,
    metrics: { registry },
    logger: false,
  })
  try {
    let loads = 0
    let started!: () => void
    const loading = new Promise<void>((resolve) => (started = resolve))
    const shared = key('sessions:shared')
    const first = cache.wrap(shared, async () => {
      loads++
      started()
      return loaded('shared', 100)
    })
    await loading
    expect(await peer.wrap(shared, () => loaded('peer', 1))).toBe('shared')
    expect(await first).toBe('shared')
    expect(loads).toBe(1)
    expect(await sample('corral_coalesced_total', { scope: 'distributed' })).toBeGreaterThan(0)
    expect(await sample('corral_wrap_duration_seconds_count', { result: 'coalesced' })).toBeGreaterThan(0)
  } finally {
    await peer.close()
  }
  // The connection drops: the bus is lost and commands time out until the breaker opens.
  proxy.set({ kind: 'reset' })
  // The gauge reads 2 while the breaker is open (1 s at a time): scrape until it is seen.
  await readUntil('down', async () => (await sample('corral_breaker_state', { store: 'redis' })) === 2, 'never open')
  expect(await sample('corral_breaker_transitions_total', { to: 'open' })).toBeGreaterThan(0)
  // Meanwhile another process writes: this L1 misses the message, so once back it finds the gap
  // and drops the copies that write changed (here none it still holds: it wrote a key not read).
  const writer = createCache({ name: 'sessions', store: redisStore({ url: redis.url }), logger: false })
  await writer.set(key('sessions:written-while-cut-off'), 'x')
  await writer.close()
  proxy.set({ kind: 'pass' })
  // Closed again once a probe gets through (a probe that lands mid-reconnect may open it once more).
  await readUntil(
    'up',
    async () =>
      (await sample('corral_breaker_state', { store: 'redis' })) === 0 &&
      (await sample('corral_breaker_transitions_total', { to: 'closed' })) > 0,
    'never closed',
    10_000,
  )
  expect(await sample('corral_breaker_transitions_total', { to: 'half_open' })).toBeGreaterThan(0)
  // Back in reach, the tier finds the write it missed, and fills again.
  await readUntil(
    'again',
    async () =>
      (await sample('corral_l1_cleared_total', { reason: 'bus_lost' })) > 0 && (await sample('corral_l1_entries')) > 0,
    'L1 never dropped and filled again',
    10_000,
  )
  expect(await sample('corral_l1_cleared_total', { reason: 'bus_lost' })).toBeGreaterThan(0)
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain')
  return res.text()
}

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
  line: string
}

/** Parses the Prometheus text exposition format (what prom-client writes). */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ')
      types.set(name as string, type as string)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`unparseable exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string
    samples.push({ name: m[1] as string, labels, value: Number(m[3]), line })
  }
  return { types, samples }
}

beforeAll(async () => {
  metricsPort = await freePort()
  server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error) => res.writeHead(500).end(String(error)),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(metricsPort, '127.0.0.1', () => resolve())
  })
  await Promise.all([driveOnce(users, 'users'), driveOnce(orders, 'orders'), driveSessions()])
}, 60_000)

afterAll(async () => {
  if (traffic) clearInterval(traffic)
  await sleep(50)
  await Promise.all([users.close(), orders.close(), sessions?.close()])
  await proxy?.close()
  await redis?.stop()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
})

describe('metrics on the registry given, served on /metrics', () => {
  it('uses only the registry given, never the global one', async () => {
    const global = await globalRegister.getMetricsAsJSON()
    expect(global.filter((m) => m.name.startsWith('corral_'))).toEqual([])
    expect(
      (await registry.getMetricsAsJSON())
        .map((m) => m.name)
        .filter((n) => n.startsWith('corral_'))
        .sort(),
    ).toEqual(Object.keys(EXPOSED).sort())
  })

  it('exposes exactly the contract: metric names, types, label names and label values', async () => {
    const { types, samples } = parseExposition(await scrape())
    const corralTypes = Object.fromEntries([...types].filter(([name]) => name.startsWith('corral_')))
    expect(corralTypes).toEqual(Object.fromEntries(Object.entries(EXPOSED).map(([n, c]) => [n, c.type])))
    for (const s of samples) {
      const base = s.name.replace(/_(bucket|sum|count)$/, '')
      const contract = EXPOSED[s.name] ?? EXPOSED[base]
      expect(contract, s.line).toBeDefined()
      if (!contract) continue
      const expected = [
        'cache',
        ...(contract.label ? [contract.label] : []),
        ...(s.name.endsWith('_bucket') ? ['le'] : []),
      ]
      expect(Object.keys(s.labels).sort(), s.line).toEqual(expected.sort())
      expect(CACHES as readonly string[], s.line).toContain(s.labels.cache)
      if (contract.label) {
        const value = s.labels[contract.label] as string
        if (contract.values) expect(contract.values, s.line).toContain(value)
        else expect(value, s.line).toMatch(/^[a-zA-Z][\w]{0,31}$/)
      }
    }
  })

  it('has a sample line of every series: each metric, each value of its label', async () => {
    const { samples } = parseExposition(await scrape())
    for (const [name, contract] of Object.entries(EXPOSED)) {
      const names = contract.type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]
      for (const series of names) {
        const values = contract.label && contract.values ? contract.values : [undefined]
        for (const value of values) {
          // Memcached is another store: its breaker series appears only on caches that use it.
          if (value === 'memcached') continue
          const found = samples.find(
            (s) => s.name === series && (value === undefined || s.labels[contract.label as string] === value),
          )
          expect(found, `${series}${value ? `{${contract.label}="${value}"}` : ''}`).toBeDefined()
        }
      }
    }
    const wrap = (cache: string, result: string) =>
      samples.find(
        (s) =>
          s.name === 'corral_wrap_duration_seconds_count' && s.labels.cache === cache && s.labels.result === result,
      )?.value ?? 0
    // What callers waited for: 7 of the 8 concurrent callers of a cold key joined the first one's load.
    for (const cache of MEMORY_CACHES) {
      for (const result of ['hit', 'stale', 'miss', 'negative_hit'])
        expect(wrap(cache, result), result).toBeGreaterThan(0)
      expect(wrap(cache, 'coalesced')).toBeGreaterThanOrEqual(7)
    }
    const l1 = (name: string) => samples.find((s) => s.name === name && s.labels.cache === 'sessions')?.value
    expect(l1('corral_l1_entries')).toBeGreaterThan(0)
    expect(l1('corral_l1_entries')).toBeLessThanOrEqual(4)
    expect(l1('corral_l1_bytes')).toBeGreaterThan(0)
    expect(samples.find((s) => s.name === 'corral_origin_queue' && s.labels.cache === 'users')?.value).toBe(0)
  })

  it('never puts a key, a tag or error text in a label value', async () => {
    const { samples } = parseExposition(await scrape())
    expect(usedKeys.size).toBeGreaterThan(20)
    expect(usedTags.size).toBe(4)
    for (const s of samples) {
      for (const value of Object.values(s.labels)) {
        expect(usedKeys.has(value), s.line).toBe(false)
        expect(usedTags.has(value), s.line).toBe(false)
        expect(value, s.line).not.toMatch(/:|exploded|unreachable|Error/)
      }
    }
  })

  it('has the series the dashboard needs, for both caches', async () => {
    const text = await scrape()
    const { samples } = parseExposition(text)
    const value = (name: string, labels: Record<string, string>): number | undefined =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
    for (const cache of MEMORY_CACHES) {
      const has = (name: string, labels: Record<string, string> = {}) =>
        expect(value(name, { cache, ...labels }), `${name} ${JSON.stringify(labels)} for ${cache}`).toBeGreaterThan(0)
      for (const result of ['hit', 'miss', 'stale', 'negative_hit']) has('corral_requests_total', { result })
      for (const outcome of ['success', 'error', 'timeout']) has('corral_origin_calls_total', { outcome })
      has('corral_origin_duration_seconds_count')
      has('corral_origin_duration_seconds_bucket', { le: '+Inf' })
      expect(value('corral_origin_inflight', { cache })).toBe(0)
      has('corral_coalesced_total', { scope: 'local' })
      for (const reason of ['early', 'stale', 'manual']) has('corral_refresh_total', { reason })
      for (const reason of ['revalidate', 'origin_error', 'timeout']) has('corral_stale_served_total', { reason })
      has('corral_store_errors_total', { op: 'get' })
      for (const kind of ['key', 'tag']) has('corral_invalidations_total', { kind })
      expect(value('corral_invalidations_total', { cache, kind: 'tag' })).toBe(2)
    }
    // origin buckets resolve sub-millisecond and multi-second loads (0.5 ms .. ~4 s)
    const les = samples
      .filter((s) => s.name === 'corral_origin_duration_seconds_bucket' && s.labels.cache === 'users')
      .map((s) => Number(s.labels.le))
      .filter(Number.isFinite)
    expect(Math.min(...les)).toBeLessThanOrEqual(0.0005)
    expect(Math.max(...les)).toBeGreaterThanOrEqual(3)
    if (process.env.CORRAL_PRINT_METRICS) console.log(text)
  })
})

// ---------------------------------------------------------------------------------------------
// A real Prometheus scraping this process, evaluating every dashboard query
// ---------------------------------------------------------------------------------------------

interface QueryResult {
  status: string
  error?: string
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }
}

describe('the dashboard on a real Prometheus', () => {
  let prom: PrometheusServer | undefined
  let dir = ''
  const base = () => prom?.url ?? ''

  async function query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${base()}/api/v1/query?query=${encodeURIComponent(expr)}`)
    return (await res.json()) as QueryResult
  }

  beforeAll(async () => {
    if (!existsSync(PROMETHEUS) || !existsSync(PROMTOOL)) throw new Error(MISSING_PROMETHEUS)
    startTraffic({ users, orders })
    dir = await mkdtemp(join(tmpdir(), 'corral-prometheus-'))
    trackDir(dir)
    prom = await startPrometheus(dir, 'corral-test', [`127.0.0.1:${metricsPort}`])
    // at least 3 successful scrapes of the test server
    await prom.waitFor('3 scrapes', 30_000, async () => {
      const r = await query('sum_over_time(up{job="corral-test"}[1m])')
      return Number(r.data?.result[0]?.value[1] ?? 0) >= 3
    })
    // and a rate window's worth of samples
    await sleep(2_000)
  }, 60_000)

  afterAll(async () => {
    if (traffic) clearInterval(traffic)
    traffic = undefined
    await prom?.stop()
    if (dir) {
      await rm(dir, { recursive: true, force: true })
      untrackDir(dir)
    }
  }, 30_000)

  it('promtool accepts grafana/prometheus.yml', async () => {
    if (!existsSync(PROMTOOL)) throw new Error(MISSING_PROMETHEUS)
    const r = await run(PROMTOOL, ['check', 'config', PROMETHEUS_YML])
    expect(r.code, r.stdout + r.stderr).toBe(0)
  })

  it('scrapes the test server and finds both caches for the `cache` variable', async () => {
    const targets = (await (await fetch(`${base()}/api/v1/targets`)).json()) as {
      data: { activeTargets: { health: string; lastError: string }[] }
    }
    expect(targets.data.activeTargets.map((t) => [t.health, t.lastError])).toEqual([['up', '']])
    const res = await fetch(`${base()}/api/v1/label/cache/values?match[]=corral_requests_total`)
    const body = (await res.json()) as { status: string; data: string[] }
    expect(body.status).toBe('success')
    expect(body.data.sort()).toEqual(['orders', 'sessions', 'users'])
  })

  it('evaluates every panel query', { timeout: 60_000 }, async () => {
    const targets = allTargets()
    expect(targets.length).toBeGreaterThanOrEqual(18)
    for (const { panel, target, expr } of targets) {
      const r = await query(substitute(expr))
      expect(r.status, `${panel.title} ${target.refId}: ${expr}\n${r.error ?? ''}`).toBe('success')
      expect(r.data?.resultType, panel.title).toBe('vector')
    }
  })

  it('returns data for the traffic panels, with plausible values', { timeout: 60_000 }, async () => {
    const values = async (title: string, cache = '.*') => {
      const panel = panelByTitle(title)
      const out: { legend: string; value: number }[] = []
      for (const target of panel.targets ?? []) {
        const r = await query(substitute(target.expr ?? '', cache))
        expect(r.status, title).toBe('success')
        for (const s of r.data?.result ?? []) out.push({ legend: JSON.stringify(s.metric), value: Number(s.value[1]) })
      }
      expect(out.length, `${title} returned no data`).toBeGreaterThan(0)
      return out
    }
    const ratio = (v: { value: number }) => {
      expect(Number.isFinite(v.value), `${v.value}`).toBe(true)
      expect(v.value).toBeGreaterThan(0)
      expect(v.value).toBeLessThan(1)
    }

    const share = await values('Origin share (origin calls / requests)')
    expect(share).toHaveLength(1)
    share.forEach(ratio)
    const hit = await values('Hit ratio (fresh hits)')
    expect(hit).toHaveLength(1)
    hit.forEach(ratio)
    // the steady traffic is ~8 hits per miss, and bursts coalesce
    expect(hit[0]?.value).toBeGreaterThan(0.5)
    expect(share[0]?.value).toBeLessThan(0.5)
    expect((hit[0]?.value ?? 0) + (share[0]?.value ?? 0)).toBeLessThanOrEqual(1.0001)

    const byCache = await values('Origin share by cache')
    expect(byCache.map((v) => JSON.parse(v.legend).cache).sort()).toEqual(['orders', 'users'])
    byCache.forEach(ratio)
    ;(await values('Hit ratio by cache (fresh hits)')).forEach(ratio)
    // a Grafana multi-value selection of one cache
    const onlyUsers = await values('Hit ratio by cache (fresh hits)', '(users)')
    expect(onlyUsers.map((v) => JSON.parse(v.legend).cache)).toEqual(['users'])

    const vs = await values('Origin calls/s vs requests/s')
    expect(vs).toHaveLength(2)
    expect(vs[0]?.value).toBeGreaterThan(vs[1]?.value ?? Number.POSITIVE_INFINITY) // requests/s > origin calls/s
    const results = (await values('Requests/s by result')).map((v) => JSON.parse(v.legend).result)
    expect(results).toEqual(expect.arrayContaining(['hit', 'miss']))
    expect((await values('Loads saved by coalescing (local vs distributed)')).map((v) => v.legend)).toContain(
      '{"scope":"local"}',
    )
    const latency = await values('Origin latency p50 / p95 / p99')
    expect(latency).toHaveLength(3)
    for (const q of latency) {
      expect(q.value).toBeGreaterThan(0)
      expect(q.value).toBeLessThan(4.2)
    }
    expect(latency[0]?.value).toBeLessThanOrEqual(latency[2]?.value ?? 0) // p50 <= p99
    const inflight = await values('Loads in flight and queued')
    for (const v of inflight) expect(v.value).toBeGreaterThanOrEqual(0)
    expect(inflight.length).toBeGreaterThanOrEqual(2 * CACHES.length) // in flight and queued, per cache

    // Callers: the wrap histogram, next to the origin's; memory hits make the caller p50 tiny.
    const caller = await values('Caller latency p50 / p95 / p99 (wrap)')
    expect(caller).toHaveLength(3)
    expect(caller[0]?.value).toBeLessThanOrEqual(caller[2]?.value ?? 0)
    expect(caller[0]?.value).toBeLessThan(latency[0]?.value ?? 0)
    const answers = (await values('Answers/s by kind')).map((v) => JSON.parse(v.legend).result)
    expect(answers).toEqual(expect.arrayContaining(['hit', 'miss', 'coalesced', 'stale', 'negative_hit']))
    await values('Caller p99 by answer')
    const stale = await values('Stale ratio')
    expect(stale).toHaveLength(1)
    expect(stale[0]?.value).toBeGreaterThanOrEqual(0)

    // Store, breaker and L1: the Redis cache's series (its traffic ran before the scrapes).
    expect((await values('Breakers open')).map((v) => v.value)).toEqual([0])
    expect((await values('Breaker state by instance')).map((v) => [JSON.parse(v.legend).store, v.value])).toEqual([
      ['redis', 0],
    ])
    expect((await values('Breaker transitions')).map((v) => JSON.parse(v.legend).to).sort()).toEqual([
      'closed',
      'half_open',
      'open',
    ])
    const entries = await values('L1 entries')
    expect(entries.map((v) => JSON.parse(v.legend).cache)).toEqual(['sessions'])
    expect(entries[0]?.value).toBeGreaterThan(0)
    expect((await values('L1 bytes'))[0]?.value).toBeGreaterThan(0)
    // The memory caches answer (nearly) every hit without awaiting; the Redis cache's L1 some.
    const fromMemory = await values('Hits answered from memory')
    expect(fromMemory.map((v) => JSON.parse(v.legend).cache).sort()).toEqual(['orders', 'users'])
    for (const v of fromMemory) expect(v.value).toBeGreaterThan(0.5)
    const evictions = (await values('L1 evictions by reason')).map((v) => v.legend)
    expect(evictions).toEqual(
      expect.arrayContaining(['{"reason":"size"}', '{"reason":"invalidation"}', '{"reason":"cleared"}', '{}']),
    )
    await values('Invalidations by kind')
    await values('Stale served by reason')
    await values('Refreshes by reason')
    await values('Store errors by op')
    // The lock panels only have to parse (checked above): no lock is in play in this process.
  })
})
