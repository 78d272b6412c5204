import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Cache } from '../cache.ts'
import { captureResponse } from './http-capture.ts'
import { bodyOf, type CachedResponse, type CacheLabel, HttpCacheCore, type HttpCacheOptions } from './http-core.ts'

export { type FastifyCacheOptions, fastifyCache } from './fastify.ts'
export type { CachedResponse, CacheLabel, HttpCacheOptions, RequestLike } from './http-core.ts'
export { defaultKey } from './http-core.ts'

type Next = (error?: unknown) => void

/**
 * Connect/Express-style middleware (also usable from a bare node:http server): serves cached 200
 * responses, lets one request per key reach the handler while the others wait for its response,
 * and labels every response `x-cache: hit | stale | miss`. When the store is down corral steps
 * aside, so requests still reach the handler (coalesced) rather than fail.
 */
export function httpCache(
  cache: Cache,
  options?: HttpCacheOptions,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const core = new HttpCacheCore(cache, options)
  return (req, res, next) => {
    void respond(core, req, res, next)
  }
}

async function respond(core: HttpCacheCore, req: IncomingMessage, res: ServerResponse, next: Next): Promise<void> {
  // Express mounts rewrite req.url; originalUrl is what the client asked for.
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url
  let decision: Awaited<ReturnType<HttpCacheCore['decide']>>
  try {
    decision = await core.decide({ method: req.method, url, headers: req.headers })
  } catch {
    // A cache that cannot decide (a bad key function, a closed cache) must not cost the response.
    decision = { kind: 'pass' }
  }
  if (decision.kind === 'pass') return next()
  if (decision.kind === 'serve') return send(res, decision.response, decision.label)
  const { run } = decision
  const capture = captureResponse(res, (produced) => {
    run.settle(produced)
    res.setHeader('x-cache', 'miss')
    capture.flush()
  })
  // A client that leaves before the handler answers must not keep the others waiting.
  res.once('close', () => run.abandon())
  try {
    next()
  } catch (error) {
    run.abandon()
    throw error
  }
}

/** Replays a stored response; only the stored (chosen) headers go out, never cookies. */
export function send(res: ServerResponse, response: CachedResponse, label: CacheLabel): void {
  const body = bodyOf(response)
  res.writeHead(response.status, {
    ...response.headers,
    'content-length': body.length,
    'x-cache': label,
  })
  res.end(body)
}
