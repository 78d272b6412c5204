import { randomUUID } from 'node:crypto'
import type { Announcement, Invalidation, InvalidationChannel, KeyMessage } from '../coordination.ts'
import type { Logger } from '../logger.ts'
import { withTimeout } from '../timers.ts'
import { duplicateForSubscribe, isReady, type RedisClient } from './client.ts'

/**
 * A message as it travels (JSON), with the id of the bus that sent it. A tag time travels as `at`
 * (µs on Redis's clock).
 */
type Wire = (
  | (Exclude<Invalidation, { kind: 'tags' }> & { src: string })
  | { kind: 'tags'; tags: string[]; at: number; src: string }
) & { gens?: number[] }

function toWire(message: Invalidation, src: string): Wire {
  if (message.kind === 'tags') {
    return { kind: 'tags', tags: message.tags, at: message.atUs, src, ...(message.gens ? { gens: message.gens } : {}) }
  }
  return { ...message, src }
}

function fromWire(wire: Wire): Invalidation {
  if (wire.kind === 'tags') {
    return { kind: 'tags', tags: wire.tags, atUs: wire.at, ...(wire.gens ? { gens: wire.gens } : {}) }
  }
  const { src: _src, ...message } = wire
  return message
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
type KeyListener = (message: KeyMessage) => void

/**
 * The invalidation channel on Redis: one pub/sub channel per namespace (whatever the caches'
 * names, so every cache on it hears every write), on one subscriber connection; every key's
 * waiters and the L1 tier share it, so subscriptions never grow with keys. Each bus has an id, so
 * a process can tell its own messages from others'.
 */
export class Bus implements InvalidationChannel {
  readonly channel: string
  readonly id = randomUUID()
  readonly #publisher: RedisClient
  /** Opened at the first `subscribe()`: a cache that only publishes needs no second connection. */
  #subscriber: RedisClient | undefined
  readonly #keyListeners = new Map<string, Set<KeyListener>>()
  readonly #others = new Set<(message: Invalidation) => void>()
  readonly #onLost = new Set<() => void>()
  readonly #logger: Logger
  #subscription: Promise<boolean> | undefined
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
      if (!this.#subscription) return
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
   * is down), nor at all while the store's client is not connected or the breaker keeps Redis
   * away; the subscription itself goes on in the background and takes effect when Redis answers.
   */
  async subscribe(): Promise<boolean> {
    const subscribed = this.#subscribe()
    if (this.#connected) return true
    if (!isReady(this.#publisher) || !this.#healthy()) return false
    return withTimeout(subscribed, this.#timeoutMs, () => false)
  }

  #subscribe(): Promise<boolean> {
    this.#subscriber ??= this.#openSubscriber()
    this.#subscription ??= this.#subscriber.subscribe(this.channel).then(
      () => {
        this.#connected = true
        return true
      },
      (error) => {
        this.#logger.warn('could not subscribe to the cache channel', { error: String(error) })
        this.#subscription = undefined
        return false
      },
    )
    return this.#subscription
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
  onOthers(listener: (message: Invalidation) => void): void {
    this.#others.add(listener)
  }

  /** Calls `listener` whenever the subscription dropped, so messages may have been missed. */
  onLost(listener: () => void): void {
    this.#onLost.add(listener)
  }

  /** A message as the store's own write commands publish it (the store and this bus share one Redis). */
  announcement(message: Invalidation): Announcement {
    return { channel: this.channel, message: this.#wire(message) }
  }

  /**
   * A message's wire form. Every load's write announces "ready", so that one is written from a
   * template (no wire object, no generic stringify): the same bytes JSON.stringify writes.
   */
  #wire(message: Invalidation): string {
    if (message.kind === 'ready' && message.gens === undefined) {
      return `{"kind":"ready","key":${JSON.stringify(message.key)},"src":${this.#src}}`
    }
    return JSON.stringify(toWire(message, this.id))
  }

  /** The bus's id as JSON. */
  readonly #src = JSON.stringify(this.id)

  /** Publishes a message; failures are logged, never thrown (waiters fall back to the lock's expiry). */
  publish(message: Invalidation): Promise<void> {
    return this.publishRaw(this.#wire(message))
  }

  /** Publishes a message already in its wire form (an announcement a write could not send itself). */
  async publishRaw(raw: string): Promise<void> {
    // A client of the user's may queue commands while disconnected, and a Redis that accepts
    // connections may not answer: never wait on either longer than the store timeout.
    if (!isReady(this.#publisher) || !this.#healthy()) return
    try {
      const sent = this.#publisher.publish(this.channel, raw)
      await withTimeout(sent, this.#timeoutMs, () => undefined)
    } catch (error) {
      this.#logger.warn('could not publish on the cache channel', { error: String(error) })
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
    const heard = fromWire(message)
    if (heard.kind === 'ready' || heard.kind === 'error') {
      const set = this.#keyListeners.get(heard.key)
      if (set) for (const listener of [...set]) listener(heard)
    } else if (heard.kind === 'drop' && this.#keyListeners.size > 0) {
      // A batch announces its writes as drops: each key's waiters wake and read the store.
      for (const key of heard.keys) {
        const set = this.#keyListeners.get(key)
        if (set) for (const listener of [...set]) listener({ kind: 'ready', key })
      }
    }
    if (message.src !== this.id) for (const listener of this.#others) listener(heard)
  }
}
