import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Cache } from '../cache.ts'
import { teeResponse } from './http-capture.ts'
import { bodyOf, type CachedResponse, type CacheLabel, HttpCacheCore, type HttpCacheOptions } from './http-core.ts'
import type { RequestLike } from './http-key.ts'

export { type FastifyCacheOptions, fastifyCache } from './fastify.ts'
export type { CachedResponse, CacheLabel, HttpCacheOptions } from './http-core.ts'
export { defaultKey, type RequestLike } from './http-key.ts'

type Next = (error?: unknown) => void

/**
 * Connect/Express-style middleware (also usable from a bare node:http server) with the rules of a
 * shared cache: requests with credentials pass through, a response is stored only when the
 * headers finally written allow it, `Vary` gets a variant per value, and one request per key
 * reaches the handler while the others wait for its response. Labels responses
 * `x-cache: hit | stale | miss | coalesced`. When the store is down corral steps aside, so
 * requests still reach the handler (coalesced) rather than fail.
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
    decision = await core.decide(req as RequestLike, url)
  } catch {
    // A cache that cannot decide (a bad key function, a closed cache) must not cost the response.
    decision = { kind: 'pass' }
  }
  if (decision.kind === 'pass') return next()
  if (decision.kind === 'serve') return send(req, res, decision.response, decision.label)
  const { run } = decision
  teeResponse(res, run, run.label)
  try {
    next()
  } catch (error) {
    run.fail('aborted')
    throw error
  }
}

/** Replays a stored response; only the stored (chosen) headers go out, never cookies. */
export function send(req: IncomingMessage, res: ServerResponse, response: CachedResponse, label: CacheLabel): void {
  const body = bodyOf(response)
  res.writeHead(response.status, {
    ...response.headers,
    ...(response.status === 204 ? {} : { 'content-length': body.length }),
    'x-cache': label,
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}
