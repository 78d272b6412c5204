import { LRUCache } from 'lru-cache'
import { CorralConfigError } from './errors.ts'
import { MAX_TIMER_MS } from './timers.ts'

/** How big an in-process LRU may grow: the memory store's and the L1 tier's options. */
export interface LruBounds {
  /** The most entries kept; the least recently used go first. */
  maxEntries: number
  /** Optional bound on the serialized size of all values, in bytes. */
  maxBytes?: number
}

/**
 * lru-cache reserves index arrays for `max` entries when it is created, so an absurd bound would
 * fail (or take gigabytes) at once rather than as the cache fills.
 */
export const MAX_LRU_ENTRIES = 50_000_000

/** Checks bounds given under `option` (e.g. 'l1'); a bad one is a CorralConfigError naming `option.field`. */
export function checkLruBounds(option: string, bounds: { maxEntries?: unknown; maxBytes?: unknown }): LruBounds {
  const { maxEntries, maxBytes } = bounds
  if (
    typeof maxEntries !== 'number' ||
    !Number.isInteger(maxEntries) ||
    maxEntries < 1 ||
    maxEntries > MAX_LRU_ENTRIES
  ) {
    throw new CorralConfigError(
      `${option}.maxEntries`,
      maxEntries,
      `must be a whole number from 1 to ${MAX_LRU_ENTRIES}`,
    )
  }
  if (maxBytes !== undefined && (typeof maxBytes !== 'number' || !Number.isInteger(maxBytes) || maxBytes < 1)) {
    throw new CorralConfigError(`${option}.maxBytes`, maxBytes, 'must be a whole number of bytes >= 1')
  }
  return maxBytes === undefined ? { maxEntries } : { maxEntries, maxBytes }
}

/**
 * An lru-cache of at most `maxEntries` values, and of `maxBytes` in all when given (then every
 * `set` must carry a size: use `lruSetOptions`). `dispose` hears every removal and its reason.
 */
export function boundedLru<V extends {}>(
  bounds: LruBounds,
  hooks: { dispose?: LRUCache.Disposer<string, V> } = {},
): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max: bounds.maxEntries,
    ...(bounds.maxBytes ? { maxSize: bounds.maxBytes, maxEntrySize: bounds.maxBytes } : {}),
    ...(hooks.dispose ? { dispose: hooks.dispose } : {}),
  })
}

/**
 * lru-cache `set` options for a value kept `ttlMs` (Infinity or past the timer limit: kept until
 * evicted, our own clock decides), sized by its payload when the LRU is bounded in bytes.
 */
export function lruSetOptions(
  sized: boolean,
  ttlMs: number,
  payload?: string | Buffer,
): { ttl: number; size?: number } {
  const ttl = !Number.isFinite(ttlMs) || ttlMs > MAX_TIMER_MS ? 0 : Math.max(1, Math.ceil(ttlMs))
  if (!sized) return { ttl }
  return { ttl, size: payload === undefined ? 64 : Math.max(1, Buffer.byteLength(payload)) }
}
