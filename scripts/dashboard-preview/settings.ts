/** Settings shared by the preview's parts. */

/** What Grafana would use for `$__rate_interval` with a 1 s scrape interval (4 x the interval). */
export const RATE_INTERVAL = '4s'
/** Prometheus query_range step, in seconds. */
export const STEP_S = 1
export const REPLICAS = 2
/** Short enough that entries expire (stale serves, refreshes) a few times during the run. */
export const CACHE_TTL = '10s'
/** Fewer than the Zipf ids read, so the L1 panels show evictions by size. */
export const L1_ENTRIES = 150
