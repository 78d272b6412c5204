/** The values of the `result` label of `corral_wrap_duration_seconds`: how a wrap call was answered. */
export const WRAP_RESULTS = ['hit', 'stale', 'miss', 'coalesced', 'negative_hit'] as const

/** 50 µs (an in-memory answer) to ~4 s (a slow origin), doubling from 0.5 ms. */
export const WRAP_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
  4.096,
]

/** One cache's series for one `result`: counts per bucket (not cumulative), plus sum and count. */
export class WrapSeries {
  readonly buckets = new Array<number>(WRAP_BUCKETS.length + 1).fill(0)
  sum = 0
  count = 0
  /** Answers given without waiting for anything (a synchronous memory hit), folded into the lowest bucket. */
  atOnce = 0

  observe(seconds: number): void {
    let i = 0
    while (i < WRAP_BUCKETS.length && seconds > (WRAP_BUCKETS[i] as number)) i++
    this.buckets[i] = (this.buckets[i] as number) + 1
    this.sum += seconds
    this.count += 1
  }
}

interface Sample {
  labels: Record<string, string | number>
  value: number
  metricName: string
}

/**
 * `corral_wrap_duration_seconds`, a histogram in prom-client's metric shape (registered on the
 * user's registry like any other). Not a prom-client Histogram because a synchronous memory hit
 * must cost one increment: it is recorded as a count of zero-second answers and folded into the
 * lowest bucket when the registry is scraped, instead of an `observe` per call.
 */
export class WrapHistogram {
  readonly name = 'corral_wrap_duration_seconds'
  readonly help = 'How long wrap calls took for their callers, by how they were answered.'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #caches = new Map<string, Record<(typeof WRAP_RESULTS)[number], WrapSeries>>()
  /** Run before every read: caches hand over the answers they counted in plain numbers. */
  readonly #beforeRead = new Set<() => void>()

  /** Registers `flush` to run before each scrape; the returned function flushes once more and unregisters it. */
  beforeRead(flush: () => void): () => void {
    this.#beforeRead.add(flush)
    return () => {
      flush()
      this.#beforeRead.delete(flush)
    }
  }

  /** The series of one cache, created (at zero, so dashboards see 0 rather than no data) if new. */
  series(cache: string): Record<(typeof WRAP_RESULTS)[number], WrapSeries> {
    let found = this.#caches.get(cache)
    if (!found) {
      found = Object.fromEntries(WRAP_RESULTS.map((r) => [r, new WrapSeries()])) as Record<
        (typeof WRAP_RESULTS)[number],
        WrapSeries
      >
      this.#caches.set(cache, found)
    }
    return found
  }

  /** What prom-client's Registry reads when it is scraped. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    for (const flush of this.#beforeRead) flush()
    const values: Sample[] = []
    for (const [cache, byResult] of this.#caches) {
      for (const result of WRAP_RESULTS) {
        const s = byResult[result]
        let cumulative = s.atOnce
        for (const [i, le] of WRAP_BUCKETS.entries()) {
          cumulative += s.buckets[i] as number
          values.push({ labels: { cache, result, le }, value: cumulative, metricName: `${this.name}_bucket` })
        }
        const count = s.count + s.atOnce
        values.push({ labels: { cache, result, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` })
        values.push({ labels: { cache, result }, value: s.sum, metricName: `${this.name}_sum` })
        values.push({ labels: { cache, result }, value: count, metricName: `${this.name}_count` })
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** prom-client's `registry.resetMetrics()` calls this. */
  reset(): void {
    for (const byResult of this.#caches.values())
      for (const s of Object.values(byResult)) {
        s.buckets.fill(0)
        s.sum = 0
        s.count = 0
        s.atOnce = 0
      }
  }
}
