import Redlock, { type Lock, ResourceLockedError } from 'redlock'
import {
  gens,
  type KeyLock,
  type KeyMessage,
  type LockDecision,
  type LockLease,
  type LockMetrics,
  type LockMode,
  type ManyLocks,
} from '../coordination.ts'
import { unheldBatchLease, unheldLease } from '../coordination-local.ts'
import { RemoteLoaderError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { withTimeout } from '../timers.ts'
import { BatchLock } from './batch-lock.ts'
import type { Bus } from './bus.ts'
import { isReady, type RedisClient } from './client.ts'
import { redisKeys } from './keys.ts'

/**
 * The lock on Redis: one process per key holds a Redlock lock and loads; the others wait for its
 * "ready" on the cache's bus, or for the lock to come free if it died. Redlock is called with
 * `retryCount: 0` (its own retries measure expiry from before them, redlock#296) and the waiting
 * and extension are ours.
 */
export class RedisLock implements KeyLock {
  readonly waitMs: number
  readonly coordinates = true
  readonly #ttlMs: number
  readonly #redlock: Redlock
  readonly #first: RedisClient
  readonly #clients: RedisClient[]
  readonly #quorum: number
  readonly #attemptTimeoutMs: number
  readonly #storeHealthy: () => boolean
  readonly #bus: Bus
  readonly #metrics: LockMetrics
  readonly #logger: Logger
  readonly #batch: BatchLock
  readonly #decided: (key: string) => void

  constructor(deps: {
    clients: RedisClient[]
    ttlMs: number
    waitMs: number
    /** How long one lock attempt may take: the store's command timeout. */
    attemptTimeoutMs: number
    /** False while the store's circuit breaker is open: the lock's Redis is then skipped too. */
    storeHealthy: () => boolean
    bus: Bus
    metrics: LockMetrics
    logger: Logger
    /** Keys per lock command in a batch (the store's `chunk`). */
    chunk: number
    /** Told of each key this process is to load after coordinating (taken, timed out, or unreachable). */
    decided?: (key: string) => void
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
    this.#batch = new BatchLock({ ...deps, bus: deps.bus })
    this.#decided = deps.decided ?? (() => {})
  }

  /** Locks many keys at once (see BatchLock); keys whose locks cannot be reached load without one. */
  async tryMany(keys: readonly string[]): Promise<ManyLocks> {
    const attempt = await this.#batch.tryLock(keys)
    for (const _ of attempt.won) this.#metrics.lock('acquired')
    for (const _ of attempt.taken) this.#metrics.lock('contended')
    for (const _ of attempt.failed) this.#metrics.lock('error')
    const load = [
      { keys: attempt.won, lease: attempt.lease },
      { keys: attempt.failed, lease: unheldBatchLease(this.#bus) },
    ].filter((group) => group.keys.length > 0)
    return { load, taken: attempt.taken }
  }

  msLeft(keys: readonly string[]): Promise<number> {
    return this.#batch.msLeft(keys)
  }

  /**
   * Decides who loads `key`. In 'try' mode (early refresh, stale revalidation) a held lock means
   * someone else is already refreshing: skip. In 'wait' mode, wait for their result until
   * `deadlineMs`, taking the lock over if its holder dies.
   */
  async coordinate(key: string, mode: LockMode, deadlineMs: number): Promise<LockDecision> {
    const decision = await this.#decide(key, mode, deadlineMs)
    if (decision.kind === 'lead' || decision.kind === 'timeout') this.#decided(key)
    return decision
  }

  async #decide(key: string, mode: LockMode, deadlineMs: number): Promise<LockDecision> {
    // A store the breaker keeps away (or never reached) cannot hold a lock either: load here at once.
    if (!this.#storeHealthy()) {
      this.#metrics.lock('error')
      return { kind: 'lead', lease: unheldLease(this.#bus, key) }
    }
    const listening = mode === 'wait' && (await this.#bus.subscribe())
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
          return { kind: 'lead', lease: unheldLease(this.#bus, key) }
        }
        if (attempt !== 'contended') {
          this.#metrics.lock('acquired')
          if (contended) this.#metrics.lockWait((performance.now() - started) / 1_000)
          return { kind: 'lead', lease: attempt }
        }
        if (!contended) this.#metrics.lock('contended')
        contended = true
        if (mode === 'try') return { kind: 'skip' }
        const left = deadlineMs - Date.now()
        if (left <= 0) {
          this.#metrics.lock('timeout')
          this.#metrics.lockWait((performance.now() - started) / 1_000)
          return { kind: 'timeout', lease: unheldLease(this.#bus, key) }
        }
        // Sleep until the holder's lock would expire (it may have died), or until it reports.
        const lockLeft = await this.#remaining(key)
        const outcome = await withTimeout(message, Math.min(left, lockLeft + 5), () => undefined)
        if (outcome) {
          this.#metrics.lockWait((performance.now() - started) / 1_000)
          return outcome.kind === 'ready' ? { kind: 'ready' } : { kind: 'failed', error: remoteError(outcome) }
        }
      } finally {
        stop()
      }
    }
  }

  async #tryLock(key: string): Promise<LockLease | 'contended' | 'error'> {
    // Without a quorum of connected nodes the attempt can only fail (or wait on a client's offline
    // queue): count it as an error at once and load in this process.
    if (!this.#storeHealthy() || this.#clients.filter(isReady).length < this.#quorum) return 'error'
    let lock: Lock | undefined
    try {
      const attempt = this.#redlock.acquire([redisKeys(key).lock], this.#ttlMs, { retryCount: 0 })
      // A node that accepts the connection but never answers must not hold the caller past the store timeout.
      lock = await withTimeout(attempt, this.#attemptTimeoutMs, () => undefined)
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

  /**
   * Keeps the lock alive while the load runs (extended at a third of its ttl) and runs the lease's
   * protocol: success releases then announces; failure announces then releases.
   */
  #hold(key: string, acquired: Lock): LockLease {
    let lock = acquired
    let released = false
    const timer = setInterval(
      () => {
        // Bounded like every Redis call: a late extension counts as a failed one.
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
    const release = async () => {
      if (released) return
      released = true
      clearInterval(timer)
      // Release failures are harmless (the lock expires); redlock#309 rejects even after success.
      // A store the breaker keeps away is not asked at all, and no release waits past the timeout.
      if (!this.#storeHealthy()) return
      const releasing = this.#redlock.release(lock, { retryCount: 0 }).catch(() => {})
      await withTimeout(releasing, this.#attemptTimeoutMs, () => undefined)
    }
    return {
      release,
      // Release before announcing: a waiter that started listening just after the message finds
      // the lock free, takes it and reads the value in `begin`, instead of sleeping until the lock
      // would have expired. Waiters wake on the message (stored or not); other processes' L1 copies go.
      succeed: async (_stored, receipt) => {
        await release()
        await this.#bus.publish({ kind: 'ready', key, ...gens(receipt) })
      },
      // A failure is announced while the lock is still held, so no waiter takes it in between and
      // calls the failing origin again.
      fail: async (error) => {
        await this.#bus.publish({ kind: 'error', key, detail: errorDetail(error) })
        await release()
      },
    }
  }

  async #remaining(key: string): Promise<number> {
    if (!isReady(this.#first) || !this.#storeHealthy()) return this.#ttlMs
    try {
      const ms = await withTimeout(this.#first.pttl(redisKeys(key).lock), this.#attemptTimeoutMs, () => this.#ttlMs)
      return Math.max(ms, 0)
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

/** `work`, rejected if it has not settled within `ms`. */
function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  return withTimeout(work, ms, () => {
    throw new Error(`redis did not answer within ${ms} ms`)
  })
}

/** A loader error as it travels to the waiters: its name and message, never its stack or cause. */
function errorDetail(error: unknown): string {
  return JSON.stringify({ name: (error as Error)?.name, message: (error as Error)?.message })
}

function remoteError(message: KeyMessage): RemoteLoaderError {
  try {
    const detail = message.kind === 'error' ? message.detail : '{}'
    const { name, message: text } = JSON.parse(detail) as { name?: string; message?: string }
    return new RemoteLoaderError(message.key, String(name ?? 'Error'), String(text ?? ''))
  } catch {
    return new RemoteLoaderError(message.key, 'Error', 'unknown')
  }
}
