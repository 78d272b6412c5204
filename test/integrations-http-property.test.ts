import type { IncomingMessage, ServerResponse } from 'node:http'
import fc from 'fast-check'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listen, rawRequest } from '../harness/http.ts'
import { createCache } from '../src/index.ts'
import { fastifyCache, type HttpCacheOptions, httpCache } from '../src/integrations/http.ts'
import type { RequestLike } from '../src/integrations/http-key.ts'

type Credentials = 'none' | 'cookie' | 'authorization' | 'both'
interface Call {
  user: 'ann' | 'ben' | 'cat'
  credentials: Credentials
  host: string
  lang: string
  path: '/me' | '/vary' | '/public' | '/login' | '/status'
}

/** Who a request says it is: the handler trusts these headers, as a real app trusts its session. */
function identityOf(req: RequestLike): string {
  const cookie = /(?:^|;\s*)uid=(\w+)/.exec(String(req.headers.cookie ?? ''))?.[1]
  const bearer = /^Bearer (\w+)$/.exec(String(req.headers.authorization ?? ''))?.[1]
  return cookie ?? bearer ?? 'anonymous'
}

/** What the app answers: who it served, for which host and language; some routes vary, set cookies or are public. */
function answer(req: RequestLike) {
  const path = new URL(req.url ?? '/', 'http://x').pathname
  const who = identityOf(req)
  const body = { served: who, host: req.headers.host, lang: req.headers['accept-language'] ?? '' }
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (path === '/vary') headers.vary = 'Accept-Language'
  if (path === '/login') headers['set-cookie'] = `uid=${who}`
  if (path === '/public') {
    // Public means the same for everyone: the body must not depend on who asked.
    headers['cache-control'] = 'public, max-age=60'
    body.served = 'anyone'
  }
  const status = path === '/status' && who === 'anonymous' ? 404 : 200
  return { status, headers, body: JSON.stringify(body) }
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  const { status, headers, body } = answer(req as RequestLike)
  res.statusCode = status
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  res.end(body)
}

/** The same app on Fastify behind fastifyCache; a new one per run, so each starts with an empty cache. */
async function fastifyApp(options: HttpCacheOptions) {
  const cache = createCache({ logger: false })
  const app = Fastify()
  await app.register(fastifyCache(cache, options))
  app.get('/*', async (req, reply) => {
    const { status, headers, body } = answer(req as unknown as RequestLike)
    reply.code(status).headers(headers)
    return body
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.addresses()[0] as { port: number }).port}`
  const close = async () => {
    await app.close()
    await cache.close()
  }
  return { url, close }
}

const callArb: fc.Arbitrary<Call> = fc.record({
  user: fc.constantFrom('ann', 'ben', 'cat'),
  credentials: fc.constantFrom<Credentials>('none', 'cookie', 'authorization', 'both'),
  host: fc.constantFrom('a.example', 'b.example', 'B.example:80'),
  lang: fc.constantFrom('en', 'fr', ''),
  path: fc.constantFrom('/me', '/vary', '/public', '/login', '/status'),
})

function headersOf(call: Call): Record<string, string> {
  const headers: Record<string, string> = { host: call.host }
  if (call.lang) headers['accept-language'] = call.lang
  if (call.credentials === 'cookie' || call.credentials === 'both') headers.cookie = `theme=dark; uid=${call.user}`
  if (call.credentials === 'authorization' || call.credentials === 'both') headers.authorization = `Bearer ${call.user}`
  return headers
}

describe('httpCache never hands one user another user’s response (property)', () => {
  let current: (req: IncomingMessage, res: ServerResponse, next: () => void) => void
  let server: Awaited<ReturnType<typeof listen>>
  beforeAll(async () => {
    server = await listen((req, res) => current(req, res, () => handler(req, res)))
  })
  afterAll(() => server.close())

  it('for random sequences from 3 users with random cookies, auth, hosts and languages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(callArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.constantFrom('node:http', 'fastify'),
        async (batches, keyedByUser, adapter) => {
          const options: HttpCacheOptions = { ttl: '1m', ...(keyedByUser ? { userKey: identityOf } : {}) }
          let target: { url: string; close(): Promise<unknown> }
          if (adapter === 'fastify') target = await fastifyApp(options)
          else {
            const cache = createCache({ logger: false })
            current = httpCache(cache, options)
            target = { url: server.url, close: () => cache.close() }
          }
          try {
            for (const batch of batches) {
              // Each batch goes out at once, so requests also meet in a shared load.
              const replies = await Promise.all(
                batch.map((call) => rawRequest(`${target.url}${call.path}`, { headers: headersOf(call) })),
              )
              for (const [i, reply] of replies.entries()) {
                const call = batch[i] as Call
                const asked = call.credentials === 'none' ? 'anonymous' : call.user
                const body = JSON.parse(reply.body) as { served: string; host: string; lang: string }
                expect(['anyone', asked]).toContain(body.served)
                expect(body.host).toBe(call.host)
                if (call.path === '/vary') expect(body.lang).toBe(call.lang)
                if (call.path === '/login') expect(reply.cookies).toEqual([`uid=${asked}`])
              }
            }
          } finally {
            await target.close()
          }
        },
      ),
      { numRuns: 60 },
    )
  })
})
