import Redlock, { type Lock, ResourceLockedError } from 'redlock'
import type { Bus, BusMessage } from './bus.ts'
import { CorralError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { CacheMetrics } from './metrics.ts'
import { redisKeys } from './stores/redis.ts'
import { isReady, type RedisClient } from './stores/redis-client.ts'
import { TIMED_OUT, withTimeout } from './timers.ts'

/** A loader error from another process, rethrown to the callers that waited for its load. */
export class RemoteLoaderError extends CorralError {
  override name = 'RemoteLoaderError'
  constructor(
    readonly key: string,
    readonly remoteName: string,
    remoteMessage: string,
  ) {
    super(`corral: the load of ${JSON.stringify(key)} failed in another process: ${remoteName}: ${remoteMessage}`)
  }
}

/** A lock this process holds; extended while its load runs, released once. */
export interface HeldLock {
  release(): Promise<void>
}

/** What a process should do about a missing key, decided across the fleet. */
export type Coordination =
  | { kind: 'lead'; held: HeldLock | undefined }
  | { kind: 'ready' }
  | { kind: 'failed'; error: RemoteLoaderError }
  | { kind: 'skip' }
  | { kind: 'timeout' }

/**
 * Cross-process coalescing: one process per key holds a Redlock lock and loads; the others wait
 * for its "ready" on the cache's bus, or for the lock to come free if it died. Redlock is called
 * with `retryCount: 0` (its own retries measure expiry from before them, redlock#296) and the
 * waiting and extension are ours.
 */
export class FleetLock {
  readonly waitMs: number
  readonly #ttlMs: number
  readonly #redlock: Redlock
  readonly #first: RedisClient
  readonly #clients: RedisClient[]
  readonly #quorum: number
  readonly #attemptTimeoutMs: number
  readonly #storeHealthy: () => boolean
  readonly #bus: Bus
  readonly #metrics: CacheMetrics
  readonly #logger: Logger

  constructor(deps: {
    clients: RedisClient[]
    ttlMs: number
    waitMs: number
    /** How long one lock attempt may take: the store's command timeout. */
    attemptTimeoutMs: number
    /** False while the store's circuit breaker is open: the lock's Redis is then skipped too. */
    storeHealthy: () => boolean
    bus: Bus
    metrics: CacheMetrics
    logger: Logger
  }) {
    this.waitMs = deps.waitMs
    this.#ttlMs = Math.ceil(deps.ttlMs)
    // Redlock's types name ioredis 5's classes; the calls it makes (evalsha, eval) are the same in 6.
    this.#redlock = new Redlock(deps.clients, { retryCount: 0, driftFactor: 0.01 })
    // Redlock emits every refused vote, a held lock included; unheard, an 'error' event would throw.
    this.#redlock.on('error', () => {})
    this.#first = deps.clients[0] as RedisClient
    this.#clients = deps.clients
    this.#quorum = Math.floor(deps.clients.length / 2) + 1
    this.#attemptTimeoutMs = deps.attemptTimeoutMs
    this.#storeHealthy = deps.storeHealthy
    this.#bus = deps.bus
    this.#metrics = deps.metrics
    this.#logger = deps.logger
  }

  /**
   * Decides who loads `key`. In 'try' mode (early refresh, stale revalidation) a held lock means
   * someone else is already refreshing: skip. In 'wait' mode, wait for their result until
   * `deadline`, taking the lock over if its holder dies.
   */
  async coordinate(key: string, mode: 'wait' | 'try', deadline: number): Promise<Coordination> {
    // A store the breaker keeps away (or never reached) cannot hold a lock either: load here at once.
    if (!this.#storeHealthy()) {
      this.#metrics.lock('error')
      return { kind: 'lead', held: undefined }
    }
    const listening = mode === 'wait' && (await this.#bus.ready())
    const started = performance.now()
    let contended = false
    for (;;) {
      let heard: (message: KeyMessage) => void = () => {}
      const message = new Promise<KeyMessage>((resolve) => (heard = resolve))
      // Listen before trying the lock, so a "ready" sent between the two is not missed.
      const stop = listening ? this.#bus.listen(key, heard) : () => {}
      try {
        const attempt = await this.#tryLock(key)
        if (attempt === 'error') {
          this.#metrics.lock('error')
          return { kind: 'lead', held: undefined }
        }
        if (attempt !== 'contended') {
          this.#metrics.lock('acquired')
          if (contended) this.#metrics.lockWait((performance.now() - started) / 1_000)
          return { kind: 'lead', held: attempt }
        }
        if (!contended) this.#metrics.lock('contended')
        contended = true
        if (mode === 'try') return { kind: 'skip' }
        const left = deadline - Date.now()
        if (left <= 0) {
          this.#metrics.lock('timeout')
          this.#metrics.lockWait((performance.now() - started) / 1_000)
          return { kind: 'timeout' }
        }
        // Sleep until the holder's lock would expire (it may have died), or until it reports.
        const lockLeft = await this.#remaining(key)
        const outcome = await Promise.race([message, delay(Math.min(left, lockLeft + 5))])
        if (outcome) {
          this.#metrics.lockWait((performance.now() - started) / 1_000)
          return outcome.kind === 'ready' ? { kind: 'ready' } : { kind: 'failed', error: remoteError(outcome) }
        }
      } finally {
        stop()
      }
    }
  }

  async #tryLock(key: string): Promise<HeldLock | 'contended' | 'error'> {
    // Without a quorum of connected nodes the attempt can only fail (or wait on a client's offline
    // queue): count it as an error at once and load in this process.
    if (!this.#storeHealthy() || this.#clients.filter(isReady).length < this.#quorum) return 'error'
    let lock: Lock | undefined
    try {
      const attempt = this.#redlock.acquire([redisKeys(key).lock], this.#ttlMs, { retryCount: 0 })
      // A node that accepts the connection but never answers must not hold the caller past the store timeout.
      lock = await Promise.race([attempt, delay(this.#attemptTimeoutMs)])
      if (!lock) {
        attempt.then(
          (late) => late.release().catch(() => {}),
          () => {},
        )
        return 'error'
      }
    } catch (error) {
      return (await isContention(error)) ? 'contended' : 'error'
    }
    return this.#hold(key, lock)
  }

  /** Keeps the lock alive while the load runs: extended at a third of its ttl, released at the end. */
  #hold(key: string, acquired: Lock): HeldLock {
    let lock = acquired
    let released = false
    const timer = setInterval(
      () => {
        // Bounded like every Redis call: a late extension is as good as a failed one.
        bounded(lock.extend(this.#ttlMs), this.#attemptTimeoutMs).then(
          (next) => {
            lock = next
          },
          (error) => {
            // The fence still guards the write; losing the lock only means another process may load too.
            clearInterval(timer)
            this.#logger.warn('could not extend a load lock', { key, error: String(error) })
          },
        )
      },
      Math.max(50, Math.floor(this.#ttlMs / 3)),
    )
    timer.unref()
    return {
      release: async () => {
        if (released) return
        released = true
        clearInterval(timer)
        // Release failures are harmless (the lock expires); redlock#309 rejects even after success.
        // A store the breaker keeps away is not asked at all, and no release waits past the timeout.
        if (!this.#storeHealthy()) return
        await withTimeout(this.#redlock.release(lock, { retryCount: 0 }), this.#attemptTimeoutMs)
      },
    }
  }

  async #remaining(key: string): Promise<number> {
    if (!isReady(this.#first) || !this.#storeHealthy()) return this.#ttlMs
    try {
      const ms = await withTimeout(this.#first.pttl(redisKeys(key).lock), this.#attemptTimeoutMs)
      return ms === TIMED_OUT ? this.#ttlMs : Math.max(ms, 0)
    } catch {
      return this.#ttlMs
    }
  }
}

async function isContention(error: unknown): Promise<boolean> {
  const attempts = (error as { attempts?: readonly Promise<{ votesAgainst: Map<unknown, Error> }>[] }).attempts
  if (!attempts?.length) return false
  const stats = await attempts[attempts.length - 1]
  if (!stats) return false
  return [...stats.votesAgainst.values()].some((e) => e instanceof ResourceLockedError)
}

type KeyMessage = Extract<BusMessage, { key: string }>

function remoteError(message: KeyMessage): RemoteLoaderError {
  try {
    const detail = message.kind === 'error' ? message.detail : '{}'
    const { name, message: text } = JSON.parse(detail) as { name?: string; message?: string }
    return new RemoteLoaderError(message.key, String(name ?? 'Error'), String(text ?? ''))
  } catch {
    return new RemoteLoaderError(message.key, 'Error', 'unknown')
  }
}

/** `promise`, rejected after `ms` if it has not settled by then. */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  const result = await withTimeout(promise, ms)
  if (result === TIMED_OUT) throw new Error(`redis did not answer within ${ms} ms`)
  return result
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref())
}
