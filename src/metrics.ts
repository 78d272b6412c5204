import { createRequire } from 'node:module'
// The `result` label of corral_wrap_duration_seconds is the engine's own classification (onResult's).
import type { WrapResult } from './engine/types.ts'
import type { MetricsRegistry } from './options.ts'
import { WrapHistogram } from './wrap-histogram.ts'

/** The label values of each metric: the types below and the series created at 0 both come from here. */
export const REQUEST_RESULTS = ['hit', 'stale', 'miss', 'negative_hit'] as const
export const ORIGIN_OUTCOMES = ['success', 'error', 'timeout'] as const
export const COALESCED_SCOPES = ['local', 'distributed'] as const
export const REFRESH_REASONS = ['early', 'stale', 'manual'] as const
export const STALE_REASONS = ['revalidate', 'origin_error', 'timeout', 'store_error'] as const
export const LOCK_OUTCOMES = ['acquired', 'contended', 'timeout', 'error'] as const
export const INVALIDATION_KINDS = ['key', 'tag'] as const
export const L1_CLEARED_REASONS = ['bus_lost'] as const
/** How a load's fenced write ended: stored, or refused because a newer write or load got there first. */
export const FENCED_WRITE_OUTCOMES = ['written', 'superseded'] as const
export const BREAKER_TRANSITIONS = ['open', 'half_open', 'closed'] as const
export const L1_EVICTION_REASONS = ['size', 'invalidation', 'cleared'] as const
/** The store operations whose failures are counted (`corral_store_errors_total{op}`). */
export const STORE_OPS = [
  'get',
  'getMany',
  'begin',
  'commit',
  'tagTimes',
  'set',
  'delete',
  'increment',
  'invalidateTags',
] as const
export type RequestResult = (typeof REQUEST_RESULTS)[number]
export type OriginOutcome = (typeof ORIGIN_OUTCOMES)[number]
export type CoalescedScope = (typeof COALESCED_SCOPES)[number]
export type RefreshReason = (typeof REFRESH_REASONS)[number]
export type StaleReason = (typeof STALE_REASONS)[number]
export type LockOutcome = (typeof LOCK_OUTCOMES)[number]
export type InvalidationKind = (typeof INVALIDATION_KINDS)[number]
export type StoreOp = (typeof STORE_OPS)[number]
export type FencedWriteOutcome = (typeof FENCED_WRITE_OUTCOMES)[number]
export type BreakerState = 'closed' | 'half-open' | 'open'
export type BreakerTransition = (typeof BREAKER_TRANSITIONS)[number]
export type L1EvictionReason = (typeof L1_EVICTION_REASONS)[number]

/** What the engine reports; the only way metrics see the engine. Labels are fixed words, never keys. */
export interface CacheMetrics {
  request(result: RequestResult): void
  originStarted(): void
  originFinished(outcome: OriginOutcome, seconds: number): void
  coalesced(scope: CoalescedScope): void
  refresh(reason: RefreshReason): void
  staleServed(reason: StaleReason): void
  lock(outcome: LockOutcome): void
  /** How long a caller waited on another process's load (or for the lock to come free). */
  lockWait(seconds: number): void
  storeError(op: StoreOp): void
  invalidation(kind: InvalidationKind, count?: number): void
  /** The L1 tier was cleared because the bus dropped and invalidations may have been missed. */
  l1Cleared(): void
  /** A load's result reached the store's fence: written, or superseded (normal when loads overlap). */
  fencedWrite(outcome: FencedWriteOutcome): void
  /** A wrap answered without awaiting anything (a memory hit): one request and one zero-second wrap. */
  answeredAtOnce(result: 'hit' | 'negative_hit' | 'stale'): void
  /** A wrap that awaited something, as it settles (rejections included). */
  wrapDone(result: WrapResult, seconds: number): void
  breakerTransition(to: BreakerTransition): void
  /** L1 entries removed before their time: pushed out by the bounds, invalidated, or cleared. */
  l1Evicted(reason: L1EvictionReason, count?: number): void
  /** Exposes the cache's state as gauges, read when the registry is scraped (never on the read path). */
  watch(state: CacheState): void
  /** The cache closed: hand over what is still counted, drop its gauges and let go of the registry. */
  close(): void
}

/** What gauges read at scrape time. */
export interface CacheState {
  originQueue(): number
  l1?: { entries(): number; bytes(): number }
  breaker?: { store: string; state(): BreakerState }
}

/** Records nothing: the cost of metrics when they are off is one empty call. */
export const noMetrics: CacheMetrics = {
  request() {},
  originStarted() {},
  originFinished() {},
  coalesced() {},
  refresh() {},
  staleServed() {},
  lock() {},
  lockWait() {},
  storeError() {},
  invalidation() {},
  l1Cleared() {},
  fencedWrite() {},
  answeredAtOnce() {},
  wrapDone() {},
  breakerTransition() {},
  l1Evicted() {},
  watch() {},
  close() {},
}

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 }

/** 0.5 ms to ~4 s, doubling: resolves sub-millisecond loads and multi-second ones alike. */
export const ORIGIN_BUCKETS = [
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
]
const LOCK_BUCKETS = [0.001, 0.004, 0.016, 0.064, 0.256, 0.5, 1, 2, 4, 8]

interface PromCounter {
  labels(...values: string[]): { inc(n?: number): void }
}
interface PromGauge {
  labels(...values: string[]): { inc(n?: number): void; dec(n?: number): void; set(v: number): void }
  reset(): void
}
interface PromHistogram {
  labels(...values: string[]): { observe(v: number): void }
}
interface PromModule {
  Counter: new (config: object) => PromCounter
  Gauge: new (config: object) => PromGauge
  Histogram: new (config: object) => PromHistogram
}

/**
 * prom-client metrics on the user's registry (never the global one). Metrics are got-or-created, so
 * caches with distinct names share one registry; each cache binds its label children once, so
 * recording is a property lookup and an increment.
 */
export function promMetrics(registry: MetricsRegistry, cache: string): CacheMetrics {
  // prom-client is an optional peer dependency (CommonJS), loaded only when metrics are asked for.
  const prom = createRequire(import.meta.url)('prom-client') as PromModule
  const counter = (name: string, help: string, label?: string) =>
    getOrCreate(
      registry,
      name,
      () =>
        new prom.Counter({
          name,
          help,
          labelNames: label ? ['cache', label] : ['cache'],
          registers: [registry],
          collect: flushPending,
        }),
    ) as PromCounter
  const histogram = (name: string, help: string, buckets: number[]) =>
    getOrCreate(
      registry,
      name,
      () => new prom.Histogram({ name, help, labelNames: ['cache'], buckets, registers: [registry] }),
    ) as PromHistogram

  const requests = counter('corral_requests_total', 'Reads through the cache, by how they were answered.', 'result')
  const origin = counter('corral_origin_calls_total', 'Loader calls that reached the origin, by outcome.', 'outcome')
  const duration = histogram('corral_origin_duration_seconds', 'How long loader calls took.', ORIGIN_BUCKETS).labels(
    cache,
  )
  const inflight = (
    getOrCreate(
      registry,
      'corral_origin_inflight',
      () =>
        new prom.Gauge({
          name: 'corral_origin_inflight',
          help: 'Loader calls in flight now.',
          labelNames: ['cache'],
          registers: [registry],
        }),
    ) as PromGauge
  ).labels(cache)
  const coalesced = counter(
    'corral_coalesced_total',
    'Callers that shared another caller’s load instead of starting one.',
    'scope',
  )
  const refresh = counter('corral_refresh_total', 'Background and manual refreshes started, by reason.', 'reason')
  const stale = counter('corral_stale_served_total', 'Stale values served, by reason.', 'reason')
  const lock = counter('corral_lock_total', 'Cross-process lock attempts, by outcome.', 'outcome')
  const lockWait = histogram(
    'corral_lock_wait_seconds',
    'How long callers waited for another process’s load.',
    LOCK_BUCKETS,
  ).labels(cache)
  const storeErrors = counter(
    'corral_store_errors_total',
    'Store operations that failed or timed out, by operation.',
    'op',
  )
  const invalidations = counter('corral_invalidations_total', 'Invalidations, by kind.', 'kind')
  const wrapHistogram = getOrCreate(registry, 'corral_wrap_duration_seconds', () => {
    const created = new WrapHistogram()
    registry.registerMetric(created)
    return created
  }) as WrapHistogram
  const wrapSeries = wrapHistogram.series(cache)
  /** Gauges read from the cache when scraped; a closed cache's series go with it. */
  const gauge = (name: string, help: string, read: (set: (value: number, store?: string) => void) => void) => {
    const metric = getOrCreate(registry, name, () => {
      const readers: Readers = new Map()
      const created = new prom.Gauge({
        name,
        help,
        labelNames: name === 'corral_breaker_state' ? ['cache', 'store'] : ['cache'],
        registers: [registry],
        collect(this: PromGauge) {
          this.reset()
          // Caches of one name in one process (two instances) add up, as their counters do; of two
          // breakers, the worse state shows.
          const sums = new Map<string, { labels: string[]; value: number }>()
          for (const { cache: c, read: r } of readers.values())
            r((v, store) => {
              const labels = store ? [c, store] : [c]
              const key = labels.join('\u0000')
              const found = sums.get(key)
              if (found) found.value = name === 'corral_breaker_state' ? Math.max(found.value, v) : found.value + v
              else sums.set(key, { labels, value: v })
            })
          for (const { labels, value } of sums.values()) this.labels(...labels).set(value)
        },
      })
      gaugeReaders.set(created, readers)
      return created
    }) as PromGauge
    const token = {}
    gaugeReaders.get(metric)?.set(token, { cache, read })
    return { metric, token }
  }
  const gauges: { metric: PromGauge; token: object }[] = []

  /**
   * Counter children that count in a plain number and hand the sum to prom-client when the
   * registry is scraped: a labelled prom-client `inc` hashes its labels on every call, which cost
   * more than the whole memory-hit path.
   */
  const unbinds: (() => void)[] = []
  const bind = <K extends string>(metric: PromCounter, values: readonly K[], before?: () => void) => {
    const children = {} as Record<K, { inc(n?: number): void }>
    const pending = {} as Record<K, number>
    const flushers: (() => void)[] = []
    for (const v of values) {
      const child = metric.labels(cache, v)
      // inc(0) creates the series now, so dashboards see 0 rather than no data, and rate() sees the first event.
      child.inc(0)
      pending[v] = 0
      children[v] = { inc: (n = 1) => void (pending[v] += n) }
      flushers.push(() => {
        if (pending[v] === 0) return
        child.inc(pending[v])
        pending[v] = 0
      })
    }
    const flushCounts = () => {
      before?.()
      for (const flush of flushers) flush()
    }
    unbinds.push(onCollect(metric, flushCounts))
    return children
  }
  const byResult = bind(requests, REQUEST_RESULTS, () => flushAtOnce())
  // A memory hit is one increment of a plain number here; it reaches both the requests counter
  // and the wrap histogram (as a zero-second answer) when either is scraped.
  const atOnce = { hit: 0, negative_hit: 0, stale: 0 }
  const atOnceChildren = {
    hit: requests.labels(cache, 'hit'),
    negative_hit: requests.labels(cache, 'negative_hit'),
    stale: requests.labels(cache, 'stale'),
  }
  const flushAtOnce = () => {
    for (const result of ['hit', 'negative_hit', 'stale'] as const) {
      const n = atOnce[result]
      if (n === 0) continue
      atOnce[result] = 0
      atOnceChildren[result].inc(n)
      wrapSeries[result].atOnce += n
    }
  }
  unbinds.push(wrapHistogram.beforeRead(flushAtOnce))
  const byOutcome = bind(origin, ORIGIN_OUTCOMES)
  const byScope = bind(coalesced, COALESCED_SCOPES)
  const byRefresh = bind(refresh, REFRESH_REASONS)
  const byStale = bind(stale, STALE_REASONS)
  const byLock = bind(lock, LOCK_OUTCOMES)
  const byInvalidation = bind(invalidations, INVALIDATION_KINDS)
  const l1Cleared = bind(
    counter(
      'corral_l1_cleared_total',
      'Times the L1 tier was dropped because it missed a write (a bus message lost).',
      'reason',
    ),
    L1_CLEARED_REASONS,
  )
  const byFencedWrite = bind(
    counter(
      'corral_fenced_writes_total',
      'Loaded values that reached the fence: written, or superseded by a newer write or load.',
      'outcome',
    ),
    FENCED_WRITE_OUTCOMES,
  )
  // Every store operation corral runs, created at 0 so the first failure of each shows in rate().
  const byStoreOp = bind(storeErrors, STORE_OPS)
  const byTransition = bind(
    counter('corral_breaker_transitions_total', 'Circuit breaker state changes, by the state entered.', 'to'),
    BREAKER_TRANSITIONS,
  )
  const byEviction = bind(
    counter('corral_l1_evictions_total', 'L1 entries removed before their time, by reason.', 'reason'),
    L1_EVICTION_REASONS,
  )
  return {
    request: (result) => byResult[result].inc(),
    originStarted: () => inflight.inc(),
    originFinished: (outcome, seconds) => {
      inflight.dec()
      byOutcome[outcome].inc()
      duration.observe(seconds)
    },
    coalesced: (scope) => byScope[scope].inc(),
    refresh: (reason) => byRefresh[reason].inc(),
    staleServed: (reason) => byStale[reason].inc(),
    lock: (outcome) => byLock[outcome].inc(),
    lockWait: (seconds) => lockWait.observe(seconds),
    storeError: (op) => byStoreOp[op].inc(),
    invalidation: (kind, count = 1) => byInvalidation[kind].inc(count),
    l1Cleared: () => l1Cleared.bus_lost.inc(),
    fencedWrite: (outcome) => byFencedWrite[outcome].inc(),
    answeredAtOnce: (result) => {
      atOnce[result]++
    },
    wrapDone: (result, seconds) => wrapSeries[result].observe(seconds),
    breakerTransition: (to) => byTransition[to].inc(),
    l1Evicted: (reason, count = 1) => byEviction[reason].inc(count),
    watch: (state) => {
      gauges.push(
        gauge('corral_origin_queue', 'Loader calls waiting for an originConcurrency slot.', (set) =>
          set(state.originQueue()),
        ),
      )
      const { l1, breaker } = state
      if (l1) {
        gauges.push(
          gauge('corral_l1_entries', 'Entries in the in-process L1 tier.', (set) => set(l1.entries())),
          gauge('corral_l1_bytes', 'Serialized bytes in the L1 tier (measured when l1.maxBytes is set).', (set) =>
            set(l1.bytes()),
          ),
        )
      }
      if (breaker) {
        gauges.push(
          gauge('corral_breaker_state', "The store's circuit breaker: 0 closed, 1 half-open, 2 open.", (set) =>
            set(BREAKER_VALUE[breaker.state()], breaker.store),
          ),
        )
      }
    },
    // Counters and histograms keep their totals, as prom-client's do; gauges describe a live cache.
    close: () => {
      for (const unbind of unbinds.splice(0)) unbind()
      for (const { metric, token } of gauges.splice(0)) gaugeReaders.get(metric)?.delete(token)
    },
  }
}

/** Per gauge, the function of each cache that reads its current value. */
type Readers = Map<object, { cache: string; read: (set: (value: number, store?: string) => void) => void }>
const gaugeReaders = new WeakMap<object, Readers>()

/** Per prom-client metric, the flushers of every open cache that counts into it. */
const pendingFlushers = new WeakMap<object, Set<() => void>>()

/** Registers `flush` to run before each scrape of `metric`; the returned function flushes once more and unregisters it. */
function onCollect(metric: object, flush: () => void): () => void {
  let set = pendingFlushers.get(metric)
  if (!set) pendingFlushers.set(metric, (set = new Set()))
  set.add(flush)
  return () => {
    flush()
    set.delete(flush)
  }
}

/** How many caches count into `metric` now (for tests: closed caches leave none behind). */
export function flusherCount(metric: object): number {
  return pendingFlushers.get(metric)?.size ?? 0
}

/** prom-client calls this (as the metric) before it reads a counter's values. */
function flushPending(this: object): void {
  for (const flush of pendingFlushers.get(this) ?? []) flush()
}

function getOrCreate(registry: MetricsRegistry, name: string, create: () => unknown): unknown {
  return registry.getSingleMetric(name) ?? create()
}
