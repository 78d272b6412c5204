import { randomBytes } from 'node:crypto'
import type { BatchLease } from '../coordination.ts'
import { announceWritten } from '../coordination-local.ts'
import type { Logger } from '../logger.ts'
import { withTimeout } from '../timers.ts'
import { eachGroup, groupsFor } from './batch.ts'
import type { Bus } from './bus.ts'
import { isReady, type RedisClient } from './client.ts'
import { redisKeys } from './keys.ts'
import { EXTEND_MANY, LOCK_MANY, LOCKS_LEFT, UNLOCK_MANY } from './lock-scripts.ts'

type Args = (string | number)[]
interface LockCommands {
  corralLockMany(numberOfKeys: number, ...args: Args): Promise<number[]>
  corralExtendMany(numberOfKeys: number, ...args: Args): Promise<number>
  corralUnlockMany(numberOfKeys: number, ...args: Args): Promise<number>
  corralLocksLeft(numberOfKeys: number, ...args: Args): Promise<number[]>
}

/** The outcome of one attempt on many keys. */
export interface BatchAttempt {
  /** Locked here: load these. */
  won: string[]
  /** Held by another process: wait for its announcement. */
  taken: string[]
  /** No quorum could answer (Redis down or slow): load these without a lock, as `wrap` does. */
  failed: string[]
  lease: BatchLease
}

const NO_LEASE: BatchLease = { finish: async () => {}, release: async () => {} }

/**
 * The fleet lock for batches: the same lock keys and ttl as the single-key lock (so a batch and a
 * `wrap` of one key see each other), taken for many keys in one script call per chunk of keys and
 * per Redis node, instead of one Redlock round per key. With several nodes a key is won on a
 * majority of them, within the lock's validity, as Redlock decides it.
 */
export class BatchLock {
  readonly #clients: RedisClient[]
  readonly #quorum: number
  readonly #ttlMs: number
  readonly #attemptTimeoutMs: number
  readonly #chunk: number
  readonly #storeHealthy: () => boolean
  readonly #logger: Logger
  readonly #bus: Bus

  constructor(deps: {
    bus: Bus
    clients: RedisClient[]
    ttlMs: number
    /** How long one round of commands may take: the store's command timeout. */
    attemptTimeoutMs: number
    chunk: number
    storeHealthy: () => boolean
    logger: Logger
  }) {
    this.#clients = deps.clients
    this.#quorum = Math.floor(deps.clients.length / 2) + 1
    this.#ttlMs = Math.ceil(deps.ttlMs)
    this.#attemptTimeoutMs = deps.attemptTimeoutMs
    this.#chunk = deps.chunk
    this.#storeHealthy = deps.storeHealthy
    this.#logger = deps.logger
    this.#bus = deps.bus
    for (const client of this.#clients) {
      client.defineCommand('corralLockMany', { lua: LOCK_MANY })
      client.defineCommand('corralExtendMany', { lua: EXTEND_MANY })
      client.defineCommand('corralUnlockMany', { lua: UNLOCK_MANY })
      client.defineCommand('corralLocksLeft', { lua: LOCKS_LEFT })
    }
  }

  /** Tries the locks of all `keys` at once (one call per chunk and node); never waits for a holder. */
  async tryLock(keys: readonly string[]): Promise<BatchAttempt> {
    const live = this.#clients.filter(isReady)
    if (keys.length === 0 || !this.#storeHealthy() || live.length < this.#quorum) {
      return { won: [], taken: [], failed: [...keys], lease: NO_LEASE }
    }
    const token = randomBytes(16).toString('hex')
    const names = keys.map((key) => redisKeys(key).lock)
    const started = Date.now()
    const votes = new Uint8Array(keys.length)
    const answers = new Uint8Array(keys.length)
    await Promise.all(
      live.map((client) =>
        this.#each(client, names, async (group, part) => {
          const taken = await (client as unknown as LockCommands).corralLockMany(
            part.length,
            ...part,
            token,
            this.#ttlMs,
          )
          group.forEach((i, j) => {
            answers[i] = (answers[i] ?? 0) + 1
            if (taken[j] === 1) votes[i] = (votes[i] ?? 0) + 1
          })
        }),
      ),
    )
    // As Redlock: a lock is valid for its ttl less the time taken to get it and a margin for drift.
    const valid = this.#ttlMs - (Date.now() - started) - (Math.ceil(this.#ttlMs * 0.01) + 2) > 0
    const won: string[] = []
    const taken: string[] = []
    const failed: string[] = []
    const undo: string[] = []
    keys.forEach((key, i) => {
      const v = votes[i] ?? 0
      if (v >= this.#quorum && valid) won.push(key)
      else {
        if (v > 0) undo.push(key)
        if ((answers[i] ?? 0) - v >= this.#quorum) taken.push(key)
        else failed.push(key)
      }
    })
    if (undo.length > 0) void this.#unlock(undo, token)
    return { won, taken, failed, lease: won.length > 0 ? this.#hold(won, token) : NO_LEASE }
  }

  /** How long until the first of `keys`' locks expires (ms), read on the first node; the ttl if unknown. */
  async msLeft(keys: readonly string[]): Promise<number> {
    const client = this.#clients[0] as RedisClient
    if (keys.length === 0 || !isReady(client)) return this.#ttlMs
    let least = this.#ttlMs
    const names = keys.map((key) => redisKeys(key).lock)
    await this.#each(client, names, async (_group, part) => {
      const left = await (client as unknown as LockCommands).corralLocksLeft(part.length, ...part)
      for (const ms of left) least = Math.min(least, Math.max(ms, 0))
    })
    return least
  }

  /** Keeps the locks alive while the load runs: extended at a third of their ttl, released at the end. */
  #hold(keys: string[], token: string): BatchLease {
    const names = keys.map((key) => redisKeys(key).lock)
    const timer = setInterval(
      () => {
        for (const client of this.#clients) {
          void this.#each(client, names, (_group, part) =>
            (client as unknown as LockCommands).corralExtendMany(part.length, ...part, token, this.#ttlMs),
          ).catch((error) => {
            // The fence still guards the writes; a lost lock only means another process may load too.
            this.#logger.warn('could not extend batch load locks', { error: String(error) })
          })
        }
      },
      Math.max(50, Math.floor(this.#ttlMs / 3)),
    )
    timer.unref()
    let released: Promise<void> | undefined
    const release = () => {
      clearInterval(timer)
      released ??= this.#unlock(keys, token)
      return released
    }
    return {
      release,
      // As for one key: failures are announced while the locks are held (no waiter takes one and
      // calls a failing origin again), writes after the release (a waiter that missed the message
      // finds the lock free and reads the value when it begins).
      finish: async (written, failed, generations) => {
        for (const { key, error } of failed) {
          const detail = JSON.stringify({ name: (error as Error)?.name, message: (error as Error)?.message })
          await this.#bus.publish({ kind: 'error', key, detail })
        }
        await release()
        await announceWritten(this.#bus, written, generations)
      },
    }
  }

  /** Releases on every node; failures are harmless (the locks expire). */
  async #unlock(keys: readonly string[], token: string): Promise<void> {
    const names = keys.map((key) => redisKeys(key).lock)
    await Promise.all(
      this.#clients.map((client) =>
        this.#each(client, names, (_group, part) =>
          (client as unknown as LockCommands).corralUnlockMany(part.length, ...part, token),
        ).catch(() => {}),
      ),
    )
  }

  /**
   * Runs `work` on `client` for each chunk (or slot) of `names`, a few at a time; a chunk that
   * fails or outlasts the command timeout is left out (its keys count as unanswered).
   */
  async #each(
    client: RedisClient,
    names: readonly string[],
    work: (group: number[], part: string[]) => Promise<unknown>,
  ): Promise<void> {
    if (!isReady(client)) return
    await eachGroup(
      groupsFor(client, names.length, (i) => names[i] as string, this.#chunk),
      (group) =>
        withTimeout(
          work(
            group,
            group.map((i) => names[i] as string),
          ).catch(() => {}),
          this.#attemptTimeoutMs,
          () => undefined,
        ),
    )
  }
}
