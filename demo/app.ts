import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { type Cache, createCache, memoryStore, redisStore } from '../src/index.ts'
import { httpCache } from '../src/integrations/http.ts'
import { cachedQuery } from '../src/integrations/mysql.ts'
import { fakeDb } from './fake-db.ts'
import { mysqlDb } from './mysql-db.ts'
import type { Origin } from './origin.ts'
import { type Area, type Person, SQL } from './sql.ts'
import { Stats } from './stats.ts'

/**
 * How reads are served: through corral; 'aside' = the seeds' get, query on a miss, set (no
 * coalescing: what a cold start does to it is the point of `npm run demo:herd`); 'off' = no cache.
 */
export type Mode = 'corral' | 'aside' | 'off'

export interface DemoConfig {
  /** How long a value is fresh (CACHE_TTL); default 60s. */
  ttl?: string
  port: number
  host?: string
  mode?: Mode
  redisUrl?: string
  mysqlUrl?: string
  /** Latency of the fake database. */
  queryMs?: number
  /** Prefix of every cache key: a fresh one starts cold on a shared Redis. */
  namespace?: string
  statsIntervalMs?: number
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
  const origin = config.mysqlUrl ? await mysqlDb(config.mysqlUrl) : fakeDb({ queryMs: config.queryMs ?? 50 })
  const registry = new Registry()
  // One variable swaps the store: the same code, another store.
  const cache = createCache({
    name: 'demo',
    namespace: config.namespace ?? 'demo',
    store: config.redisUrl ? redisStore({ url: config.redisUrl }) : memoryStore(),
    lock: Boolean(config.redisUrl),
    ttl: config.ttl ?? '60s',
    // Stale-if-error: when the database is down, persons already read keep being served for 10 min.
    grace: '10m',
    timeout: { hard: '3s' },
    metrics: { registry },
  })
  const store = config.redisUrl ? `Redis at ${new URL(config.redisUrl).host} (lock: true)` : 'memory store'
  const stats = new Stats(registry, () => origin.queries, config.statsIntervalMs)
  const sql = cachedQuery(cache, origin.pool)
  const areasCache = httpCache(cache, { ttl: '30s', tags: () => ['table:areas'] })

  /** GET /persons/:id: rows of a table read through the cache. */
  async function person(id: number): Promise<Person | undefined> {
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
      const found = await person(Number(personPath[1]))
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

  async function statsBody() {
    return {
      mode,
      store,
      origin: origin.description,
      intervalMs: stats.intervalMs,
      totals: await stats.totals(),
      samples: stats.samples,
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
