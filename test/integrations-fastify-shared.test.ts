import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { rawRequest } from '../harness/http.ts'
import { createCache } from '../src/index.ts'
import { fastifyCache, type HttpCacheOptions } from '../src/integrations/http.ts'

declare module 'fastify' {
  interface Session {
    user?: string
  }
}

const open: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close()
})

async function start(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  open.push(app)
  return `http://127.0.0.1:${(app.addresses()[0] as { port: number }).port}`
}

function newCache(options?: HttpCacheOptions) {
  const cache = createCache({ logger: false })
  open.push(cache)
  return fastifyCache(cache, { ttl: '1m', ...options })
}

describe('fastifyCache with shared-cache rules', () => {
  it("never gives one user's /me (read from a cookie) to another user or to a client without one", async () => {
    const app = Fastify()
    await app.register(newCache())
    await app.register(fastifyCookie)
    let calls = 0
    app.get('/me', async (req) => {
      calls += 1
      const user = req.cookies.sid ?? 'anonymous'
      return { user, email: `${user}@example.com` }
    })
    const url = await start(app)
    expect(JSON.parse((await rawRequest(`${url}/me`, { headers: { cookie: 'sid=alice' } })).body).user).toBe('alice')
    expect(JSON.parse((await rawRequest(`${url}/me`, { headers: { cookie: 'sid=bob' } })).body).user).toBe('bob')
    expect(JSON.parse((await rawRequest(`${url}/me`)).body).user).toBe('anonymous')
    expect(calls).toBe(3)
  })

  it('does not store a response whose cookie an onSend hook registered after the plugin adds (@fastify/cookie)', async () => {
    const app = Fastify()
    await app.register(newCache())
    await app.register(fastifyCookie)
    app.get('/form', async (_req, reply) => {
      const token = randomUUID()
      reply.setCookie('csrf', token)
      return { token }
    })
    const url = await start(app)
    const one = await rawRequest(`${url}/form`)
    const two = await rawRequest(`${url}/form`)
    for (const client of [one, two]) {
      // Each client got its own cookie, and the token in its body matches it.
      expect(client.cookies).toEqual([`csrf=${JSON.parse(client.body).token}`])
      expect(client.xCache).not.toBe('hit')
    }
    expect(one.body).not.toBe(two.body)
  })

  it('caches per user with @fastify/session when userKey says whose response it is', async () => {
    const app = Fastify()
    await app.register(fastifyCookie)
    await app.register(fastifySession, {
      secret: 'a secret with at least 32 characters in it',
      cookie: { secure: false },
      saveUninitialized: false,
      // The default re-sends the cookie on every response, which makes every response personal.
      rolling: false,
    })
    await app.register(newCache({ userKey: (req) => (req as FastifyRequest).session.user }))
    let calls = 0
    app.post('/login/:user', async (req) => {
      req.session.user = (req.params as { user: string }).user
      return 'ok'
    })
    app.get('/me', async (req) => {
      calls += 1
      return { user: req.session.user ?? 'anonymous' }
    })
    const url = await start(app)
    const cookieOf = async (user: string) =>
      (await rawRequest(`${url}/login/${user}`, { method: 'POST' })).cookies[0] as string
    const alice = await cookieOf('alice')
    const bob = await cookieOf('bob')
    await rawRequest(`${url}/me`, { headers: { cookie: alice } })
    const again = await rawRequest(`${url}/me`, { headers: { cookie: alice } })
    expect(again).toMatchObject({ xCache: 'hit', body: '{"user":"alice"}' })
    const asBob = await rawRequest(`${url}/me`, { headers: { cookie: bob } })
    expect(asBob).toMatchObject({ xCache: 'miss', body: '{"user":"bob"}' })
    expect(calls).toBe(2)
  })

  it('keeps hosts apart and honours Vary', async () => {
    const app = Fastify()
    await app.register(newCache())
    app.get('/', async (req, reply) => {
      reply.header('vary', 'accept-language')
      return `${req.headers['accept-language'] === 'fr' ? 'Bonjour' : 'Hello'} from ${req.headers.host}`
    })
    const url = await start(app)
    const ask = (host: string, lang: string) =>
      rawRequest(url, { headers: { host, 'accept-language': lang } }).then((r) => r.body)
    expect(await ask('tenant-a.example', 'fr')).toBe('Bonjour from tenant-a.example')
    expect(await ask('tenant-b.example', 'fr')).toBe('Bonjour from tenant-b.example')
    expect(await ask('tenant-a.example', 'en')).toBe('Hello from tenant-a.example')
    expect(await ask('tenant-a.example', 'fr')).toBe('Bonjour from tenant-a.example')
  })

  it('copies a stream payload as it goes out: stored when small, passed through when over maxBytes', async () => {
    const app = Fastify()
    await app.register(newCache({ maxBytes: 1024 }))
    const calls = { small: 0, large: 0 }
    app.get('/small', async (_req, reply) => {
      calls.small += 1
      reply.type('text/plain')
      return Readable.from(['one ', 'two ', 'three'])
    })
    app.get('/large', async (_req, reply) => {
      calls.large += 1
      reply.type('application/octet-stream')
      return Readable.from(Array.from({ length: 64 }, () => Buffer.alloc(1024, 1)))
    })
    const url = await start(app)
    expect(await rawRequest(`${url}/small`)).toMatchObject({ xCache: 'miss', body: 'one two three' })
    expect(await rawRequest(`${url}/small`)).toMatchObject({ xCache: 'hit', body: 'one two three' })
    expect((await rawRequest(`${url}/large`)).body.length).toBe(64 * 1024)
    const again = await rawRequest(`${url}/large`)
    expect(again).toMatchObject({ xCache: 'miss' })
    expect(again.body.length).toBe(64 * 1024)
    expect(calls).toEqual({ small: 1, large: 2 })
  })
})
