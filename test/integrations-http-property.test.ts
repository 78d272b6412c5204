import type { IncomingMessage, ServerResponse } from 'node:http'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCache } from '../src/index.ts'
import { type HttpCacheOptions, httpCache } from '../src/integrations/http.ts'
import type { RequestLike } from '../src/integrations/http-key.ts'
import { listen, rawRequest } from './support/http.ts'

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

/** Echoes who it served, for which host and language; some routes vary, set cookies or are public. */
function handler(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname
  const who = identityOf(req as RequestLike)
  const body = { served: who, host: req.headers.host, lang: req.headers['accept-language'] ?? '' }
  res.setHeader('content-type', 'application/json')
  if (path === '/vary') res.setHeader('vary', 'Accept-Language')
  if (path === '/login') res.setHeader('set-cookie', `uid=${who}`)
  if (path === '/public') {
    // Public means the same for everyone: the body must not depend on who asked.
    res.setHeader('cache-control', 'public, max-age=60')
    body.served = 'anyone'
  }
  if (path === '/status') res.statusCode = who === 'anonymous' ? 404 : 200
  res.end(JSON.stringify(body))
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
        async (batches, keyedByUser) => {
          const cache = createCache({ logger: false })
          const options: HttpCacheOptions = { ttl: '1m', ...(keyedByUser ? { userKey: identityOf } : {}) }
          current = httpCache(cache, options)
          try {
            for (const batch of batches) {
              // Each batch goes out at once, so requests also meet in a shared load.
              const replies = await Promise.all(
                batch.map((call) => rawRequest(`${server.url}${call.path}`, { headers: headersOf(call) })),
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
            await cache.close()
          }
        },
      ),
      { numRuns: 40 },
    )
  })
})
