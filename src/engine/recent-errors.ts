import { LRUCache } from 'lru-cache'
import type { Policy } from '../options.ts'

/**
 * Loader errors kept for `errorTtl`, so a dead origin is not called by every request: a key
 * whose last load failed less than `errorTtl` ago fails again at once with the same error. Bounded.
 */
export class RecentErrors {
  readonly #errors = new LRUCache<string, { error: unknown; until: number }>({ max: 10_000 })

  /** The error to rethrow for `storeKey` now, if its last load failed within its error ttl. */
  recent(storeKey: string): { error: unknown } | undefined {
    // Most loads find no error kept: an empty cache answers without a lookup.
    if (this.#errors.size === 0) return undefined
    const kept = this.#errors.get(storeKey)
    return kept && Date.now() < kept.until ? kept : undefined
  }

  /** Keeps `error` for `storeKey` for the policy's error ttl (not at all when it is 0). */
  remember(storeKey: string, error: unknown, policy: Policy): void {
    if (policy.errorTtlMs > 0) this.#errors.set(storeKey, { error, until: Date.now() + policy.errorTtlMs })
  }
}
