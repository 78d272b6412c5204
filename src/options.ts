import type { LockClient } from './coordination.ts'
import { type Duration, toMs } from './duration.ts'
import { CorralConfigError } from './errors.ts'
import { adaptLogger, type Logger, silentLogger, throttledConsoleLogger } from './logger.ts'
import { checkLruBounds, type LruBounds } from './lru.ts'
import { jsonSerializer, type Serializer } from './serializer.ts'
import { msgpackSerializer } from './serializer-msgpack.ts'
import { memoryStore } from './stores/memory.ts'
import type { StoreFactory } from './stores/store.ts'

/** A prom-client Registry, typed loosely so prom-client stays an optional peer dependency. */
export interface MetricsRegistry {
  getSingleMetric(name: string): unknown
  registerMetric(metric: unknown): void
}

export interface LockOptions {
  /** Independent nodes for a quorum (ioredis clients for a Redlock quorum); default: the store's own client. */
  clients?: LockClient[]
  /** How long a lock lives unless its holder extends it (it does while its load runs). Default 5s. */
  ttl?: Duration
  /** How long a process waits for another's load before serving stale or loading itself. Default 3s. */
  wait?: Duration
}

/** The in-process tier in front of a shared store: its bounds, and how stale it may fall behind. */
export interface L1Options extends LruBounds {
  /**
   * The staleness bound: at least this often, the tier checks with the shared store that it
   * heard of every write in its namespace (and re-reads tag times), and drops what it holds if
   * it missed one. Default 1s.
   */
  verifyAfter?: Duration
}

/** L1 options with durations in milliseconds. */
export interface ResolvedL1 extends LruBounds {
  verifyAfterMs: number
}

/** How one result is stored; set on the cache, overridable per call. */
export interface PolicyOptions {
  /** How long a value is fresh. Default 60s. */
  ttl?: Duration
  /** After `ttl`, how long the stale value may still be served (and revalidated). Default 0. */
  grace?: Duration
  /**
   * How long a `null`/`undefined` result is cached; 0 = never. Default: the cache's `ttl`. A
   * per-call `ttl` does not change it; a per-call `negativeTtl` does.
   */
  negativeTtl?: Duration
  /** Spread of every ttl written, as a fraction: 0.1 = +-10%. Default 0. */
  jitter?: number
  /** XFetch probabilistic early refresh; `false` turns it off. Default `{ beta: 1 }`. */
  earlyRefresh?: { beta?: number } | boolean
  /**
   * soft: how long a caller holding a stale value waits for the refresh before it is served the
   * stale value (default 0: stale-while-revalidate); hard: abort the load (ctx.signal) and fail
   * or serve stale. Default: no hard timeout.
   */
  timeout?: { soft?: Duration; hard?: Duration }
  /** After a loader error was answered with a stale value, how long to keep serving it before calling the origin again. Default 5s. */
  failSafeThrottle?: Duration
  /**
   * After a loader error with no stale value to serve, how long this process answers that key
   * with the same error instead of calling the origin again (a dead origin is not hammered).
   * Default 0: every request after an error tries again.
   */
  errorTtl?: Duration
}

export interface CacheOptions extends PolicyOptions {
  /** The `cache` label on every metric. Default 'default'. */
  name?: string
  /** Prefix of every key; bump it to orphan all old entries. */
  namespace?: string
  store?: StoreFactory
  /** An in-process tier in front of a shared store. */
  l1?: L1Options | false
  lock?: boolean | LockOptions
  /** At most this many loader calls in flight in this process. Default 64. */
  originConcurrency?: number
  metrics?: { registry: MetricsRegistry } | false
  /**
   * 'msgpack' (default: Date, Map, Set, BigInt, Buffer/typed arrays, `undefined`, NaN round-trip),
   * 'json' (readable with redis-cli and from other languages; values come back as JSON gives
   * them) or { serialize, deserialize }. Whichever it is, the caller whose loader ran gets the
   * serializer's round trip of its value, exactly what every later hit gets.
   */
  serializer?: 'json' | 'msgpack' | Serializer
  /** Where failures are logged; `false` logs nothing. Default: console, throttled. */
  logger?: Logger | false
  /**
   * After `invalidateTags`, serve the invalidated entries as stale (within their grace, while one
   * refresh runs) instead of as misses. Default false: an invalidated entry is never served.
   */
  invalidateAsStale?: boolean
}

/** A policy with every duration in milliseconds. */
export interface Policy {
  ttlMs: number
  graceMs: number
  negativeTtlMs: number
  jitter: number
  beta: number
  softMs: number
  hardMs: number
  failSafeThrottleMs: number
  errorTtlMs: number
}

export interface ResolvedOptions {
  name: string
  namespace: string
  store: StoreFactory
  l1: ResolvedL1 | false
  lock: false | { clients?: LockClient[]; ttlMs: number; waitMs: number }
  originConcurrency: number
  metrics: { registry: MetricsRegistry } | false
  serializer: Serializer
  logger: Logger
  invalidateAsStale: boolean
  policy: Policy
}

/** The options that shape how one result is stored: on the cache, and per call. */
const POLICY_KEYS = [
  'ttl',
  'grace',
  'negativeTtl',
  'jitter',
  'earlyRefresh',
  'timeout',
  'failSafeThrottle',
  'errorTtl',
] as const
const CACHE_KEYS = new Set<string>([
  'name',
  'namespace',
  'store',
  'l1',
  'lock',
  'originConcurrency',
  'metrics',
  'serializer',
  'logger',
  'invalidateAsStale',
  ...POLICY_KEYS,
])

/** Validates `createCache` options; every problem is a CorralConfigError naming the option. */
export function resolveOptions(options: CacheOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CorralConfigError('options', options, 'must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!CACHE_KEYS.has(key))
      throw new CorralConfigError(key, (options as Record<string, unknown>)[key], 'is not a known option')
  }
  const name = options.name ?? 'default'
  if (typeof name !== 'string' || !/^[\w.:-]{1,64}$/.test(name)) {
    throw new CorralConfigError('name', name, 'must be 1-64 characters of letters, digits, _ . : -')
  }
  const namespace = options.namespace ?? ''
  if (typeof namespace !== 'string' || namespace.length > 256) {
    throw new CorralConfigError('namespace', namespace, 'must be a string of at most 256 characters')
  }
  const store = options.store ?? memoryStore()
  if (typeof store !== 'object' || store === null || typeof store.create !== 'function') {
    throw new CorralConfigError('store', store, 'must come from memoryStore() or redisStore()')
  }
  const originConcurrency = options.originConcurrency ?? 64
  if (
    !(originConcurrency === Number.POSITIVE_INFINITY || (Number.isInteger(originConcurrency) && originConcurrency >= 1))
  ) {
    throw new CorralConfigError('originConcurrency', originConcurrency, 'must be a whole number >= 1 or Infinity')
  }
  return {
    name,
    namespace,
    store,
    l1: resolveL1(options.l1),
    lock: resolveLock(options.lock),
    originConcurrency,
    metrics: resolveMetrics(options.metrics),
    serializer: resolveSerializer(options.serializer),
    logger: resolveLogger(options.logger),
    invalidateAsStale: resolveFlag('invalidateAsStale', options.invalidateAsStale),
    policy: resolvePolicy(options, undefined, 'option'),
  }
}

/**
 * Merges per-call options over the cache's policy. `where` prefixes option names in errors so a
 * bad `wrap` option reads as such.
 */
export function resolvePolicy(options: PolicyOptions, base: Policy | undefined, where: string): Policy {
  const name = (key: string) => (where === 'option' ? key : `${where}.${key}`)
  const ttlMs = options.ttl === undefined ? (base?.ttlMs ?? 60_000) : toMs(name('ttl'), options.ttl)
  const graceMs = options.grace === undefined ? (base?.graceMs ?? 0) : toMs(name('grace'), options.grace)
  // On the cache, negativeTtl defaults to ttl; per call, a ttl leaves the cache's negativeTtl alone
  // (`negativeTtl: 0` means never, whatever ttl a call asks for its values).
  const negativeTtlMs =
    options.negativeTtl === undefined ? (base?.negativeTtlMs ?? ttlMs) : toMs(name('negativeTtl'), options.negativeTtl)
  const jitter = options.jitter ?? base?.jitter ?? 0
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter < 1)) {
    throw new CorralConfigError(name('jitter'), jitter, 'must be a fraction from 0 to below 1')
  }
  const timeout = options.timeout
  if (timeout !== undefined && (typeof timeout !== 'object' || timeout === null)) {
    throw new CorralConfigError(name('timeout'), timeout, 'must be { soft?, hard? }')
  }
  const softMs = timeout?.soft === undefined ? (base?.softMs ?? 0) : toMs(name('timeout.soft'), timeout.soft)
  const hardMs =
    timeout?.hard === undefined ? (base?.hardMs ?? Number.POSITIVE_INFINITY) : toMs(name('timeout.hard'), timeout.hard)
  if (softMs > hardMs) {
    throw new CorralConfigError(
      name('timeout.soft'),
      timeout?.soft,
      `must not be longer than timeout.hard (${hardMs} ms)`,
    )
  }
  const failSafeThrottleMs =
    options.failSafeThrottle === undefined
      ? (base?.failSafeThrottleMs ?? 5_000)
      : toMs(name('failSafeThrottle'), options.failSafeThrottle)
  const errorTtlMs = options.errorTtl === undefined ? (base?.errorTtlMs ?? 0) : toMs(name('errorTtl'), options.errorTtl)
  return {
    errorTtlMs,
    ttlMs,
    graceMs,
    negativeTtlMs,
    jitter,
    beta: resolveBeta(options.earlyRefresh, base, name('earlyRefresh')),
    softMs,
    hardMs,
    failSafeThrottleMs,
  }
}

/** True when a per-call options object sets a policy option; false for the common case (none, or tags alone). */
export function touchesPolicy(options: object): boolean {
  // Over the options' own few keys (a tagged wrap passes one), not over every policy key.
  for (const key in options) if (POLICY_KEY_SET.has(key)) return true
  return false
}

const POLICY_KEY_SET = new Set<string>(POLICY_KEYS)

function resolveBeta(value: PolicyOptions['earlyRefresh'], base: Policy | undefined, option: string): number {
  if (value === undefined) return base?.beta ?? 1
  if (value === false) return 0
  if (value === true) return 1
  if (typeof value === 'object' && value !== null) {
    const beta = value.beta ?? 1
    if (typeof beta === 'number' && Number.isFinite(beta) && beta >= 0) return beta
    throw new CorralConfigError(`${option}.beta`, beta, 'must be a number >= 0')
  }
  throw new CorralConfigError(option, value, 'must be false or { beta }')
}

function resolveLogger(value: CacheOptions['logger']): Logger {
  if (value === false) return silentLogger
  if (value === undefined) return throttledConsoleLogger()
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.warn !== 'function' ||
    typeof value.error !== 'function'
  ) {
    throw new CorralConfigError('logger', value, 'must be false or an object with warn() and error()')
  }
  return adaptLogger(value)
}

function resolveFlag(option: string, value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new CorralConfigError(option, value, 'must be true or false')
  return value
}

function resolveL1(value: CacheOptions['l1']): ResolvedOptions['l1'] {
  if (value === undefined || value === false) return false
  if (typeof value !== 'object' || value === null) {
    throw new CorralConfigError(
      'l1',
      value,
      'must be false or { maxEntries: whole number >= 1, maxBytes?, verifyAfter? }',
    )
  }
  const bounds = checkLruBounds('l1', value)
  const verifyAfterMs = toMs('l1.verifyAfter', value.verifyAfter ?? 1_000)
  if (verifyAfterMs < 10 || !Number.isFinite(verifyAfterMs)) {
    throw new CorralConfigError('l1.verifyAfter', value.verifyAfter, 'must be a finite duration of at least 10 ms')
  }
  return { ...bounds, verifyAfterMs }
}

function resolveLock(value: CacheOptions['lock']): ResolvedOptions['lock'] {
  if (value === undefined || value === false) return false
  const given: LockOptions = value === true ? {} : value
  if (typeof given !== 'object' || given === null) {
    throw new CorralConfigError('lock', value, 'must be true, false or { clients?, ttl?, wait? }')
  }
  if (
    given.clients !== undefined &&
    (!Array.isArray(given.clients) ||
      given.clients.length === 0 ||
      !given.clients.every(
        (c) => typeof c === 'object' && c !== null && typeof (c as { evalsha?: unknown }).evalsha === 'function',
      ))
  ) {
    throw new CorralConfigError('lock.clients', given.clients, 'must be a non-empty array of ioredis clients')
  }
  const ttlMs = toMs('lock.ttl', given.ttl ?? 5_000)
  const waitMs = toMs('lock.wait', given.wait ?? 3_000)
  if (ttlMs < 100 || !Number.isFinite(ttlMs))
    throw new CorralConfigError('lock.ttl', given.ttl, 'must be at least 100 ms and finite')
  return { ...(given.clients ? { clients: given.clients } : {}), ttlMs, waitMs }
}

function resolveMetrics(value: CacheOptions['metrics']): ResolvedOptions['metrics'] {
  if (value === undefined || value === false) return false
  if (typeof value !== 'object' || value === null || typeof value.registry?.registerMetric !== 'function') {
    throw new CorralConfigError('metrics', value, 'must be false or { registry } with a prom-client Registry')
  }
  return value
}

function resolveSerializer(value: CacheOptions['serializer']): Serializer {
  if (value === undefined || value === 'msgpack') return msgpackSerializer()
  if (value === 'json') return jsonSerializer
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof value.serialize === 'function' &&
    typeof value.deserialize === 'function'
  ) {
    return value
  }
  throw new CorralConfigError('serializer', value, "must be 'json', 'msgpack' or { serialize, deserialize }")
}
