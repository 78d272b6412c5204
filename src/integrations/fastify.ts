import type { Cache } from '../cache.ts'
import { bodyOf, type HandlerRun, HttpCacheCore, type HttpCacheOptions, type RequestLike } from './http-core.ts'

export type FastifyCacheOptions = HttpCacheOptions

/** The parts of Fastify's request, reply and instance the plugin uses; typed by shape so fastify stays optional. */
interface FastifyRequestLike extends RequestLike {
  url: string
  method: string
}
interface FastifyReplyLike {
  statusCode: number
  getHeaders(): Record<string, number | string | string[] | undefined>
  header(name: string, value: unknown): FastifyReplyLike
  code(status: number): FastifyReplyLike
  send(payload?: unknown): FastifyReplyLike
}
interface FastifyLike {
  // biome-ignore lint/suspicious/noExplicitAny: Fastify's hook signatures are overloaded per hook name.
  addHook(name: string, hook: (...args: any[]) => unknown): unknown
}

const SKIP_OVERRIDE = Symbol.for('skip-override')

/**
 * A Fastify plugin doing what `httpCache` does for Express: `app.register(fastifyCache(cache, { ttl: '30s' }))`.
 * It is not encapsulated (like fastify-plugin), so it covers every route registered after it.
 */
export function fastifyCache(cache: Cache, options?: FastifyCacheOptions) {
  const core = new HttpCacheCore(cache, options)
  const runs = new WeakMap<object, HandlerRun>()

  async function plugin(app: FastifyLike): Promise<void> {
    app.addHook('onRequest', async (request: FastifyRequestLike, reply: FastifyReplyLike) => {
      let decision: Awaited<ReturnType<HttpCacheCore['decide']>>
      try {
        decision = await core.decide(request)
      } catch {
        return // the cache cannot decide: the route answers
      }
      if (decision.kind === 'run') runs.set(request, decision.run)
      if (decision.kind !== 'serve') return
      const { response, label } = decision
      reply.code(response.status)
      for (const [name, value] of Object.entries(response.headers)) reply.header(name, value)
      reply.header('x-cache', label)
      return reply.send(bodyOf(response))
    })

    // onSend sees the serialized payload: that is what gets stored and replayed.
    app.addHook('onSend', async (request: object, reply: FastifyReplyLike, payload: unknown) => {
      const run = runs.get(request)
      if (!run) return payload
      runs.delete(request)
      const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.isBuffer(payload) ? payload : undefined
      run.settle({
        status: reply.statusCode,
        headers: reply.getHeaders(),
        // A stream cannot be replayed; an empty reply has no payload at all.
        body: payload === undefined || payload === null ? Buffer.alloc(0) : body,
      })
      reply.header('x-cache', 'miss')
      return payload
    })

    // A request that ends without onSend (aborted) must not keep the others waiting.
    const abandon = async (request: object) => {
      runs.get(request)?.abandon()
      runs.delete(request)
    }
    app.addHook('onResponse', abandon)
    app.addHook('onRequestAbort', abandon)
  }

  return Object.assign(plugin, { [SKIP_OVERRIDE]: true })
}
