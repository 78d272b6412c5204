import { type Duration, toMs } from './duration.ts'
import { CorralConfigError } from './errors.ts'

/** How a command was let through: normally, or as the one probe of a half-open breaker. */
export type Pass = 'closed' | 'probe'

/**
 * A circuit breaker for store commands. After `failures` failures in a row it opens: commands
 * fail at once instead of each paying the store timeout (a store may `trip` it at once, for a
 * failure that shows the store out of reach). After `cooldownMs` it lets one probe through
 * (half-open), or at once when the store's connection is back (`probeNow`): success closes it,
 * failure opens it again for twice as long (up to 16x). Commands already in flight when it
 * opened do not count again when they fail.
 */
export class Breaker {
  readonly #threshold: number
  readonly #cooldownMs: number
  #failures = 0
  #openUntil = 0
  #trips = 0
  #probing = false
  readonly #listeners: ((to: 'open' | 'half_open' | 'closed') => void)[] = []

  constructor(options: { failures: number; cooldownMs: number }) {
    this.#threshold = options.failures
    this.#cooldownMs = options.cooldownMs
  }

  /** 'closed', 'open' or 'half-open', for logs and tests. */
  get state(): 'closed' | 'open' | 'half-open' {
    if (this.#failures < this.#threshold) return 'closed'
    return Date.now() < this.#openUntil ? 'open' : 'half-open'
  }

  /** Calls `listener` on every change of state (metrics count them). */
  onTransition(listener: (to: 'open' | 'half_open' | 'closed') => void): void {
    this.#listeners.push(listener)
  }

  #moved(to: 'open' | 'half_open' | 'closed'): void {
    for (const listener of this.#listeners) listener(to)
  }

  /** Whether a command may go to the store now, and as what; in half-open only one (the probe) may. */
  allow(): Pass | false {
    if (this.#failures < this.#threshold) return 'closed'
    if (Date.now() < this.#openUntil || this.#probing) return false
    this.#probing = true
    this.#moved('half_open')
    return 'probe'
  }

  /** Returns true when this success closed an open breaker. */
  success(pass: Pass): boolean {
    const wasOpen = this.#failures >= this.#threshold
    if (pass === 'probe' || !wasOpen) {
      this.#failures = 0
      this.#trips = 0
      this.#probing = false
    }
    const closed = wasOpen && pass === 'probe'
    if (closed) this.#moved('closed')
    return closed
  }

  /**
   * The connection to the store was (re)established: an open breaker lets its probe through now
   * instead of after the rest of its cooldown (which doubles during a long outage).
   */
  probeNow(): void {
    if (this.#failures >= this.#threshold) this.#openUntil = 0
  }

  /**
   * A failure that cost the whole timeout: opens the breaker at once, whatever the count. Returns
   * true when this opened it.
   */
  trip(pass: Pass): boolean {
    if (pass === 'probe') this.#probing = false
    else if (this.#failures >= this.#threshold) return false // sent before it opened: already counted
    this.#failures = this.#threshold
    this.#openUntil = Date.now() + this.#cooldownMs * 2 ** Math.min(this.#trips, 4)
    this.#trips += 1
    this.#moved('open')
    return true
  }

  /** Returns true when this failure opened the breaker. */
  failure(pass: Pass): boolean {
    if (pass === 'probe') this.#probing = false
    else if (this.#failures >= this.#threshold) return false // sent before it opened: already counted
    this.#failures += 1
    if (this.#failures < this.#threshold) return false
    this.#openUntil = Date.now() + this.#cooldownMs * 2 ** Math.min(this.#trips, 4)
    this.#trips += 1
    this.#moved('open')
    return true
  }
}

/** The `breaker` option a store takes: thresholds, or `false` for none. */
export type BreakerOption = { failures?: number; cooldown?: Duration } | false

/** A breaker from a store's `breaker` option (default { failures: 3, cooldown: '1s' }), or undefined for `false`. */
export function breakerFrom(option: BreakerOption | undefined): Breaker | undefined {
  if (option === false) return undefined
  const failures = option?.failures ?? 3
  const cooldownMs = toMs('store.breaker.cooldown', option?.cooldown ?? 1_000)
  if (!Number.isInteger(failures) || failures < 1) {
    throw new CorralConfigError('store.breaker.failures', failures, 'must be a whole number >= 1')
  }
  if (!Number.isFinite(cooldownMs) || cooldownMs <= 0) {
    throw new CorralConfigError('store.breaker.cooldown', option?.cooldown, 'must be a finite duration > 0')
  }
  return new Breaker({ failures, cooldownMs })
}
