import pLimit, { type LimitFunction } from 'p-limit'
import { OriginTimeoutError } from './errors.ts'
import { channels, type LoadEvent } from './events.ts'
import type { CacheMetrics } from './metrics.ts'
import { setLongTimeout } from './timers.ts'

/** What a loader call produced, and how long it took (XFetch's delta). */
export interface OriginResult<T> {
  value: T
  ms: number
}

/**
 * The one door to the origin: at most `concurrency` loader calls in flight in this process
 * (p-limit), each aborted through its signal at the hard timeout. Every call is counted.
 */
export class OriginGuard {
  readonly #limit: LimitFunction
  readonly #metrics: CacheMetrics
  readonly #cache: string

  constructor(concurrency: number, metrics: CacheMetrics, cache = 'default') {
    this.#limit = pLimit(concurrency)
    this.#metrics = metrics
    this.#cache = cache
  }

  /** Loader calls waiting for a slot. */
  get queued(): number {
    return this.#limit.pendingCount
  }

  /**
   * Calls `loader` once a slot is free. The hard timeout counts from now, queueing included: a
   * caller waits at most `hardMs` in all. A loader that ignores its signal is abandoned at the
   * timeout, and its slot is freed. `keys` names a batch's keys for events (then `key` describes it).
   */
  call<T>(
    key: string,
    hardMs: number,
    loader: (signal: AbortSignal) => T | Promise<T>,
    keys?: readonly string[],
  ): Promise<OriginResult<T>> {
    const controller = new AbortController()
    const timeout = new OriginTimeoutError(key, hardMs)
    let onAbort: (() => void) | undefined
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(timeout)
      controller.signal.addEventListener('abort', onAbort, { once: true })
    })
    aborted.catch(() => {})
    const timer = setLongTimeout(() => controller.abort(timeout), hardMs)
    const run = async (): Promise<OriginResult<T>> => {
      if (controller.signal.aborted) throw timeout
      const started = performance.now()
      this.#metrics.originStarted()
      const event: LoadEvent | undefined =
        channels.loadStart.hasSubscribers || channels.loadEnd.hasSubscribers || channels.error.hasSubscribers
          ? { cache: this.#cache, key: keys ? undefined : key, ...(keys ? { keys } : {}) }
          : undefined
      if (event) channels.loadStart.publish(event)
      try {
        const value = await Promise.race([Promise.resolve().then(() => loader(controller.signal)), aborted])
        const ms = performance.now() - started
        this.#metrics.originFinished('success', ms / 1_000)
        if (event) this.#ended(event, 'success', ms)
        return { value, ms }
      } catch (error) {
        const ms = performance.now() - started
        const outcome = error === timeout ? 'timeout' : 'error'
        this.#metrics.originFinished(outcome, ms / 1_000)
        if (event) this.#ended(event, outcome, ms, error)
        throw error
      }
    }
    return Promise.race([this.#limit(run), aborted]).finally(() => {
      timer.clear()
      if (onAbort) controller.signal.removeEventListener('abort', onAbort)
    })
  }

  #ended(event: LoadEvent, outcome: LoadEvent['outcome'], ms: number, error?: unknown): void {
    event.outcome = outcome
    event.durationMs = ms
    if (error !== undefined) event.error = error
    channels.loadEnd.publish(event)
    if (error !== undefined)
      channels.error.publish({
        cache: this.#cache,
        source: 'loader',
        ...(event.key === undefined ? {} : { key: event.key }),
        error,
      })
  }
}
