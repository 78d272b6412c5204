/** Memcached reads an expiry above 30 days as a Unix time instead of a number of seconds. */
const RELATIVE_LIMIT_S = 30 * 24 * 3600

/**
 * Memcached's `exptime` for a life of `ttlMs`: 0 (never) for Infinity, else whole seconds rounded
 * up plus one, since Memcached's clock ticks once a second and may expire an item up to a second
 * early. Entries carry their own fresh and stale times, so the spare second is never served as fresh.
 */
export function expiry(ttlMs: number): number {
  if (!Number.isFinite(ttlMs)) return 0
  const seconds = Math.max(1, Math.ceil(ttlMs / 1_000)) + 1
  return seconds <= RELATIVE_LIMIT_S ? seconds : Math.floor(Date.now() / 1_000) + seconds
}
