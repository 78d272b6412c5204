import { randomUUID } from 'node:crypto'
import type { Logger } from './logger.ts'
import { duplicateForSubscribe, isReady, type RedisClient } from './stores/redis-client.ts'
import type { Receipt } from './stores/store.ts'
import { withTimeout } from './timers.ts'

/**
 * What travels on a namespace's channel. Keys and tags are already namespaced; values never travel.
 * - ready: a load of `key` finished and its value is in the store (wakes lock waiters, drops L1 copies)
 * - error: a load of `key` failed; `detail` holds the error's name and message
 * - drop: `keys` were written or deleted outside a load; L1 copies must go
 * - tags: `tags` were invalidated at `at` (store time, µs)
 * `gens`: the namespace write generations the writes behind the message moved the store to, so an
 * L1 tier can tell it heard of every write (src/generation.ts).
 */
export type BusMessage = (
  | { kind: 'ready'; key: string }
  | { kind: 'error'; key: string; detail: string }
  | { kind: 'drop'; keys: string[] }
  | { kind: 'tags'; tags: string[]; at: number }
) & { gens?: number[] }

type Wire = BusMessage & { src: string }

/** The `gens` field of a message about writes with these receipts. */
export function gens(...receipts: (Receipt | undefined)[]): { gens?: number[] } {
  const list = receipts.flatMap((r) => (r?.generation ? [r.generation] : []))
  return list.length > 0 ? { gens: list } : {}
}

const isString = (v: unknown): v is string => typeof v === 'string'

function isWire(m: unknown): m is Wire {
  if (typeof m !== 'object' || m === null) return false
  const w = m as Record<string, unknown>
  if (!isString(w.src)) return false
  if (w.gens !== undefined && !(Array.isArray(w.gens) && w.gens.every((g) => Number.isSafeInteger(g) && g > 0))) {
    return false
  }
  switch (w.kind) {
    case 'ready':
      return isString(w.key)
    case 'error':
      return isString(w.key) && isString(w.detail)
    case 'drop':
      return Array.isArray(w.keys) && w.keys.every(isString)
    case 'tags':
      return Array.isArray(w.tags) && w.tags.every(isString) && typeof w.at === 'number' && Number.isFinite(w.at)
    default:
      return false
  }
}
type KeyListener = (message: Extract<BusMessage, { key: string }>) => void

/**
 * One Redis pub/sub channel per namespace (whatever the caches' names, so every cache on it hears
 * every write), on one subscriber connection: every key's waiters and the L1 tier share it, so
 * subscriptions never grow with keys. Each bus has an id, so a process can tell its own messages
 * from others'.
 */
export class Bus {
  readonly channel: string
  readonly id = randomUUID()
  readonly #publisher: RedisClient
  /** Opened at the first `ready()`: a cache that only publishes needs no second connection. */
  #subscriber: RedisClient | undefined
  readonly #keyListeners = new Map<string, Set<KeyListener>>()
  readonly #others = new Set<(message: BusMessage) => void>()
  readonly #onLost = new Set<() => void>()
  readonly #logger: Logger
  #subscribed: Promise<boolean> | undefined
  #connected = false
  #closed = false

  readonly #healthy: () => boolean
  readonly #timeoutMs: number

  constructor(
    client: RedisClient,
    channel: string,
    logger: Logger,
    health: { healthy: () => boolean; timeoutMs: number },
  ) {
    this.#healthy = health.healthy
    this.#timeoutMs = health.timeoutMs
    this.channel = channel
    this.#publisher = client
    this.#logger = logger
  }

  #openSubscriber(): RedisClient {
    const subscriber = duplicateForSubscribe(this.#publisher)
    subscriber.on('error', () => {})
    subscriber.on('message', (from: string, raw: string) => {
      if (from === this.channel) this.#dispatch(raw)
    })
    // Messages sent while the connection was down are lost for good: whoever trusted them resets,
    // and trusts again only once the subscription is confirmed on the new connection.
    subscriber.on('close', () => {
      if (!this.#connected) return
      this.#connected = false
      this.#lost()
    })
    subscriber.on('ready', () => {
      if (!this.#subscribed) return
      subscriber.subscribe(this.channel).then(
        () => {
          this.#connected = true
          this.#lost()
        },
        () => {},
      )
    })
    return subscriber
  }

  /** True while the subscription is live: only then can copies kept on the bus's word be trusted. */
  get live(): boolean {
    return this.#connected && this.#subscriber?.status === 'ready'
  }

  /** Keys with waiters now (at rest: 0). */
  get listening(): number {
    return this.#keyListeners.size
  }

  /**
   * Subscribes once; resolves false if Redis cannot be reached (callers then do without the bus).
   * Never waits longer than the store timeout (a subscriber connection queues commands while it
   * is down), nor at all while the store's client is not connected; the subscription itself goes
   * on in the background and takes effect when Redis answers.
   */
  async ready(): Promise<boolean> {
    const subscribed = this.#subscribe()
    if (this.#connected) return true
    if (!isReady(this.#publisher) || !this.#healthy()) return false
    const result = await withTimeout(subscribed, this.#timeoutMs)
    return result === true
  }

  #subscribe(): Promise<boolean> {
    this.#subscriber ??= this.#openSubscriber()
    this.#subscribed ??= this.#subscriber.subscribe(this.channel).then(
      () => {
        this.#connected = true
        return true
      },
      (error) => {
        this.#logger.warn('could not subscribe to the cache channel', { error: String(error) })
        this.#subscribed = undefined
        return false
      },
    )
    return this.#subscribed
  }

  /** Calls `listener` for ready/error messages about `key` (from any process) until the returned function is called. */
  listen(key: string, listener: KeyListener): () => void {
    let set = this.#keyListeners.get(key)
    if (!set) this.#keyListeners.set(key, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.#keyListeners.get(key) === set) this.#keyListeners.delete(key)
    }
  }

  /** Calls `listener` for every message from other processes. */
  onOthers(listener: (message: BusMessage) => void): void {
    this.#others.add(listener)
  }

  /** Calls `listener` whenever the subscription dropped, so messages may have been missed. */
  onLost(listener: () => void): void {
    this.#onLost.add(listener)
  }

  /** Publishes a message; failures are logged, never thrown (waiters fall back to the lock's expiry). */
  async publish(message: BusMessage): Promise<void> {
    // A client of the user's may queue commands while disconnected, and a Redis that accepts
    // connections may not answer: never wait on either longer than the store timeout.
    if (!isReady(this.#publisher) || !this.#healthy()) return
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.#publisher.publish(this.channel, JSON.stringify({ ...message, src: this.id })),
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.#timeoutMs)
        }),
      ])
    } catch (error) {
      this.#logger.warn('could not publish on the cache channel', { error: String(error) })
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#keyListeners.clear()
    this.#others.clear()
    this.#onLost.clear()
    this.#subscriber?.disconnect()
  }

  #lost(): void {
    if (this.#closed) return
    for (const listener of this.#onLost) listener()
  }

  #dispatch(raw: string): void {
    let message: Wire
    try {
      message = JSON.parse(raw) as Wire
    } catch {
      return
    }
    // Anyone who can PUBLISH on this Redis can send anything: what is not a message is ignored.
    if (!isWire(message)) return
    if (message.kind === 'ready' || message.kind === 'error') {
      const set = this.#keyListeners.get(message.key)
      if (set) for (const listener of [...set]) listener(message)
    }
    if (message.src !== this.id) for (const listener of this.#others) listener(message)
  }
}
