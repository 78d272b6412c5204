import type { Registry } from 'prom-client'

/** One second of the demo, as the page draws it. */
export interface Sample {
  t: number
  /** HTTP requests to the API routes per second. */
  rps: number
  /** Statements that reached the origin per second. */
  qps: number
  /** Share of cache reads answered with a fresh value (hit, negative hit) in that second; null when idle. */
  hitRatio: number | null
  /** Callers per second that joined a load already running instead of starting their own. */
  coalesced: number
}

interface Totals {
  requests: number
  queries: number
  /** Reads answered with a fresh value: hits and negative hits. Stale serves are counted apart. */
  hits: number
  stale: number
  reads: number
  coalesced: number
}

/**
 * Samples the demo's counters once per interval and keeps the last minute. The cache numbers come
 * from corral's own Prometheus metrics, so the page shows exactly what /metrics exports.
 */
export class Stats {
  requests = 0
  readonly samples: Sample[] = []
  readonly #timer: NodeJS.Timeout
  #last: Totals | undefined

  constructor(
    readonly registry: Registry,
    readonly queries: () => number,
    readonly intervalMs = 1_000,
  ) {
    this.#timer = setInterval(() => void this.#sample(), intervalMs)
    this.#timer.unref()
  }

  async totals(): Promise<Totals> {
    const results = await values(this.registry, 'corral_requests_total')
    const coalesced = await values(this.registry, 'corral_coalesced_total')
    const sum = (rows: { value: number; labels: Record<string, unknown> }[], pick?: (r: string) => boolean) =>
      rows.filter((r) => !pick || pick(String(r.labels.result))).reduce((n, r) => n + r.value, 0)
    return {
      requests: this.requests,
      queries: this.queries(),
      hits: sum(results, (r) => r === 'hit' || r === 'negative_hit'),
      stale: sum(results, (r) => r === 'stale'),
      reads: sum(results),
      coalesced: sum(coalesced),
    }
  }

  close(): void {
    clearInterval(this.#timer)
  }

  async #sample(): Promise<void> {
    const now = await this.totals()
    const last = this.#last ?? now
    this.#last = now
    const perSecond = (n: number) => Math.round((n * 1000) / this.intervalMs)
    const reads = now.reads - last.reads
    this.samples.push({
      t: Date.now(),
      rps: perSecond(now.requests - last.requests),
      qps: perSecond(now.queries - last.queries),
      hitRatio: reads > 0 ? (now.hits - last.hits) / reads : null,
      coalesced: perSecond(now.coalesced - last.coalesced),
    })
    if (this.samples.length > 60) this.samples.shift()
  }
}

async function values(registry: Registry, name: string) {
  const metric = registry.getSingleMetric(name)
  return metric ? (await metric.get()).values : []
}
