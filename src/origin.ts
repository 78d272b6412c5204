// Imported: the global `performance` is a lazy getter, a function call on every read of a miss.
import { performance } from 'node:perf_hooks'
import pLimit, { type LimitFunction } from 'p-limit'
import { OriginTimeoutError } from './errors.ts'
import { channels, type LoadEvent } from './events.ts'
import type { CacheMetrics } from './metrics.ts'
import { type LongTimer, setLongTimeout } from './timers.ts'

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
  /** Undefined without a bound (`Infinity`): then nothing needs counting, and p-limit's promises per call are skipped. */
  readonly #limit: LimitFunction | undefined
  readonly #metrics: CacheMetrics
  readonly #cache: string

  constructor(concurrency: number, metrics: CacheMetrics, cache = 'default') {
    this.#limit = concurrency === Number.POSITIVE_INFINITY ? undefined : pLimit(concurrency)
    this.#metrics = metrics
    this.#cache = cache
  }

  /** Loader calls waiting for a slot. */
  get queued(): number {
    return this.#limit?.pendingCount ?? 0
  }

  /**
   * Calls `loader` once a slot is free. The hard timeout counts from now, queueing included: a
   * caller waits at most `hardMs` in all. A loader that ignores its signal is abandoned at the
   * timeout, and its slot is freed. `keys` names a batch's keys for events (then `key` describes it).
   * The loader gets an `Abortable` whose AbortController and signal are made only when the signal
   * is read or the timeout fires (creating an AbortSignal costs microseconds, most of what a
   * memory-store miss used to cost), and with no hard timeout no timer or race is armed.
   */
  call<T>(
    key: string,
    hardMs: number,
    loader: (abort: Abortable) => T | Promise<T>,
    keys?: readonly string[],
  ): Promise<OriginResult<T>> {
    const controller = new LazyAbort()
    const plain: OriginJob<T, OriginResult<T>> = { load: loader, loaded: resultOf, failed: rethrow }
    if (!Number.isFinite(hardMs)) return this.#slot(() => this.#run(key, keys, controller, plain, undefined))
    let timer: LongTimer | undefined
    const expiry: Expiry = { error: undefined, promise: undefined as unknown as Promise<never> }
    // The error is made when the timer fires, not for every call: an Error captures a stack.
    expiry.promise = new Promise<never>((_, reject) => {
      timer = setLongTimeout(() => {
        expiry.error = new OriginTimeoutError(key, hardMs)
        controller.abort(expiry.error)
        reject(expiry.error)
      }, hardMs)
    })
    expiry.promise.catch(() => {})
    return Promise.race([this.#slot(() => this.#run(key, keys, controller, plain, expiry)), expiry.promise]).finally(
      () => timer?.clear(),
    )
  }

  /**
   * `call` for a job that answers the outcome itself. Without a hard timeout, `job.loaded` or
   * `job.failed` runs in the loader call's own promise reaction, before the slot is freed: one
   * promise layer fewer on a memory-store miss, for a job that answers at once (a write to an
   * in-process store; a job that writes over the network belongs after `call` instead). With
   * one, the call answers at the timeout while its loader may still hold the slot: the job
   * answers after `call`.
   */
  run<T, R>(key: string, hardMs: number, job: OriginJob<T, R>): Promise<R> {
    if (!Number.isFinite(hardMs)) return this.#slot(() => this.#run(key, undefined, new LazyAbort(), job, undefined))
    return this.call(key, hardMs, (abort) => job.load(abort)).then(
      (result) => job.loaded(result.value, result.ms),
      (error) => job.failed(error),
    )
  }

  /** `start` in a p-limit slot, or at once when there is no bound. */
  #slot<R>(start: () => Promise<R>): Promise<R> {
    if (this.#limit) return this.#limit(start)
    try {
      return start()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Not `async`: on a memory-store miss every promise layer counts, and this one needs none of its own. */
  #run<T, R>(
    key: string,
    keys: readonly string[] | undefined,
    controller: LazyAbort,
    job: OriginJob<T, R>,
    expiry: Expiry | undefined,
  ): Promise<R> {
    if (expiry?.error) return Promise.reject(expiry.error)
    const started = performance.now()
    this.#metrics.originStarted()
    const event: LoadEvent | undefined =
      channels.loadStart.hasSubscribers || channels.loadEnd.hasSubscribers || channels.error.hasSubscribers
        ? { cache: this.#cache, key: keys ? undefined : key, ...(keys ? { keys } : {}) }
        : undefined
    if (event) channels.loadStart.publish(event)
    let pending: Promise<T>
    if (expiry) pending = Promise.race([Promise.resolve().then(() => job.load(controller)), expiry.promise])
    else {
      try {
        pending = Promise.resolve(job.load(controller))
      } catch (error) {
        pending = Promise.reject(error)
      }
    }
    // Unnamed callbacks: a named closure made per call costs a defineProperty under tsx's keepNames.
    return pending.then(
      (value) => {
        const ms = performance.now() - started
        this.#metrics.originFinished('success', ms / 1_000)
        if (event) this.#ended(event, 'success', ms)
        return job.loaded(value, ms)
      },
      (error) => {
        const ms = performance.now() - started
        const outcome = expiry?.error !== undefined && error === expiry.error ? 'timeout' : 'error'
        this.#metrics.originFinished(outcome, ms / 1_000)
        if (event) this.#ended(event, outcome, ms, error)
        return job.failed(error)
      },
    )
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

/**
 * One loader call and what it answers: `loaded` with the loader's value and how long it took
 * (XFetch's delta), `failed` with its error (the timeout's included).
 */
export interface OriginJob<T, R> {
  load(abort: Abortable): T | Promise<T>
  loaded(value: T, ms: number): R | Promise<R>
  failed(error: unknown): R | Promise<R>
}

function resultOf<T>(value: T, ms: number): OriginResult<T> {
  return { value, ms }
}

function rethrow(error: unknown): never {
  throw error
}

/** The hard timeout of one call: its error once it fired, and the promise that rejects with it. */
interface Expiry {
  error: OriginTimeoutError | undefined
  promise: Promise<never>
}

/** What a loader call is handed: the abort signal of the hard timeout, made when first read. */
/**
 * An AbortController made only when its signal is read or the call is aborted: most loads end
 * before either, and a controller per call showed in a memory-store miss's profile.
 */
class LazyAbort implements Abortable {
  #controller: AbortController | undefined

  get signal(): AbortSignal {
    this.#controller ??= new AbortController()
    return this.#controller.signal
  }

  abort(reason: unknown): void {
    this.#controller ??= new AbortController()
    this.#controller.abort(reason)
  }
}

export interface Abortable {
  readonly signal: AbortSignal
}

/**
 * `fields` plus a `signal` read from `abort` only when the loader asks for it: most loaders never
 * do, and an AbortSignal costs microseconds to create.
 */
export function withSignal<C extends object>(fields: C, abort: Abortable): C & { readonly signal: AbortSignal } {
  return {
    ...fields,
    get signal() {
      return abort.signal
    },
  }
}
