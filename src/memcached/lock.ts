import { randomBytes } from 'node:crypto'
import type {
  BatchLease,
  InvalidationChannel,
  KeyLock,
  LockDecision,
  LockLease,
  LockMetrics,
  LockMode,
  ManyLocks,
} from '../coordination.ts'
import { unheldBatchLease, unheldLease } from '../coordination-local.ts'
import { RemoteLoaderError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { sleep } from '../timers.ts'
import { itemBytes, replied } from './client.ts'
import { expiry } from './expiry.ts'
import { itemKey } from './keys.ts'
import type { MemcachedStore } from './store.ts'

/** A lock item holds `H` and its owner's token while a load runs ... */
const HELD = 'H'
/** ... `R` once its owner released it (free to take: a waiter reads the value) ... */
const RELEASED = 'R'
/** ... or `E` and the failed load's error, answered to every caller until the mark expires. */
const FAILED = 'E'
/** How long a released or failed mark stays (Memcached rounds it to 1-2 s): every poller sees it. */
const MARK_LIFE_MS = 1_000
/** Waiters poll the lock item: first after this, then twice as long each time, up to POLL_MAX_MS. */
const POLL_FIRST_MS = 5
const POLL_MAX_MS = 100

/**
 * The lock on Memcached, which has no pub/sub: a lock is an item taken with `add` (or a `cas` over
 * a released mark), holding an owner token and expiring after the lock ttl unless its owner
 * extends it. Only the owner releases it, with `gets` then `cas` (never a blind delete), leaving a
 * short mark that says how the load ended; waiters poll the item with backoff and read the value
 * from the store when the mark says so. A holder that dies leaves an item that expires: the next
 * waiter to try takes it over.
 */
export class MemcachedLock implements KeyLock {
  readonly waitMs: number
  readonly coordinates = true
  readonly #ttlMs: number
  readonly #store: MemcachedStore
  readonly #channel: InvalidationChannel
  readonly #metrics: LockMetrics
  readonly #logger: Logger

  constructor(deps: {
    store: MemcachedStore
    ttlMs: number
    waitMs: number
    channel: InvalidationChannel
    metrics: LockMetrics
    logger: Logger
  }) {
    this.waitMs = deps.waitMs
    this.#ttlMs = Math.ceil(deps.ttlMs)
    this.#store = deps.store
    this.#channel = deps.channel
    this.#metrics = deps.metrics
    this.#logger = deps.logger
  }

  /**
   * Decides who loads `key`. In 'try' mode a held lock means another process is refreshing: skip.
   * In 'wait' mode, poll until the holder's mark says ready or failed, the lock is free to take
   * (its holder died), or `deadlineMs` passes.
   */
  async coordinate(key: string, mode: LockMode, deadlineMs: number): Promise<LockDecision> {
    const started = performance.now()
    const waited = () => this.#metrics.lockWait((performance.now() - started) / 1_000)
    let contended = false
    let pause = POLL_FIRST_MS
    for (;;) {
      const attempt = await this.#tryLock(key)
      if (attempt === 'error') {
        this.#metrics.lock('error')
        return { kind: 'lead', lease: unheldLease(this.#channel, key) }
      }
      if (attempt !== 'contended') {
        this.#metrics.lock('acquired')
        if (contended) waited()
        return { kind: 'lead', lease: attempt }
      }
      if (!contended) this.#metrics.lock('contended')
      contended = true
      if (mode === 'try') return { kind: 'skip' }
      for (;;) {
        const left = deadlineMs - Date.now()
        if (left <= 0) {
          this.#metrics.lock('timeout')
          waited()
          return { kind: 'timeout', lease: unheldLease(this.#channel, key) }
        }
        await sleep(Math.min(pause, left))
        pause = Math.min(pause * 2, POLL_MAX_MS)
        const state = await this.#peek(key)
        if (state === 'held') continue
        if (state === 'free') break // the holder died or the mark expired: try to take it
        waited()
        return state === RELEASED ? { kind: 'ready' } : { kind: 'failed', error: remoteError(key, state) }
      }
    }
  }

  /**
   * A batch's locks, each tried at once (pipelined per server): the keys taken here load under one
   * lease, keys whose server cannot be asked load without a lock, and keys held elsewhere are
   * `taken` for the engine to wait on.
   */
  async tryMany(keys: readonly string[]): Promise<ManyLocks> {
    const attempts = await Promise.all(keys.map((key) => this.#tryLock(key)))
    const held = new Map<string, LockLease>()
    const unreachable: string[] = []
    const taken: string[] = []
    attempts.forEach((attempt, i) => {
      const key = keys[i] as string
      if (attempt === 'error') unreachable.push(key)
      else if (attempt === 'contended') taken.push(key)
      else held.set(key, attempt)
    })
    const load: ManyLocks['load'] = []
    if (held.size > 0) load.push({ keys: Array.from(held, ([key]) => key), lease: this.#batchLease(held) })
    if (unreachable.length > 0) load.push({ keys: unreachable, lease: unheldBatchLease(this.#channel) })
    return { load, taken }
  }

  /**
   * Memcached cannot say how long an item has left, and it has no channel to wake a batch's
   * waiters: they sleep one poll interval and try the locks again.
   */
  async msLeft(_keys: readonly string[]): Promise<number> {
    return POLL_MAX_MS
  }

  #batchLease(held: Map<string, LockLease>): BatchLease {
    const all = () => Promise.all([...held.values()].map((lease) => lease.release()))
    return {
      finish: async (_written, failed) => {
        await Promise.all(failed.map(({ key, error }) => held.get(key)?.fail(error)))
        await all()
      },
      release: async () => {
        await all()
      },
    }
  }

  /** Takes the lock with `add`, or with `cas` over a released mark; 'error' when the server cannot be asked. */
  async #tryLock(key: string): Promise<LockLease | 'contended' | 'error'> {
    const item = itemKey('lock', key)
    if (!this.#store.healthy(item)) return 'error'
    const token = randomBytes(12).toString('base64url')
    const held = Buffer.from(HELD + token)
    const life = { lifetime: expiry(this.#ttlMs) }
    try {
      const taken = await this.#store.run(item, async (client) => {
        if (await client.add(item, held, life).then(() => true, unlessReply('NOT_STORED'))) return true
        const found = await client.gets(item)
        const mark = itemBytes(found?.value)?.toString('utf8', 0, 1)
        // A failure mark is left to stand: callers arriving while it does get the error too,
        // instead of each process calling the failing origin again.
        if (!found || mark === HELD || mark === FAILED) return false
        return client
          .cas(item, held, { ...life, casUniq: found.casUniq })
          .then(() => true, unlessReply('EXISTS', 'NOT_FOUND'))
      })
      return taken ? this.#hold(key, item, token) : 'contended'
    } catch {
      return 'error'
    }
  }

  /** 'held', 'free', or the mark its owner left: RELEASED, or the failure's detail. */
  async #peek(key: string): Promise<'held' | 'free' | typeof RELEASED | { detail: string }> {
    const item = itemKey('lock', key)
    try {
      const found = itemBytes((await this.#store.run(item, (client) => client.get(item)))?.value)?.toString('utf8')
      if (!found) return 'free'
      if (found.startsWith(HELD)) return 'held'
      if (found.startsWith(FAILED)) return { detail: found.slice(1) }
      return RELEASED
    } catch {
      // Cannot ask: try the lock again, which leads without it if the server is really gone (a
      // waiter must not sit out `lock.wait` behind a dead server).
      return 'free'
    }
  }

  /** A held lock: extended at a third of its ttl while the load runs, and ended by its lease. */
  #hold(key: string, item: string, token: string): LockLease {
    const mine = HELD + token
    let ended = false
    const timer = setInterval(
      () => {
        void this.#replaceIfMine(item, mine, Buffer.from(mine), this.#ttlMs).then(
          (kept) => {
            if (kept) return
            // The fence still guards the write; losing the lock only means another process may load too.
            clearInterval(timer)
            this.#logger.warn('a load lock was lost before its load ended', { key })
          },
          () => {},
        )
      },
      Math.max(50, Math.floor(this.#ttlMs / 3)),
    )
    timer.unref()
    const end = async (mark: string) => {
      if (ended) return
      ended = true
      clearInterval(timer)
      // Failures are harmless: the lock expires and a waiter takes it over.
      await this.#replaceIfMine(item, mine, Buffer.from(mark), MARK_LIFE_MS).catch(() => false)
    }
    return {
      release: () => end(RELEASED),
      succeed: async (stored) => {
        await end(RELEASED)
        if (stored) await this.#channel.publish({ kind: 'ready', key })
      },
      fail: (error) => end(FAILED + errorDetail(error)),
    }
  }

  /** Replaces the lock item with `next` (for `lifeMs`) only while it still holds `mine`: gets, then cas. */
  #replaceIfMine(item: string, mine: string, next: Buffer, lifeMs: number): Promise<boolean> {
    return this.#store.run(item, async (client) => {
      const found = await client.gets(item)
      if (itemBytes(found?.value)?.toString('utf8') !== mine || !found) return false
      return client
        .cas(item, next, { casUniq: found.casUniq, lifetime: expiry(lifeMs) })
        .then(() => true, unlessReply('EXISTS', 'NOT_FOUND'))
    })
  }
}

function unlessReply(...replies: string[]): (error: unknown) => false {
  return (error) => {
    if (replies.some((reply) => replied(error, reply))) return false
    throw error
  }
}

/** A loader error as it travels to the waiters: its name and message, never its stack or cause. */
function errorDetail(error: unknown): string {
  return JSON.stringify({ name: (error as Error)?.name, message: (error as Error)?.message })
}

function remoteError(key: string, state: { detail: string }): RemoteLoaderError {
  try {
    const { name, message } = JSON.parse(state.detail) as { name?: string; message?: string }
    return new RemoteLoaderError(key, String(name ?? 'Error'), String(message ?? ''))
  } catch {
    return new RemoteLoaderError(key, 'Error', 'unknown')
  }
}
