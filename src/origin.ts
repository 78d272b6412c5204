import pLimit, { type LimitFunction } from 'p-limit'
import { OriginTimeoutError } from './errors.ts'
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

  constructor(concurrency: number, metrics: CacheMetrics) {
    this.#limit = pLimit(concurrency)
    this.#metrics = metrics
  }

  /** Loader calls waiting for a slot. */
  get queued(): number {
    return this.#limit.pendingCount
  }

  /**
   * Calls `loader` once a slot is free. The hard timeout counts from now, queueing included: a
   * caller waits at most `hardMs` in all. A loader that ignores its signal is abandoned at the
   * timeout, and its slot is freed.
   */
  call<T>(key: string, hardMs: number, loader: (signal: AbortSignal) => T | Promise<T>): Promise<OriginResult<T>> {
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
      try {
        const value = await Promise.race([Promise.resolve().then(() => loader(controller.signal)), aborted])
        const ms = performance.now() - started
        this.#metrics.originFinished('success', ms / 1_000)
        return { value, ms }
      } catch (error) {
        this.#metrics.originFinished(error === timeout ? 'timeout' : 'error', (performance.now() - started) / 1_000)
        throw error
      }
    }
    return Promise.race([this.#limit(run), aborted]).finally(() => {
      timer.clear()
      if (onAbort) controller.signal.removeEventListener('abort', onAbort)
    })
  }
}
