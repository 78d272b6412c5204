import type { IncomingMessage, ServerResponse } from 'node:http'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { counterValue, until } from '../harness/barrier.ts'
import { burst, labels, listen, request } from '../harness/http.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { sleep } from '../harness/stores.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'
import { type HttpCacheOptions, httpCache } from '../src/integrations/http.ts'

/** A node:http app behind the middleware; its handler counts calls and answers like a small API. */
async function app(cache: Cache, options?: HttpCacheOptions, handlerMs = 80) {
  const calls: Record<string, number> = {}
  // The handler holds until `gate` requests have arrived, so "concurrent" does not depend on the machine's speed.
  const state: { arrived: number; gate: number; hold?: () => Promise<void> } = { arrived: 0, gate: 0 }
  const middleware = httpCache(cache, options)
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    calls[path] = (calls[path] ?? 0) + 1
    await sleep(handlerMs)
    for (const until = Date.now() + 5_000; state.arrived < state.gate && Date.now() < until; ) await sleep(5)
    await state.hold?.()
    if (path === '/error') {
      res.writeHead(500).end(`error ${calls[path]}`)
    } else if (path === '/missing') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
    } else if (path === '/cookie') {
      res.setHeader('set-cookie', 'session=secret')
      res.end('personal')
    } else if (path === '/chunks') {
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.write('one ')
      res.write(Buffer.from('two '))
      res.end('three')
    } else {
      res.statusCode = 200
      res.setHeader('content-type', 'application/json')
      res.setHeader('x-internal', 'not stored')
      res.end(JSON.stringify({ path, n: calls[path] }))
    }
  }
  const server = await listen((req, res) => {
    state.arrived += 1
    middleware(req, res, () => void handler(req, res))
  })
  return { ...server, calls, state }
}

describe('httpCache middleware on node:http', () => {
  let cache: Cache
  beforeAll(() => {
    cache = createCache({ logger: false })
  })
  afterAll(() => cache.close())

  it('lets one of 200 concurrent requests for a URL reach the handler, then serves hits', async () => {
    const server = await app(cache)
    server.state.gate = 200
    const replies = await burst(200, `${server.url}/persons/1`)
    expect(server.calls['/persons/1']).toBe(1)
    expect(replies.every((r) => r.status === 200 && r.body === '{"path":"/persons/1","n":1}')).toBe(true)
    // All of them waited for the origin: one ran the handler, the others joined its load.
    expect(labels(replies)).toEqual({ miss: 1, coalesced: 199 })
    const again = await request(`${server.url}/persons/1`)
    expect(again).toMatchObject({ status: 200, xCache: 'hit', body: '{"path":"/persons/1","n":1}' })
    expect(again.headers.get('content-type')).toBe('application/json')
    expect(again.headers.get('x-internal')).toBeNull()
    expect(server.calls['/persons/1']).toBe(1)
    await server.close()
  })

  it('keys by method and full URL: another query string is another entry', async () => {
    const server = await app(cache)
    await request(`${server.url}/areas?page=1`)
    expect((await request(`${server.url}/areas?page=2`)).xCache).toBe('miss')
    expect((await request(`${server.url}/areas?page=1`)).xCache).toBe('hit')
    expect(server.calls['/areas']).toBe(2)
    await server.close()
  })

  it('stores a 404 (heuristically cacheable) and never replays a 500 to the requests that waited for it', async () => {
    const server = await app(cache)
    server.state.gate = server.state.arrived + 20
    const together = await burst(20, `${server.url}/missing`)
    expect(together.every((r) => r.status === 404 && r.body === '{"error":"not found"}')).toBe(true)
    expect(server.calls['/missing']).toBe(1)
    const later = await request(`${server.url}/missing`)
    expect(later).toMatchObject({ status: 404, xCache: 'hit' })
    expect(server.calls['/missing']).toBe(1)
    server.state.gate = server.state.arrived + 5
    const failing = await burst(5, `${server.url}/error`)
    expect(failing.every((r) => r.status === 500 && r.body.startsWith('error'))).toBe(true)
    // Each waiting request ran its own handler: a response that is not stored is nobody else's.
    expect(server.calls['/error']).toBe(5)
    await server.close()
  })

  it('never stores or shares a response that sets a cookie', async () => {
    const server = await app(cache)
    const replies = await burst(5, `${server.url}/cookie`)
    expect(replies.every((r) => r.status === 200 && r.body === 'personal')).toBe(true)
    // The first request got its cookie; the others ran their own handler rather than get someone else's.
    expect(server.calls['/cookie']).toBe(5)
    expect(replies.filter((r) => r.headers.get('set-cookie') === 'session=secret')).toHaveLength(5)
    await server.close()
  })

  it('stores a body written in several chunks', async () => {
    const server = await app(cache)
    expect((await request(`${server.url}/chunks`)).body).toBe('one two three')
    const hit = await request(`${server.url}/chunks`)
    expect(hit).toMatchObject({ xCache: 'hit', body: 'one two three' })
    expect(hit.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    await server.close()
  })

  it('ignores a client no-cache by default, and revalidates (still coalesced) when told to', async () => {
    const ignoring = await app(cache)
    await request(`${ignoring.url}/nc`)
    const ignored = await request(`${ignoring.url}/nc`, { headers: { 'cache-control': 'no-cache' } })
    expect(ignored.xCache).toBe('hit')
    expect(ignoring.calls['/nc']).toBe(1)
    await ignoring.close()

    const own = createCache({ logger: false })
    const honouring = await app(own, { noCache: 'revalidate' })
    await request(`${honouring.url}/nc`)
    const reloads = await burst(10, `${honouring.url}/nc`, { headers: { 'cache-control': 'no-cache' } })
    expect(labels(reloads)).toEqual({ miss: 1, coalesced: 9 })
    expect(honouring.calls['/nc']).toBe(2)
    expect((await request(`${honouring.url}/nc`)).body).toBe('{"path":"/nc","n":2}')
    await honouring.close()
    await own.close()
  })

  it('bypasses the cache on no-cache when configured so', async () => {
    const own = createCache({ logger: false })
    const server = await app(own, { noCache: 'bypass' })
    await request(`${server.url}/b`)
    const bypassed = await request(`${server.url}/b`, { headers: { pragma: 'no-cache' } })
    expect(bypassed.xCache).toBeNull()
    expect(bypassed.body).toBe('{"path":"/b","n":2}')
    expect((await request(`${server.url}/b`)).body).toBe('{"path":"/b","n":1}')
    await server.close()
    await own.close()
  })

  it('serves stale within grace while one request fetches the new response', async () => {
    const own = createCache({ logger: false })
    const server = await app(own, { ttl: 100, grace: '10s' }, 150)
    await request(`${server.url}/s`)
    await sleep(120)
    server.state.gate = server.state.arrived + 6
    const replies = await burst(6, `${server.url}/s`)
    expect(labels(replies)).toEqual({ miss: 1, stale: 5 })
    expect(replies.find((r) => r.xCache === 'miss')?.body).toBe('{"path":"/s","n":2}')
    expect(replies.filter((r) => r.xCache === 'stale').every((r) => r.body === '{"path":"/s","n":1}')).toBe(true)
    expect(server.calls['/s']).toBe(2)
    expect(await request(`${server.url}/s`)).toMatchObject({ xCache: 'hit', body: '{"path":"/s","n":2}' })
    await server.close()
    await own.close()
  })

  it('passes requests with credentials and methods other than GET/HEAD straight through', async () => {
    const server = await app(cache)
    await request(`${server.url}/auth`, { headers: { authorization: 'Bearer x' } })
    expect((await request(`${server.url}/auth`, { headers: { authorization: 'Bearer x' } })).xCache).toBeNull()
    expect((await request(`${server.url}/post`, { method: 'POST' })).xCache).toBeNull()
    expect(server.calls['/auth']).toBe(2)
    await server.close()
  })
})

describe('httpCache with Redis down', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => redis.stop())

  it('still answers 200 from the handler, coalesced, when the store is unreachable', async () => {
    const registry = new Registry()
    const cache = createCache({
      store: redisStore({ url: redis.url, timeout: 200 }),
      logger: false,
      metrics: { registry },
    })
    const server = await app(cache)
    expect((await request(`${server.url}/up`)).xCache).toBe('miss')
    expect((await request(`${server.url}/up`)).xCache).toBe('hit')
    await redis.kill('SIGKILL')
    // The handler answers once the other 49 requests have joined its load, however slow the machine.
    const joined = () => counterValue(registry, 'corral_coalesced_total', { scope: 'local' })
    server.state.hold = () => until('49 requests joining the load', async () => (await joined()) >= 49)
    const replies = await burst(50, `${server.url}/down`)
    expect(replies.every((r) => r.status === 200 && r.body === '{"path":"/down","n":1}')).toBe(true)
    expect(server.calls['/down']).toBe(1)
    await server.close()
    await cache.close()
  })
})
