import { gunzipSync } from 'node:zlib'
import compression from 'compression'
import cookieSession from 'cookie-session'
import Tokens from 'csrf'
import express, { type RequestHandler } from 'express'
import session from 'express-session'
import { afterEach, describe, expect, it } from 'vitest'
import { listen, rawRequest } from '../harness/http.ts'
import { type Cache, createCache } from '../src/index.ts'
import { type HttpCacheOptions, httpCache } from '../src/integrations/http.ts'

declare module 'express-session' {
  interface SessionData {
    user?: string
    csrfSecret?: string
  }
}

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close()
})

function newCache(): Cache {
  const cache = createCache({ logger: false })
  open.push(cache)
  return cache
}

async function serve(app: express.Express) {
  const server = await listen(app)
  open.push(server)
  return server
}

/** express-session with its in-memory store: the Set-Cookie comes from an on-headers hook. */
function sessions(): RequestHandler {
  return session({ secret: 'test secret', resave: false, saveUninitialized: false })
}

/** Logs `user` in and returns the session cookie. */
async function login(url: string, user: string): Promise<string> {
  const reply = await rawRequest(`${url}/login/${user}`, { method: 'POST' })
  const cookie = reply.cookies[0]
  if (!cookie) throw new Error('no session cookie')
  return cookie
}

describe('requests with credentials (express-session)', () => {
  function app(cache: Cache, options?: HttpCacheOptions) {
    const app = express()
    app.use(sessions())
    app.post('/login/:user', (req, res) => {
      req.session.user = req.params.user
      res.end('ok')
    })
    const calls = { me: 0 }
    app.get('/me', httpCache(cache, { ttl: '1m', ...options }), (req, res) => {
      calls.me += 1
      res.json({ user: req.session.user ?? 'anonymous', email: `${req.session.user ?? 'nobody'}@example.com` })
    })
    return { app, calls }
  }

  it("never gives one user's /me to another user or to a client without a cookie", async () => {
    const { app: a, calls } = app(newCache())
    const server = await serve(a)
    const alice = await login(server.url, 'alice')
    const bob = await login(server.url, 'bob')
    const first = await rawRequest(`${server.url}/me`, { headers: { cookie: alice } })
    expect(JSON.parse(first.body).user).toBe('alice')
    const asBob = await rawRequest(`${server.url}/me`, { headers: { cookie: bob } })
    expect(JSON.parse(asBob.body).user).toBe('bob')
    const anonymous = await rawRequest(`${server.url}/me`)
    expect(JSON.parse(anonymous.body).user).toBe('anonymous')
    // Requests with a cookie were passed through: looked up nowhere, stored nowhere.
    expect(first.xCache).toBeUndefined()
    expect(asBob.xCache).toBeUndefined()
    expect(calls.me).toBe(3)
  })

  it('caches per user when userKey says whose response it is', async () => {
    const { app: a, calls } = app(newCache(), { userKey: (req) => (req as express.Request).session.user })
    const server = await serve(a)
    const alice = await login(server.url, 'alice')
    const bob = await login(server.url, 'bob')
    await rawRequest(`${server.url}/me`, { headers: { cookie: alice } })
    const again = await rawRequest(`${server.url}/me`, { headers: { cookie: alice } })
    expect(again.xCache).toBe('hit')
    expect(JSON.parse(again.body).user).toBe('alice')
    const asBob = await rawRequest(`${server.url}/me`, { headers: { cookie: bob } })
    expect(asBob.xCache).toBe('miss')
    expect(JSON.parse(asBob.body).user).toBe('bob')
    expect(calls.me).toBe(2)
  })

  it('answers a request with credentials from the cache only with a response marked public', async () => {
    const cache = newCache()
    const app = express()
    let calls = 0
    app.get('/logo', httpCache(cache, { ttl: '1m' }), (_req, res) => {
      calls += 1
      res.set('cache-control', 'public, max-age=60').type('text/plain').send('logo')
    })
    const server = await serve(app)
    const withAuth = await rawRequest(`${server.url}/logo`, { headers: { authorization: 'Bearer a' } })
    expect(withAuth.body).toBe('logo')
    const anonymous = await rawRequest(`${server.url}/logo`)
    expect(anonymous.xCache).toBe('hit')
    const withCookie = await rawRequest(`${server.url}/logo`, { headers: { cookie: 'sid=x' } })
    expect(withCookie).toMatchObject({ xCache: 'hit', body: 'logo' })
    expect(calls).toBe(1)
  })
})

describe('a Set-Cookie added by a writeHead hook (a CSRF token in express-session or cookie-session)', () => {
  const tokens = new Tokens()
  /** Both keep the session where `req.session` points and set its cookie from an on-headers hook. */
  const kinds = {
    'express-session': sessions,
    'cookie-session': () => cookieSession({ name: 'sess', keys: ['test key'] }) as unknown as RequestHandler,
  }
  type Session = { csrfSecret?: string }

  /** The form page puts a CSRF secret in a new session and renders its token. */
  function app(cache: Cache, kind: keyof typeof kinds, order: 'session first' | 'cache first') {
    const app = express()
    const sessioned = kinds[kind]()
    const form: RequestHandler = (req, res) => {
      const s = req.session as unknown as Session
      s.csrfSecret ??= tokens.secretSync()
      res.type('text/html').send(`<input name="_csrf" value="${tokens.create(s.csrfSecret)}">`)
    }
    const cached = httpCache(cache, { ttl: '1m' })
    if (order === 'session first') app.get('/form', sessioned, cached, form)
    else app.get('/form', cached, sessioned, form)
    app.post('/check', sessioned, (req, res) => {
      const token = String(new URL(`http://x${req.url}`).searchParams.get('token'))
      const secret = (req.session as unknown as Session | null)?.csrfSecret
      const ok = secret !== undefined && tokens.verify(secret, token)
      res.status(ok ? 200 : 403).end(ok ? 'ok' : 'forbidden')
    })
    return app
  }

  for (const kind of Object.keys(kinds) as (keyof typeof kinds)[]) {
    for (const order of ['session first', 'cache first'] as const) {
      it(`gives each client its own cookie and token, never another's (${kind}, ${order})`, async () => {
        const server = await serve(app(newCache(), kind, order))
        const one = await rawRequest(`${server.url}/form`)
        const two = await rawRequest(`${server.url}/form`)
        for (const client of [one, two]) {
          // The client that ran the handler got every header it set, its session cookie included.
          expect(client.cookies.length).toBeGreaterThan(0)
          expect(client.xCache).not.toBe('hit')
          const token = /value="([^"]+)"/.exec(client.body)?.[1] as string
          const check = await rawRequest(`${server.url}/check?token=${encodeURIComponent(token)}`, {
            method: 'POST',
            headers: { cookie: client.cookies.join('; ') },
          })
          expect(check.body).toBe('ok')
        }
        expect(one.cookies).not.toEqual(two.cookies)
        expect(one.body).not.toBe(two.body)
      })
    }
  }
})

describe('the key and Vary', () => {
  it('keeps hosts apart', async () => {
    const app = express()
    app.get('/', httpCache(newCache(), { ttl: '1m' }), (req, res) => void res.send(`home of ${req.headers.host}`))
    const server = await serve(app)
    expect((await rawRequest(server.url, { headers: { host: 'tenant-a.example' } })).body).toBe(
      'home of tenant-a.example',
    )
    const b = await rawRequest(server.url, { headers: { host: 'tenant-b.example' } })
    expect(b.body).toBe('home of tenant-b.example')
    expect((await rawRequest(server.url, { headers: { host: 'tenant-a.example' } })).xCache).toBe('hit')
  })

  it('stores a variant per Accept-Language and never replays one language to another', async () => {
    const app = express()
    let calls = 0
    app.get('/greeting', httpCache(newCache(), { ttl: '1m' }), (req, res) => {
      calls += 1
      res.set('vary', 'Accept-Language, Cookie').send(req.headers['accept-language'] === 'fr' ? 'Bonjour' : 'Hello')
    })
    const server = await serve(app)
    const url = `${server.url}/greeting`
    expect((await rawRequest(url, { headers: { 'accept-language': 'fr' } })).body).toBe('Bonjour')
    expect((await rawRequest(url, { headers: { 'accept-language': 'en' } })).body).toBe('Hello')
    expect(await rawRequest(url, { headers: { 'accept-language': 'fr' } })).toMatchObject({
      xCache: 'hit',
      body: 'Bonjour',
    })
    expect(await rawRequest(url, { headers: { 'accept-language': 'en' } })).toMatchObject({
      xCache: 'hit',
      body: 'Hello',
    })
    expect(calls).toBe(2)
  })

  it("respects res.format's Vary: Accept", async () => {
    const app = express()
    app.get('/areas', httpCache(newCache(), { ttl: '1m' }), (_req, res) => {
      res.format({
        'application/json': () => void res.json({ areas: ['east'] }),
        'text/html': () => void res.send('<ul><li>east</li></ul>'),
      })
    })
    const server = await serve(app)
    const url = `${server.url}/areas`
    await rawRequest(url, { headers: { accept: 'text/html' } })
    const json = await rawRequest(url, { headers: { accept: 'application/json' } })
    expect(json.body).toBe('{"areas":["east"]}')
    expect(await rawRequest(url, { headers: { accept: 'text/html' } })).toMatchObject({
      xCache: 'hit',
      body: '<ul><li>east</li></ul>',
    })
  })

  it('does not store Vary: *, and bounds the variants of one URL', async () => {
    const app = express()
    let calls = 0
    app.get('/star', httpCache(newCache(), { ttl: '1m' }), (_req, res) => {
      calls += 1
      res.set('vary', '*').send('x')
    })
    app.get('/many', httpCache(newCache(), { ttl: '1m', maxVariants: 2 }), (req, res) => {
      calls += 1
      res.set('vary', 'x-n').send(String(req.headers['x-n']))
    })
    const server = await serve(app)
    await rawRequest(`${server.url}/star`)
    expect((await rawRequest(`${server.url}/star`)).xCache).not.toBe('hit')
    expect(calls).toBe(2)
    for (const n of ['1', '2', '3', '4']) await rawRequest(`${server.url}/many`, { headers: { 'x-n': n } })
    // The first response sits under the URL's key, two variants beside it; the fourth passes through.
    expect((await rawRequest(`${server.url}/many`, { headers: { 'x-n': '2' } })).xCache).toBe('hit')
    expect((await rawRequest(`${server.url}/many`, { headers: { 'x-n': '3' } })).xCache).toBe('hit')
    const beyond = await rawRequest(`${server.url}/many`, { headers: { 'x-n': '4' } })
    expect(beyond).toMatchObject({ xCache: undefined, body: '4' })
  })
})

describe('a body encoded by compression middleware', () => {
  const big = 'east,west,north,south;'.repeat(200)

  for (const order of ['cache first', 'compression first'] as const) {
    it(`replays only bytes that match the Content-Encoding written (${order})`, async () => {
      const app = express()
      let calls = 0
      const cached = httpCache(newCache(), { ttl: '1m' })
      const handler: RequestHandler = (_req, res) => {
        calls += 1
        res.type('text/plain').send(big)
      }
      if (order === 'cache first') app.get('/areas', cached, compression(), handler)
      else app.get('/areas', compression(), cached, handler)
      const server = await serve(app)
      const gzip = { 'accept-encoding': 'gzip' }
      const replies = [
        await rawRequest(`${server.url}/areas`, { headers: gzip }),
        await rawRequest(`${server.url}/areas`, { headers: gzip }),
      ]
      for (const reply of replies) {
        expect(reply.headers['content-encoding']).toBe('gzip')
        expect(gunzipSync(reply.bytes).toString()).toBe(big)
      }
      // Above the cache, compression's bytes are what it copies: stored. Below it, the copy is
      // of the bytes before encoding, which do not match the header written: not stored.
      expect(calls).toBe(order === 'cache first' ? 1 : 2)
    })
  }
})
