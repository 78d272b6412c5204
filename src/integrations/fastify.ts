import { Transform } from 'node:stream'
import type { Cache } from '../cache.ts'
import { bodyOf, type HandlerRun, HttpCacheCore, type HttpCacheOptions } from './http-core.ts'
import type { RequestLike } from './http-key.ts'
import { normalizeHeaders, parseHeaderBlock } from './http-rules.ts'

export type FastifyCacheOptions = HttpCacheOptions

/** The parts of Fastify's request, reply and instance the plugin uses; typed by shape so fastify stays optional. */
interface FastifyRequestLike extends RequestLike {
  url: string
  method: string
}
interface FastifyReplyLike {
  statusCode: number
  raw: { headersSent: boolean; getHeaders(): Record<string, number | string | string[] | undefined> }
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

/** A run and what this plugin's onSend saw of its payload. */
interface Pending {
  run: HandlerRun
  body?: Buffer
  encoding?: string | string[]
}

/**
 * A Fastify plugin doing what `httpCache` does for Express: `app.register(fastifyCache(cache, { ttl: '30s' }))`.
 * It is not encapsulated (like fastify-plugin), so it covers every route registered after it.
 * Register @fastify/session (or whatever `userKey` reads) before it.
 *
 * The payload is taken in onSend, but whether it may be stored is decided in onResponse, from the
 * header block Node actually wrote: a cookie set by an onSend hook registered after this plugin
 * (@fastify/cookie, @fastify/session) is seen.
 */
export function fastifyCache(cache: Cache, options?: FastifyCacheOptions) {
  const core = new HttpCacheCore(cache, options)
  const pending = new WeakMap<object, Pending>()

  async function plugin(app: FastifyLike): Promise<void> {
    app.addHook('onRequest', async (request: FastifyRequestLike, reply: FastifyReplyLike) => {
      let decision: Awaited<ReturnType<HttpCacheCore['decide']>>
      try {
        decision = await core.decide(request, request.url)
      } catch {
        return // the cache cannot decide: the route answers
      }
      if (decision.kind === 'run') {
        pending.set(request, { run: decision.run })
        if (decision.run.label) reply.header('x-cache', decision.run.label)
      }
      if (decision.kind !== 'serve') return
      const { response, label } = decision
      reply.code(response.status)
      for (const [name, value] of Object.entries(response.headers)) reply.header(name, value)
      reply.header('x-cache', label)
      return reply.send(request.method === 'HEAD' ? undefined : bodyOf(response))
    })

    // The serialized payload is what gets stored and replayed; a stream is copied as it goes out.
    app.addHook('onSend', async (request: object, reply: FastifyReplyLike, payload: unknown) => {
      const entry = pending.get(request)
      if (!entry) return payload
      entry.encoding = normalizeHeaders(reply.getHeaders())['content-encoding']
      if (isStream(payload)) return payload.pipe(copyInto(entry))
      const body =
        payload === undefined || payload === null
          ? Buffer.alloc(0)
          : typeof payload === 'string'
            ? Buffer.from(payload)
            : Buffer.isBuffer(payload)
              ? payload
              : undefined
      if (body === undefined) entry.run.fail('streamed')
      else if (body.length > entry.run.maxBytes) entry.run.fail('too-large')
      else entry.body = body
      return payload
    })

    app.addHook('onResponse', async (request: object, reply: FastifyReplyLike) => {
      const entry = pending.get(request)
      if (!entry) return
      pending.delete(request)
      const { run, body } = entry
      if (!body || !reply.raw.headersSent) return run.fail('aborted')
      const written =
        parseHeaderBlock((reply.raw as { _header?: unknown })._header) ?? normalizeHeaders(reply.getHeaders())
      // An onSend hook after this one re-encoded the payload (compression): the bytes taken are not what went out.
      if (String(written['content-encoding'] ?? '') !== String(entry.encoding ?? '')) return run.fail('encoded-below')
      if (run.headers(reply.statusCode, written)) run.finish(body)
    })

    // A request that ends without a response must not keep the others waiting.
    app.addHook('onRequestAbort', async (request: object) => {
      pending.get(request)?.run.fail('aborted')
      pending.delete(request)
    })
  }

  return Object.assign(plugin, { [SKIP_OVERRIDE]: true })
}

function isStream(payload: unknown): payload is NodeJS.ReadableStream {
  return typeof (payload as { pipe?: unknown } | null)?.pipe === 'function'
}

/**
 * Passes a stream payload through unchanged (Fastify pipes it to the socket, with backpressure)
 * while copying it into `entry` until it passes `maxBytes`; then the copy is dropped and the
 * requests waiting on this response run their own handler.
 */
function copyInto(entry: Pending): Transform {
  let chunks: Buffer[] | undefined = []
  let size = 0
  return new Transform({
    transform(chunk: Buffer | string, encoding, done) {
      if (chunks) {
        const bytes = Buffer.isBuffer(chunk) ? Buffer.from(chunk) : Buffer.from(chunk, encoding)
        size += bytes.length
        if (size > entry.run.maxBytes) {
          chunks = undefined
          entry.run.fail('too-large')
        } else chunks.push(bytes)
      }
      done(null, chunk)
    },
    flush(done) {
      if (chunks) entry.body = Buffer.concat(chunks, size)
      chunks = undefined
      done()
    },
  })
}
