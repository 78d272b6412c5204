import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { type Cache, createCache, memcachedStore, memoryStore, redisStore, type StoreFactory } from '../src/index.ts'
import { httpCache } from '../src/integrations/http.ts'
import { cachedQuery } from '../src/integrations/mysql.ts'
import { fakeDb } from './fake-db.ts'
import { mysqlDb } from './mysql-db.ts'
import type { Origin } from './origin.ts'
import { type Area, PERSONS, type Person, SQL } from './sql.ts'
import { type HerdRun, type Mode, runHerd } from './stampede.ts'
import { Stats } from './stats.ts'

/**
 * How GET /persons/:id is served: through corral; 'aside' = plain cache-aside: get, query on a miss, set
 * (no coalescing: what a cold start does to it is the point of the herd button); 'off' = no cache.
 * The herd (POST /herd) takes its mode per run.
 */
export type { Mode } from './stampede.ts'

export interface DemoConfig {
  /** How long a value is fresh (CACHE_TTL); default 60s. */
  ttl?: string
  port: number
  host?: string
  mode?: Mode
  redisUrl?: string
  /** Memcached servers as 'host:port' (MEMCACHED_URL or MEMCACHED_ADDR); used when no redisUrl is given. */
  memcachedServers?: string[]
  mysqlUrl?: string
  /** Latency of every statement: the fake database's (default 50), or added to MySQL's with DO SLEEP (default 0). */
  queryMs?: number
  /** Prefix of every cache key: a fresh one starts cold on a shared Redis. */
  namespace?: string
  statsIntervalMs?: number
  /** With Redis: an in-process L1 tier of this many entries (L1_ENTRIES), bounded to 1 MB too. */
  l1Entries?: number
}

export interface Demo {
  url: string
  mode: Mode
  store: string
  origin: Origin
  stats: Stats
  cache: Cache
  close(): Promise<void>
}

const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8')

/** Builds the origin, the cache and the HTTP server from a config; `npm start` and the herd both use it. */
export async function startDemo(config: DemoConfig): Promise<Demo> {
  const mode = config.mode ?? 'corral'
  // MySQL is slowed only when asked (QUERY_MS): the load tests bring their own slow view.
  const origin = config.mysqlUrl
    ? await mysqlDb(config.mysqlUrl, { queryMs: config.queryMs ?? 0 })
    : fakeDb({ queryMs: config.queryMs ?? 50 })
  const registry = new Registry()
  // One variable swaps the store: the same code, another store.
  const { store: storeFactory, label: store } = chooseStore(config)
  const cache = createCache({
    name: 'demo',
    namespace: config.namespace ?? 'demo',
    store: storeFactory,
    lock: storeFactory.kind !== 'memory',
    ...(config.redisUrl && config.l1Entries ? { l1: { maxEntries: config.l1Entries, maxBytes: 1_000_000 } } : {}),
    ttl: config.ttl ?? '60s',
    // Stale-if-error: when the database is down, persons already read keep being served for 10 min.
    grace: '10m',
    timeout: { hard: '3s' },
    metrics: { registry },
  })
  const stats = new Stats(registry, () => origin.queries, config.statsIntervalMs)
  const sql = cachedQuery(cache, origin.pool)
  const areasCache = httpCache(cache, { ttl: '30s', tags: () => ['table:areas'] })

  /** GET /persons/:id: rows of a table read through the cache. */
  async function person(id: number, mode: Mode): Promise<Person | undefined> {
    if (mode === 'corral') return (await sql.query<Person[]>(SQL.personById, [id]))[0]
    if (mode === 'off') return ((await origin.pool.query(SQL.personById, [id]))[0] as Person[])[0]
    const key = sql.key(SQL.personById, [id])
    const cached = await cache.get<Person[]>(key)
    if (cached) return cached[0]
    const [rows] = (await origin.pool.query(SQL.personById, [id])) as [Person[], unknown]
    await cache.set(key, rows, { ttl: '60s', tags: ['table:persons'] })
    return rows[0]
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://demo')
    const personPath = /^\/persons\/(\d{1,9})$/.exec(pathname)
    if (req.method === 'GET' && pathname === '/') return reply(res, 200, PAGE, 'text/html; charset=utf-8')
    if (req.method === 'GET' && pathname === '/stats') return json(res, 200, await statsBody())
    if (req.method === 'GET' && pathname === '/metrics')
      return reply(res, 200, await registry.metrics(), registry.contentType)
    stats.requests += 1
    if (req.method === 'GET' && personPath) {
      const found = await person(Number(personPath[1]), mode)
      return found ? json(res, 200, found) : json(res, 404, { error: 'no such person' })
    }
    if (req.method === 'POST' && personPath) return rename(req, res, Number(personPath[1]))
    if (req.method === 'GET' && pathname === '/areas') {
      // The whole response is cached; a store that is down is stepped around.
      const handler = async () => {
        const [rows] = (await origin.pool.query(SQL.areas, [])) as [Area[], unknown]
        json(res, 200, { errno: '0', errmsg: 'OK', data: rows })
      }
      if (mode === 'off') return handler()
      return areasCache(req, res, () => void handler().catch((e) => fail(res, e)))
    }
    if (req.method === 'POST' && pathname === '/herd') return herd(req, res)
    if (req.method === 'POST' && pathname === '/invalidate') {
      await cache.invalidateTags(['table:persons', 'table:areas'])
      return json(res, 200, { invalidated: ['table:persons', 'table:areas'] })
    }
    json(res, 404, { error: 'not found' })
  }

  /** POST /persons/:id {"name": ...}: the UPDATE, then every cached read of `persons` reads as a miss. */
  async function rename(req: IncomingMessage, res: ServerResponse, id: number): Promise<void> {
    const body = (await readJson(req)) as { name?: unknown } | undefined
    if (typeof body?.name !== 'string' || body.name.length === 0 || body.name.length > 64)
      return json(res, 400, { error: 'body must be {"name": "1-64 characters"}' })
    const result = await sql.execute<{ affectedRows: number }>(SQL.renamePerson, [body.name, id])
    if (result.affectedRows === 0) return json(res, 404, { error: 'no such person' })
    json(res, 200, { employ_id: id, name: body.name })
  }

  /** The last runs of the herd, newest last, kept for the page. */
  const runs: HerdRun[] = []
  let herding = false

  /**
   * POST /herd {"mode", "requests"?, "ids"?}: a cold start fired inside the server in the mode
   * asked for, one run at a time; answers the run's numbers.
   */
  async function herd(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readJson(req)) as { mode?: unknown; requests?: unknown; ids?: unknown } | undefined
    const runMode = body?.mode ?? mode
    const requests = body?.requests ?? 300
    const ids = body?.ids ?? 20
    if (runMode !== 'off' && runMode !== 'aside' && runMode !== 'corral')
      return json(res, 400, { error: 'mode must be off, aside or corral' })
    if (!Number.isInteger(requests) || (requests as number) < 1 || (requests as number) > 5_000)
      return json(res, 400, { error: 'requests must be a whole number from 1 to 5000' })
    if (!Number.isInteger(ids) || (ids as number) < 1 || (ids as number) > PERSONS.length)
      return json(res, 400, { error: `ids must be a whole number from 1 to ${PERSONS.length}` })
    if (herding) return json(res, 409, { error: 'a herd is running; try again when it is done' })
    herding = true
    try {
      stats.requests += requests as number
      const run = await runHerd({
        mode: runMode,
        requests: requests as number,
        ids: ids as number,
        read: person,
        origin,
        coalesced: async () => (await stats.totals()).coalesced,
        makeCold: () => cache.invalidateTags(['table:persons']),
      })
      runs.push(run)
      if (runs.length > 20) runs.shift()
      json(res, 200, run)
    } finally {
      herding = false
    }
  }

  async function statsBody() {
    return {
      mode,
      store,
      origin: origin.description,
      intervalMs: stats.intervalMs,
      totals: await stats.totals(),
      samples: stats.samples,
      runs,
    }
  }

  const server = createServer((req, res) => void route(req, res).catch((e) => fail(res, e)))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host ?? '127.0.0.1', resolve)
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    mode,
    store,
    origin,
    stats,
    cache,
    async close() {
      stats.close()
      server.closeIdleConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await cache.close()
      await origin.close()
    },
  }
}

function reply(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(body)
}

function json(res: ServerResponse, status: number, value: unknown): void {
  reply(res, status, JSON.stringify(value), 'application/json; charset=utf-8')
}

function fail(res: ServerResponse, error: unknown): void {
  console.error('request failed:', error)
  if (!res.headersSent) json(res, 500, { error: 'internal error' })
  else res.destroy()
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = ''
  for await (const chunk of req) {
    text += chunk
    if (text.length > 4096) return undefined
  }
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The store a config asks for, and how the demo names it: Redis, else Memcached, else memory. */
function chooseStore(config: DemoConfig): { store: StoreFactory; label: string } {
  if (config.redisUrl) {
    return {
      store: redisStore({ url: config.redisUrl }),
      label: `Redis at ${new URL(config.redisUrl).host} (lock: true)`,
    }
  }
  if (config.memcachedServers?.length) {
    return {
      store: memcachedStore({ servers: config.memcachedServers }),
      label: `Memcached at ${config.memcachedServers.join(', ')} (lock: true)`,
    }
  }
  return { store: memoryStore(), label: 'memory store' }
}

/**
 * Memcached servers from the environment: MEMCACHED_URL (`memcached://host:port[,host:port]`) or
 * MEMCACHED_ADDR (`host:port[,host:port]`, as Go's gomemcache users set it).
 */
export function memcachedServersFrom(env: NodeJS.ProcessEnv): string[] | undefined {
  const list = env.MEMCACHED_URL?.replace(/^memcached:\/\//, '') || env.MEMCACHED_ADDR
  const servers = list
    ?.split(',')
    .map((server) => server.trim().replace(/\/$/, ''))
    .filter(Boolean)
  return servers?.length ? servers : undefined
}
