import { LRUCache } from 'lru-cache'
import type { Cache } from '../cache.ts'
import { type Duration, toMs } from '../duration.ts'
import type { WrapResult } from '../engine/types.ts'
import { CorralConfigError, NotCacheable } from '../errors.ts'
import { boundedKey, defaultKey, hasCredentials, type RequestLike, variantKey } from './http-key.ts'
import { type HeaderMap, headerValue, judgeHeaders, type NotStoredReason } from './http-rules.ts'

export type { RequestLike } from './http-key.ts'
export { NotCacheable }

/** `x-cache` of a response the cache answered or filled. */
export type CacheLabel = 'hit' | 'stale' | 'miss' | 'coalesced'

export interface HttpCacheOptions {
  /**
   * The cache key of a request, or `undefined` to pass it through uncached. Default `defaultKey`:
   * method, scheme, host and URL. Requests with `Authorization` or `Cookie` still pass through
   * unless `userKey` says whose response they get.
   */
  key?: (req: RequestLike) => string | undefined
  /**
   * For a request with `Authorization` or `Cookie`: who its response is for (a user id from the
   * session, say), added to the key so users never share an entry; `undefined` passes it through.
   * Without it such requests only get responses marked `public` or `s-maxage`.
   */
  userKey?: (req: RequestLike) => string | undefined
  /** How long a response is fresh. Needed for `grace`; without it the cache's ttl applies and nothing is labelled stale. */
  ttl?: Duration
  /** After `ttl`, how long the old response is served (x-cache: stale) while one request fetches a new one. Default 0. */
  grace?: Duration
  /** Tags of a request's cached response, for `cache.invalidateTags`. */
  tags?: (req: RequestLike) => string[]
  /** Response headers stored and replayed; never Set-Cookie. Default: see `DEFAULT_HEADERS`. */
  headers?: string[]
  /** Methods that are cached; others pass through. Default GET and HEAD. */
  methods?: string[]
  /**
   * A client's `Cache-Control: no-cache` (or `Pragma: no-cache`): 'ignore' it (default: a client
   * must not be able to switch the herd protection off), 'revalidate' (reload, still coalesced), or
   * 'bypass' (go to the handler, leave the cache alone).
   */
  noCache?: 'ignore' | 'revalidate' | 'bypass'
  /** Bodies larger than this are passed through but not stored; no more than this is held per response. Default 1 MiB. */
  maxBytes?: number
  /** Variants of one URL kept for `Vary` (per process); requests for more pass through. Default 16. */
  maxVariants?: number
}

/** A response as stored: JSON-friendly, so it fits any store and serializer. */
export interface CachedResponse {
  status: number
  headers: Record<string, string | string[]>
  body: string
  /** The body is base64 (it was not valid UTF-8). */
  base64?: true
  /** When the handler produced it (ms since epoch): tells hit from stale within `grace`. */
  storedAt: number
  /** The request headers `Vary` names, with the values of the request this response answered. */
  vary?: Record<string, string>
  /** Marked `public` or `s-maxage`: may answer a request that carries credentials. */
  shared?: true
}

/**
 * One handler run that may feed the cache. The adapter reports the final headers (`headers`),
 * then the whole body (`finish`), or that it gave up (`fail`). A 'fill' run settles the load
 * other requests wait on; a 'shared' run (a request with credentials) stores only a response
 * marked public.
 */
export class HandlerRun {
  readonly result: Promise<CachedResponse>
  readonly maxBytes: number
  #resolve!: (value: CachedResponse) => void
  #reject!: (error: Error) => void
  #settled = false
  #head: { status: number; headers: HeaderMap; vary: string[]; shared: boolean } | undefined

  constructor(
    readonly core: HttpCacheCore,
    readonly req: RequestLike,
    readonly key: string,
    readonly mode: 'fill' | 'shared',
    readonly label: CacheLabel | undefined,
  ) {
    this.maxBytes = core.maxBytes
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // Nobody may be waiting (a 'shared' run); a rejection is not an error here.
    this.result.catch(() => {})
  }

  /** The headers as written; false when the response cannot be stored (stop capturing the body). */
  headers(status: number, headers: HeaderMap): boolean {
    if (this.#settled) return false
    const verdict = judgeHeaders(status, headers)
    if (verdict.reason) {
      this.fail(verdict.reason)
      return false
    }
    if (this.mode === 'shared' && !verdict.shared) {
      this.fail('private')
      return false
    }
    this.#head = { status, headers, vary: verdict.vary, shared: verdict.shared }
    return true
  }

  /** The whole body was written (and held within `maxBytes`). */
  finish(body: Buffer): void {
    const head = this.#head
    if (this.#settled || !head) return
    this.#settled = true
    const response = this.core.toStored(head.status, head.headers, body, this.req, head.vary, head.shared)
    this.#resolve(response)
    if (this.mode === 'shared') void this.core.storeShared(this.key, response, this.req)
  }

  /** The response will not be stored: requests waiting for it run their own handler. */
  fail(reason: NotStoredReason): void {
    if (this.#settled) return
    this.#settled = true
    this.#reject(new NotCacheable(reason))
  }
}

export type Decision =
  | { kind: 'pass' }
  | { kind: 'serve'; response: CachedResponse; label: CacheLabel }
  | { kind: 'run'; run: HandlerRun }

const PASS: Decision = { kind: 'pass' }

/** Replayed headers by default: what describes the body, its validators, and where a redirect goes. */
export const DEFAULT_HEADERS = [
  'content-type',
  'content-language',
  'content-encoding',
  'content-disposition',
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'vary',
  'location',
]

type Attempt =
  | { kind: 'value'; value: CachedResponse; label: CacheLabel }
  | { kind: 'error'; error: unknown }
  | { kind: 'run'; run: HandlerRun }

/** The framework-free part of the HTTP cache: which requests, which key, serve or run the handler. */
export class HttpCacheCore {
  readonly maxBytes: number
  readonly #cache: Cache
  readonly #options: HttpCacheOptions
  readonly #ttlMs: number | undefined
  readonly #wrapOptions: { ttl?: number; grace: 0; earlyRefresh: false }
  readonly #headers: Set<string>
  readonly #methods: Set<string>
  readonly #maxVariants: number
  /** Keys whose stale response one request of this process is already replacing. */
  readonly #revalidating = new Set<string>()
  /** Variant keys seen per URL key, to bound what `Vary` can make this process store. */
  readonly #variants = new LRUCache<string, Set<string>>({ max: 10_000 })

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
    this.maxBytes = options.maxBytes ?? 1024 * 1024
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 0)
      throw new CorralConfigError('http.maxBytes', options.maxBytes, 'must be a whole number of bytes')
    this.#maxVariants = options.maxVariants ?? 16
    if (!Number.isInteger(this.#maxVariants) || this.#maxVariants < 1)
      throw new CorralConfigError('http.maxVariants', options.maxVariants, 'must be a whole number >= 1')
    const noCache = options.noCache ?? 'ignore'
    if (!['ignore', 'revalidate', 'bypass'].includes(noCache))
      throw new CorralConfigError('http.noCache', noCache, "must be 'ignore', 'revalidate' or 'bypass'")
    for (const name of ['key', 'userKey', 'tags'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function')
        throw new CorralConfigError(`http.${name}`, options[name], 'must be a function of the request')
    }
  }

  /** Serve from the cache, run this request's handler (maybe to fill it), or leave the request alone. */
  async decide(req: RequestLike, url = req.url ?? '/'): Promise<Decision> {
    if (!this.#methods.has((req.method ?? 'GET').toUpperCase())) return PASS
    // A range asks for part of a body; the cache keeps whole ones.
    if (req.headers.range !== undefined) return PASS
    const base = this.#options.key ? this.#options.key(req) : defaultKey(req, url)
    if (base === undefined) return PASS
    let key = base
    if (hasCredentials(req)) {
      const user = this.#options.userKey?.(req)
      if (user === undefined) return this.#sharedOnly(req, boundedKey(key))
      key = `${base} user:${user}`
    }
    key = boundedKey(key)
    const noCache = this.#options.noCache ?? 'ignore'
    const wantsFresh = noCache !== 'ignore' && clientSaysNoCache(req)
    if (wantsFresh && noCache === 'bypass') return PASS
    const tags = this.#options.tags?.(req)
    const op = wantsFresh ? 'refresh' : 'wrap'
    const first = await this.#attempt(op, key, tags, req)
    if (first.kind !== 'value' || matchesVary(first.value, req)) return this.#settle(first, key, tags, req)
    // Stored for other values of the headers it varies on: this request has a variant of its own.
    const names = Object.keys(first.value.vary ?? {})
    const variant = this.#variant(key, names, req)
    if (variant === undefined) return PASS
    const second = await this.#attempt(op, variant, tags, req)
    if (second.kind === 'value' && !matchesVary(second.value, req)) return PASS
    return this.#settle(second, variant, tags, req)
  }

  /** Turns a read's outcome into a decision; a stale response is replaced by one request while others get it. */
  async #settle(outcome: Attempt, key: string, tags: string[] | undefined, req: RequestLike): Promise<Decision> {
    if (outcome.kind === 'run') return outcome
    // A shared load that gave nothing storable: this request runs its own handler.
    if (outcome.kind === 'error') return PASS
    const { value, label } = outcome
    if (label !== 'hit' || !this.#isStale(value)) return { kind: 'serve', response: value, label }
    if (this.#revalidating.has(key)) return { kind: 'serve', response: value, label: 'stale' }
    this.#revalidating.add(key)
    const again = await this.#attempt('refresh', key, tags, req)
    if (again.kind === 'run') {
      const done = () => this.#revalidating.delete(key)
      again.run.result.then(done, done)
      return again
    }
    this.#revalidating.delete(key)
    if (again.kind === 'value' && matchesVary(again.value, req))
      return { kind: 'serve', response: again.value, label: again.label }
    return { kind: 'serve', response: value, label: 'stale' }
  }

  /**
   * A request with credentials and no `userKey`: answered from the cache only by a response marked
   * `public`/`s-maxage`, otherwise passed to its handler (not coalesced), whose response is stored
   * only if it is marked so.
   */
  async #sharedOnly(req: RequestLike, key: string): Promise<Decision> {
    let stored = await this.#cache.get<CachedResponse>(key)
    if (stored && !matchesVary(stored, req)) {
      const variant = this.#variant(key, Object.keys(stored.vary ?? {}), req)
      stored = variant === undefined ? undefined : await this.#cache.get<CachedResponse>(variant)
    }
    if (stored?.shared && matchesVary(stored, req) && !this.#isStale(stored))
      return { kind: 'serve', response: stored, label: 'hit' }
    return { kind: 'run', run: new HandlerRun(this, req, key, 'shared', undefined) }
  }

  /** Stores a public response that answered a request with credentials; under its variant when the URL's key is taken. */
  async storeShared(key: string, response: CachedResponse, req: RequestLike): Promise<void> {
    try {
      const names = Object.keys(response.vary ?? {})
      const target = names.length === 0 || !(await this.#cache.get(key)) ? key : this.#variant(key, names, req)
      if (target !== undefined) await this.#cache.set(target, response, this.#wrapOptions)
    } catch {
      // Storing is best effort: the client already has its response.
    }
  }

  /** The stored form of a response: chosen headers, the body as text or base64, the request's varying values. */
  toStored(
    status: number,
    headers: HeaderMap,
    body: Buffer,
    req: RequestLike,
    vary: string[],
    shared: boolean,
  ): CachedResponse {
    const kept: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(headers)) if (this.#headers.has(name)) kept[name] = value
    const text = body.toString('utf8')
    const utf8 = Buffer.byteLength(text) === body.length && Buffer.from(text).equals(body)
    return {
      status,
      headers: kept,
      body: utf8 ? text : body.toString('base64'),
      ...(utf8 ? {} : { base64: true as const }),
      storedAt: Date.now(),
      ...(vary.length > 0
        ? { vary: Object.fromEntries(vary.map((name) => [name, headerValue(req.headers, name)])) }
        : {}),
      ...(shared ? { shared: true as const } : {}),
    }
  }

  /** The key of this request's variant, or undefined once the URL has `maxVariants` of them. */
  #variant(key: string, names: string[], req: RequestLike): string | undefined {
    const variant = boundedKey(variantKey(key, names, req))
    let seen = this.#variants.get(key)
    if (!seen) this.#variants.set(key, (seen = new Set()))
    if (seen.has(variant)) return variant
    if (seen.size >= this.#maxVariants) return undefined
    seen.add(variant)
    return variant
  }

  #isStale(value: CachedResponse): boolean {
    return this.#ttlMs !== undefined && Date.now() >= value.storedAt + this.#ttlMs
  }

  /**
   * Reads through the cache; resolves as soon as either a value is known or corral asks this
   * request to load (then the adapter lets the request reach its handler and feeds the run).
   */
  async #attempt(op: 'wrap' | 'refresh', key: string, tags: string[] | undefined, req: RequestLike): Promise<Attempt> {
    let invoked!: (run: HandlerRun) => void
    const ran = new Promise<HandlerRun>((resolve) => (invoked = resolve))
    const loader = () => {
      const run = new HandlerRun(this, req, key, 'fill', 'miss')
      invoked(run)
      return run.result
    }
    let result: WrapResult = 'miss'
    const onResult = (r: WrapResult) => void (result = r)
    const options = { ...this.#wrapOptions, onResult, ...(tags ? { tags } : {}) }
    const read = this.#cache[op](key, loader, options)
    const outcome = await Promise.race([
      read.then(
        (value) => ({ kind: 'value' as const, value, label: labelOf(result) }),
        (error: unknown) => ({ kind: 'error' as const, error }),
      ),
      ran.then((run) => ({ kind: 'run' as const, run })),
    ])
    // The handler's own response goes to this client; the shared outcome is for the others.
    if (outcome.kind === 'run') read.catch(() => {})
    return outcome
  }
}

function labelOf(result: WrapResult): CacheLabel {
  return result === 'negative_hit' ? 'hit' : result
}

/** Whether a stored response was made for the same values of the headers it varies on as this request has. */
function matchesVary(response: CachedResponse, req: RequestLike): boolean {
  if (!response.vary) return true
  for (const [name, value] of Object.entries(response.vary)) if (headerValue(req.headers, name) !== value) return false
  return true
}

function clientSaysNoCache(req: RequestLike): boolean {
  const cacheControl = String(req.headers['cache-control'] ?? '').toLowerCase()
  return /\b(no-cache|max-age=0)\b/.test(cacheControl) || String(req.headers.pragma ?? '').toLowerCase() === 'no-cache'
}

/** The body of a stored response as bytes. */
export function bodyOf(response: CachedResponse): Buffer {
  return Buffer.from(response.body, response.base64 ? 'base64' : 'utf8')
}
