import { createHash } from 'node:crypto'
import type { Cache } from '../cache.ts'
import { type Duration, toMs } from '../duration.ts'
import { CorralConfigError, NotCacheable } from '../errors.ts'

export { NotCacheable }

/** The parts of a request the cache looks at; node:http, Express and Fastify requests all fit. */
export interface RequestLike {
  method?: string
  url?: string
  headers: Record<string, string | string[] | undefined>
}

export type CacheLabel = 'hit' | 'stale' | 'miss'

export interface HttpCacheOptions {
  /** The cache key of a request, or `undefined` to pass it through uncached. Default: method and URL, and no caching of requests that carry `Authorization`. */
  key?: (req: RequestLike) => string | undefined
  /** How long a response is fresh. Needed for `grace`; without it the cache's ttl applies and nothing is labelled stale. */
  ttl?: Duration
  /** After `ttl`, how long the old response is served (x-cache: stale) while one request fetches a new one. Default 0. */
  grace?: Duration
  /** Tags of a request's cached response, for `cache.invalidateTags`. */
  tags?: (req: RequestLike) => string[]
  /** Response headers stored and replayed; never Set-Cookie. Default: content-type, content-language, etag, last-modified, cache-control, vary. */
  headers?: string[]
  /** Methods that are cached; others pass through. Default GET and HEAD. */
  methods?: string[]
  /**
   * A client's `Cache-Control: no-cache` (or `Pragma: no-cache`): 'ignore' it (default: a client
   * must not be able to switch the herd protection off), 'revalidate' (reload, still coalesced), or
   * 'bypass' (go to the handler, leave the cache alone).
   */
  noCache?: 'ignore' | 'revalidate' | 'bypass'
  /** Bodies larger than this are served but not stored. Default 1 MiB. */
  maxBytes?: number
}

/** A response as stored: JSON-friendly, so it fits any store and serializer. */
export interface CachedResponse {
  status: number
  headers: Record<string, string | string[]>
  body: string
  /** The body is base64 (it was not valid UTF-8). */
  base64?: true
  /** When the handler produced it (ms since epoch): tells hit from stale, and a fresh load from a stored one. */
  storedAt: number
}

/** What a handler produced, as an adapter saw it; `body` undefined means it streamed and cannot be replayed. */
export interface Produced {
  status: number
  headers: Record<string, number | string | string[] | undefined>
  body: Buffer | undefined
}

/** One handler run that feeds the cache: the adapter settles it once the handler's response is known. */
export class HandlerRun {
  readonly result: Promise<CachedResponse>
  #resolve!: (value: CachedResponse) => void
  #reject!: (error: Error) => void
  #settled = false

  constructor(readonly core: HttpCacheCore) {
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  settle(produced: Produced): void {
    if (this.#settled) return
    this.#settled = true
    const { cacheable, response } = this.core.judge(produced)
    if (cacheable && response) this.#resolve(response)
    else this.#reject(new NotCacheable(response))
  }

  /** The client went away or the handler failed before answering: those waiting run their own handler. */
  abandon(): void {
    if (this.#settled) return
    this.#settled = true
    this.#reject(new NotCacheable(undefined))
  }
}

export type Decision =
  | { kind: 'pass' }
  | { kind: 'serve'; response: CachedResponse; label: CacheLabel }
  | { kind: 'run'; run: HandlerRun }

const PASS: Decision = { kind: 'pass' }
const DEFAULT_HEADERS = ['content-type', 'content-language', 'etag', 'last-modified', 'cache-control', 'vary']

/** The framework-free part of the HTTP cache: which requests, which key, serve or run the handler. */
export class HttpCacheCore {
  readonly #cache: Cache
  readonly #options: HttpCacheOptions
  readonly #ttlMs: number | undefined
  readonly #wrapOptions: { ttl?: number; grace: 0; earlyRefresh: false }
  readonly #headers: Set<string>
  readonly #methods: Set<string>
  readonly #maxBytes: number
  /** Keys whose stale response one request of this process is already replacing. */
  readonly #revalidating = new Set<string>()

  constructor(cache: Cache, options: HttpCacheOptions = {}) {
    this.#cache = cache
    this.#options = options
    this.#ttlMs = options.ttl === undefined ? undefined : toMs('http.ttl', options.ttl)
    const graceMs = options.grace === undefined ? 0 : toMs('http.grace', options.grace)
    if (graceMs > 0 && this.#ttlMs === undefined)
      throw new CorralConfigError('http.grace', options.grace, 'needs `ttl`')
    // corral's own grace and early refresh would call the loader in the background, and here the
    // loader is a request's handler: the stale window is kept in this layer instead.
    this.#wrapOptions = {
      ...(this.#ttlMs === undefined ? {} : { ttl: this.#ttlMs + graceMs }),
      grace: 0,
      earlyRefresh: false,
    }
    this.#headers = new Set((options.headers ?? DEFAULT_HEADERS).map((h) => h.toLowerCase()))
    this.#headers.delete('set-cookie')
    this.#methods = new Set((options.methods ?? ['GET', 'HEAD']).map((m) => m.toUpperCase()))
    this.#maxBytes = options.maxBytes ?? 1024 * 1024
    const noCache = options.noCache ?? 'ignore'
    if (!['ignore', 'revalidate', 'bypass'].includes(noCache))
      throw new CorralConfigError('http.noCache', noCache, "must be 'ignore', 'revalidate' or 'bypass'")
  }

  /** Serve from the cache, run this request's handler to fill it, or leave the request alone. */
  async decide(req: RequestLike): Promise<Decision> {
    const key = this.#keyOf(req)
    if (key === undefined) return PASS
    const noCache = this.#options.noCache ?? 'ignore'
    const wantsFresh = noCache !== 'ignore' && clientSaysNoCache(req)
    if (wantsFresh && noCache === 'bypass') return PASS
    const startedAt = Date.now()
    const tags = this.#options.tags?.(req)
    const first = await this.#attempt(wantsFresh ? 'refresh' : 'wrap', key, tags)
    if (first.kind !== 'value') return first.kind === 'run' ? first : this.#afterError(first.error)
    const value = first.value
    if (value.storedAt >= startedAt) return { kind: 'serve', response: value, label: 'miss' }
    if (!this.#isStale(value)) return { kind: 'serve', response: value, label: 'hit' }
    if (this.#revalidating.has(key)) return { kind: 'serve', response: value, label: 'stale' }
    // This request replaces the stale response; others keep getting it meanwhile.
    this.#revalidating.add(key)
    const second = await this.#attempt('refresh', key, tags)
    if (second.kind === 'run') {
      second.run.result.then(
        () => this.#revalidating.delete(key),
        () => this.#revalidating.delete(key),
      )
      return second
    }
    this.#revalidating.delete(key)
    if (second.kind === 'value') return { kind: 'serve', response: second.value, label: 'miss' }
    return { kind: 'serve', response: value, label: 'stale' }
  }

  /** Whether a produced response may be stored, and the form it is stored (or replayed) in. */
  judge(produced: Produced): { cacheable: boolean; response: CachedResponse | undefined } {
    const cacheControl = String(produced.headers['cache-control'] ?? '').toLowerCase()
    const personal = produced.headers['set-cookie'] !== undefined || /\b(private|no-store)\b/.test(cacheControl)
    if (produced.body === undefined || personal) return { cacheable: false, response: undefined }
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(produced.headers)) {
      if (value !== undefined && this.#headers.has(name.toLowerCase()))
        headers[name.toLowerCase()] = Array.isArray(value) ? value : String(value)
    }
    const text = produced.body.toString('utf8')
    const utf8 = Buffer.byteLength(text) === produced.body.length && Buffer.from(text).equals(produced.body)
    const response: CachedResponse = {
      status: produced.status,
      headers,
      body: utf8 ? text : produced.body.toString('base64'),
      ...(utf8 ? {} : { base64: true as const }),
      storedAt: Date.now(),
    }
    return { cacheable: produced.status === 200 && produced.body.length <= this.#maxBytes, response }
  }

  #keyOf(req: RequestLike): string | undefined {
    if (!this.#methods.has((req.method ?? 'GET').toUpperCase())) return undefined
    const key = this.#options.key ? this.#options.key(req) : defaultKey(req)
    if (key === undefined) return undefined
    // corral refuses keys over 1,024 bytes; a long URL still gets a stable key.
    return Buffer.byteLength(key) > 512 ? `http:#${createHash('sha256').update(key).digest('base64url')}` : key
  }

  #isStale(value: CachedResponse): boolean {
    return this.#ttlMs !== undefined && Date.now() >= value.storedAt + this.#ttlMs
  }

  /** A shared load that did not give a storable response: replay it if it may be, else run our own handler. */
  #afterError(error: unknown): Decision {
    if (error instanceof NotCacheable && error.response)
      return { kind: 'serve', response: error.response as CachedResponse, label: 'miss' }
    return PASS
  }

  /**
   * Reads through the cache; resolves as soon as either a value is known or corral asks this
   * request to load (then the adapter lets the request reach its handler and settles the run).
   */
  async #attempt(
    op: 'wrap' | 'refresh',
    key: string,
    tags: string[] | undefined,
  ): Promise<
    { kind: 'value'; value: CachedResponse } | { kind: 'error'; error: unknown } | { kind: 'run'; run: HandlerRun }
  > {
    let invoked!: (run: HandlerRun) => void
    const ran = new Promise<HandlerRun>((resolve) => (invoked = resolve))
    const loader = () => {
      const run = new HandlerRun(this)
      invoked(run)
      return run.result
    }
    const options = tags ? { ...this.#wrapOptions, tags } : this.#wrapOptions
    const read = this.#cache[op](key, loader, options)
    const outcome = await Promise.race([
      read.then(
        (value) => ({ kind: 'value' as const, value }),
        (error: unknown) => ({ kind: 'error' as const, error }),
      ),
      ran.then((run) => ({ kind: 'run' as const, run })),
    ])
    // The handler's own response goes to this client; the shared outcome is for the others.
    if (outcome.kind === 'run') read.catch(() => {})
    return outcome
  }
}

/** `METHOD url`, or undefined for a request with credentials: its response may be personal. */
export function defaultKey(req: RequestLike): string | undefined {
  if (req.headers.authorization !== undefined) return undefined
  return `http:${(req.method ?? 'GET').toUpperCase()} ${req.url ?? '/'}`
}

function clientSaysNoCache(req: RequestLike): boolean {
  const cacheControl = String(req.headers['cache-control'] ?? '').toLowerCase()
  return /\b(no-cache|max-age=0)\b/.test(cacheControl) || String(req.headers.pragma ?? '').toLowerCase() === 'no-cache'
}

/** The body of a stored response as bytes. */
export function bodyOf(response: CachedResponse): Buffer {
  return Buffer.from(response.body, response.base64 ? 'base64' : 'utf8')
}
