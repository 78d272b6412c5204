import { ReplyError } from 'ioredis'
import { type Breaker, type BreakerOption, breakerFrom } from '../breaker.ts'
import type { Coordinator, KeyLock, LockSettings } from '../coordination.ts'
import { type Duration, toMs } from '../duration.ts'
import { birthPosition, decodeEntry, type Entry, encodeEntry } from '../entry.ts'
import { CorralConfigError, NotACounterError, StoreUnavailableError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Serializer } from '../serializer.ts'
import type { Begun, FenceToken, Receipt, Store, StoreContext, StoreFactory } from '../stores/store.ts'
import { withTimeout } from '../timers.ts'
import { Bus } from './bus.ts'
import { createOwnedClient, isReady, type RedisClient, whenReady } from './client.ts'
import { generationKey, redisKeys, tagKey } from './keys.ts'
import { RedisLock } from './lock.ts'
import { BEGIN, COMMIT, DELETE, FENCE_MARGIN_MS, INCREMENT, INVALIDATE_TAG, SET } from './scripts.ts'

export interface RedisStoreOptions {
  /** A client you own: corral never closes it. Give `protocol: 2` and a `commandTimeout` if you can. */
  client?: RedisClient
  /** Or a URL: corral opens a fail-fast client and closes it on `cache.close()`. */
  url?: string
  /** How long one store command may take before the cache steps aside. Default 500 ms. */
  timeout?: Duration
  /**
   * After `failures` failed commands in a row, stop sending commands for `cooldown` (then probe
   * with one), so a slow or dead Redis does not cost every request the timeout.
   * Default { failures: 3, cooldown: '1s' }; false turns it off.
   */
  breaker?: BreakerOption
}

type Arg = string | number | Buffer

/** The scripts as ioredis commands: keys first (the generation key only off Cluster), then ARGV. */
interface CorralCommands {
  corralBeginBuffer(entry: string, fence: string, keepMs: number): Promise<[Buffer | null, number, number]>
  corralInvalidateTag(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralCommit(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralSet(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralDelete(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralIncrement(entry: string, by: number, px: number): Promise<number>
}

/** Entries on Redis (standalone or Cluster) through ioredis, with fenced writes in Lua. */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly client: RedisClient
  /** The cache's bus and a Redlock lock over it (coordination.ts). */
  readonly coordinator: Coordinator
  readonly #bus: Bus
  readonly #owned: boolean
  readonly #serializer: Serializer
  readonly #timeoutMs: number
  /** The circuit breaker in front of the commands, unless turned off. */
  get breaker(): Breaker | undefined {
    return this.#breaker
  }

  /** False while the circuit breaker keeps commands away from Redis: others using this Redis should too. */
  get healthy(): boolean {
    return this.#breaker === undefined || this.#breaker.state === 'closed'
  }

  /** How long one command may take (the `timeout` option). */
  get timeoutMs(): number {
    return this.#timeoutMs
  }
  /** A user's client may queue commands forever while disconnected, so those get our own timer. */
  readonly #needsOwnTimer: boolean
  readonly #commands: CorralCommands
  /** This cache's namespace's write generation (see src/generation.ts). */
  readonly #generationKey: string
  /** Only the very first connect is waited for; after that a disconnected Redis fails at once. */
  #connectedOnce = false
  readonly #breaker: Breaker | undefined
  readonly #logger: Logger
  readonly #onReady = () => this.#breaker?.probeNow()
  /** When Redis last answered a command (performance.now()). */
  #answeredAt = 0
  /** One wait shared by every command sent before the first connect (one listener, not one each). */
  #firstConnect: Promise<boolean> | undefined

  constructor(options: RedisStoreOptions, context: StoreContext) {
    if (!options.client === !options.url) {
      throw new CorralConfigError('store', options, 'redisStore needs exactly one of `client` or `url`')
    }
    this.#timeoutMs = toMs('store.timeout', options.timeout ?? 500)
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new CorralConfigError('store.timeout', options.timeout, 'must be a finite duration > 0')
    }
    this.#owned = !options.client
    this.client = options.client ?? createOwnedClient(options.url as string, this.#timeoutMs)
    this.#needsOwnTimer =
      !this.#owned &&
      typeof (this.client.options as { commandTimeout?: unknown } | undefined)?.commandTimeout !== 'number'
    this.#serializer = context.serializer
    this.#logger = context.logger
    this.#breaker = breakerFrom(options.breaker)
    // An owned client reconnects by itself; its errors are already surfaced per command.
    if (this.#owned) this.client.on('error', () => {})
    // Back after an outage: probe at once rather than after a cooldown that doubled meanwhile.
    this.client.on('ready', this.#onReady)
    this.#generationKey = generationKey(context.namespace ?? '')
    // Off Cluster, each write script moves the namespace's generation too (one more key); on a
    // Cluster that key lives in another slot, so the store moves it with a command of its own.
    const withGeneration = this.client.isCluster ? 0 : 1
    this.client.defineCommand('corralBegin', { numberOfKeys: 2, lua: BEGIN })
    this.client.defineCommand('corralCommit', { numberOfKeys: 2 + withGeneration, lua: COMMIT })
    this.client.defineCommand('corralSet', { numberOfKeys: 2 + withGeneration, lua: SET })
    this.client.defineCommand('corralDelete', { numberOfKeys: 2 + withGeneration, lua: DELETE })
    this.client.defineCommand('corralIncrement', { numberOfKeys: 1, lua: INCREMENT })
    this.client.defineCommand('corralInvalidateTag', { numberOfKeys: 1 + withGeneration, lua: INVALIDATE_TAG })
    this.#commands = this.client as unknown as CorralCommands
    this.#bus = new Bus(this.client, context.channelName, context.logger, {
      healthy: () => this.healthy,
      timeoutMs: this.#timeoutMs,
    })
    const bus = this.#bus
    this.coordinator = { crossProcess: true, channel: bus, lock: (settings) => this.#lock(settings) }
  }

  #lock(settings: LockSettings): KeyLock {
    return new RedisLock({
      // `lock.clients` were checked to be ioredis clients when the options were resolved.
      clients: (settings.clients as RedisClient[] | undefined) ?? [this.client],
      ttlMs: settings.ttlMs,
      waitMs: settings.waitMs,
      attemptTimeoutMs: this.#timeoutMs,
      storeHealthy: () => this.healthy,
      bus: this.#bus,
      metrics: settings.metrics,
      logger: settings.logger,
    })
  }

  async get(key: string): Promise<Entry | undefined> {
    const raw = await this.#run(() => this.client.getBuffer(redisKeys(key).entry))
    return raw ? decodeEntry(raw, this.#serializer) : undefined
  }

  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    if (keys.length === 0) return []
    const names = keys.map((key) => redisKeys(key).entry)
    // MGET across slots is refused by a Cluster; separate GETs are written back to back anyway.
    const raws = await this.#run(() =>
      this.client.isCluster
        ? Promise.all(names.map((name) => this.client.getBuffer(name)))
        : this.client.mgetBuffer(...names),
    )
    return raws.map((raw) => (raw ? decodeEntry(raw, this.#serializer) : undefined))
  }

  async begin(key: string): Promise<Begun> {
    const k = redisKeys(key)
    const [raw, token, now] = await this.#run(() => this.#commands.corralBeginBuffer(k.entry, k.fence, FENCE_MARGIN_MS))
    return { entry: raw ? decodeEntry(raw, this.#serializer) : undefined, token: Number(token), nowUs: Number(now) }
  }

  async commit(key: string, entry: Entry, payload: string | Buffer, ttlMs: number, token: FenceToken) {
    const keys = this.#writeKeys(key)
    const [written, generation] = await this.#run(() =>
      this.#commands.corralCommit(...keys, String(token), encodeEntry(entry, payload), px(ttlMs)),
    )
    if (Number(written) !== 1) return undefined
    return { generation: await this.#moved(generation) }
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt> {
    // The script writes Redis's time where the entry's birth time goes (see SET).
    const at = birthPosition(entry)
    const encoded = encodeEntry(at > 0 ? { ...entry, createdAtUs: 0 } : entry, payload)
    const [generation, born] = await this.#run(() =>
      this.#commands.corralSet(...this.#writeKeys(key), encoded, px(ttlMs), at),
    )
    return { generation: await this.#moved(generation), ...(at > 0 ? { createdAtUs: Number(born) } : {}) }
  }

  async delete(key: string): Promise<Receipt> {
    const [, generation] = await this.#run(() => this.#commands.corralDelete(...this.#writeKeys(key)))
    return { generation: await this.#moved(generation) }
  }

  async generation(): Promise<number> {
    return Number(await this.#run(() => this.client.get(this.#generationKey))) || 0
  }

  /** An entry's keys for a write script, and the generation's where the script can move it too. */
  #writeKeys(key: string): string[] {
    const k = redisKeys(key)
    return this.client.isCluster ? [k.entry, k.fence] : [k.entry, k.fence, this.#generationKey]
  }

  /** The generation a write moved to: from its script, or (Cluster) moved now by a command of its own. */
  async #moved(fromScript: number): Promise<number> {
    if (Number(fromScript) > 0) return Number(fromScript)
    return Number(await this.#run(() => this.client.incrby(this.#generationKey, 1)))
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    try {
      return await this.#run(() => this.#commands.corralIncrement(redisKeys(key).entry, by, px(ttlMs)))
    } catch (error) {
      if (String((error as Error).message).includes('CORRAL_NOT_A_COUNTER')) throw new NotACounterError(key)
      throw error
    }
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    if (tags.length === 0) return []
    const names = tags.map(tagKey)
    const raws = await this.#run(() =>
      this.client.isCluster ? Promise.all(names.map((name) => this.client.get(name))) : this.client.mget(...names),
    )
    return raws.map((raw) => Number(raw ?? 0) || 0)
  }

  async invalidateTags(tags: readonly string[]): Promise<{ atUs: number } & Receipt> {
    // One generation per call: only the first tag's script moves it.
    const results = await this.#run(() =>
      Promise.all(
        tags.map((tag, i) =>
          this.client.isCluster
            ? this.#commands.corralInvalidateTag(tagKey(tag), 0)
            : this.#commands.corralInvalidateTag(tagKey(tag), this.#generationKey, i === 0 ? 1 : 0),
        ),
      ),
    )
    const atUs = Math.max(0, ...results.map(([time]) => Number(time)))
    return { atUs, generation: await this.#moved(Number(results[0]?.[1] ?? 0)) }
  }

  async close(): Promise<void> {
    this.client.off('ready', this.#onReady)
    await this.#bus.close()
    if (this.#owned) this.client.disconnect()
  }

  #waitFirstConnect(): Promise<boolean> {
    this.#firstConnect ??= whenReady(this.client, this.#timeoutMs).finally(() => {
      // Waited for once: from now on a disconnected Redis fails at once, even if it never came.
      this.#connectedOnce = true
      this.#firstConnect = undefined
    })
    return this.#firstConnect
  }

  /** Runs one command only when Redis can answer it in time; otherwise fails at once. */
  async #run<T>(command: () => Promise<T>): Promise<T> {
    const pass = this.#breaker ? this.#breaker.allow() : 'closed'
    if (!pass) throw new StoreUnavailableError('redis circuit breaker is open')
    const sentAt = performance.now()
    try {
      const result = await this.#attempt(command)
      this.#answeredAt = performance.now()
      if (this.#breaker?.success(pass)) this.#logger.warn('redis answers again; circuit breaker closed')
      return result
    } catch (error) {
      // A reply error (a script's refusal, a wrong type) means Redis is up and answering.
      if (error instanceof ReplyError) {
        this.#answeredAt = performance.now()
        this.#breaker?.success(pass)
      } else if (this.#unreachable(error, sentAt) ? this.#breaker?.trip(pass) : this.#breaker?.failure(pass)) {
        this.#logger.warn('redis keeps failing; circuit breaker open', { error: String(error) })
      }
      throw error
    }
  }

  /**
   * True when `error` cost the whole timeout and Redis answered nothing else meanwhile: Redis is
   * out of reach (down, paused, blackholed), not just slow on one command. One of those opens the
   * breaker at once, so the next steps of the same request (lock, load, write, release, publish)
   * do not pay the timeout again.
   */
  #unreachable(error: unknown, sentAt: number): boolean {
    return spentTheTimeout(error) && this.#answeredAt < sentAt
  }

  async #attempt<T>(command: () => Promise<T>): Promise<T> {
    if (!isReady(this.client)) {
      if (this.#connectedOnce || !(await this.#waitFirstConnect())) {
        throw new StoreUnavailableError(`redis is not connected (status ${this.client.status})`)
      }
    }
    this.#connectedOnce = true
    if (!this.#needsOwnTimer) return command()
    return withTimeout(command(), this.#timeoutMs, () => {
      throw new StoreUnavailableError(`redis did not answer within ${this.#timeoutMs} ms`)
    })
  }
}

/** A failure that cost the caller the whole store timeout: no answer in time, or no connection after waiting for one. */
function spentTheTimeout(error: unknown): boolean {
  const message = String((error as Error)?.message)
  return /did not answer within|Command timed out|is not connected/.test(message)
}

/** Redis PX argument: whole milliseconds, 0 for no expiry. */
function px(ttlMs: number): number {
  return Number.isFinite(ttlMs) ? Math.max(1, Math.ceil(ttlMs)) : 0
}

/** A store on Redis: `redisStore({ client })` with your ioredis client, or `redisStore({ url })`. */
export function redisStore(options: RedisStoreOptions): StoreFactory {
  return { kind: 'redis', create: (context) => new RedisStore(options, context) }
}
