import type { Duration } from '../duration.ts'
import type { StaleReason } from '../metrics.ts'
import type { Policy } from '../options.ts'

/** What a loader gets: its key, an abort signal for the hard timeout, the graced value, and knobs for this one result. */
export interface LoaderContext<T = unknown> {
  key: string
  /** Aborted at the hard timeout: pass it to your database or HTTP client. */
  signal: AbortSignal
  /** The stale (graced) value, if one exists: useful for conditional requests. */
  stale: T | undefined
  /** Stores this one result for `ttl` instead of the configured one (adaptive caching). */
  setTtl(ttl: Duration): void
  /** Stores this one result with these tags instead of the ones given to `wrap`. */
  setTags(tags: string[]): void
}

export type Loader<T> = (ctx: LoaderContext<T>) => T | Promise<T>

/**
 * How one `wrap` call was answered: from the cache ('hit', 'negative_hit', 'stale'), by this
 * caller's own load ('miss'), or by joining a load another caller started, in this process or
 * another ('coalesced').
 */
export type WrapResult = 'hit' | 'stale' | 'miss' | 'coalesced' | 'negative_hit'

/** Loads several keys in one origin call. */
export type BatchLoader<T> = (
  keys: string[],
  ctx: { signal: AbortSignal },
) => Promise<Map<string, T> | Record<string, T>> | Map<string, T> | Record<string, T>

/** One read-through request, as the facade hands it over: key already validated and namespaced. */
export interface ReadRequest<T> {
  key: string
  storeKey: string
  loader: Loader<T>
  policy: Policy
  tags: readonly string[]
  /** Told how this call was answered, once, just before its promise settles. */
  onResult?: ((result: WrapResult) => void) | undefined
}

/** A load's result: from the origin, from a value another writer just stored, or stale instead of an error. */
export interface Loaded {
  value: unknown
  stale?: StaleReason
  /** The value was loaded by another process (announced by its lock, or found landed in `begin`). */
  remote?: true
}
