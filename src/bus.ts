import type { Logger } from './logger.ts'
import { duplicateForSubscribe, type RedisClient } from './stores/redis-client.ts'

/** A message on a cache's channel: what happened, to which key (already namespaced). */
export interface BusMessage {
  kind: 'ready' | 'error'
  key: string
  /** For `error`: the loader error's name and message, so waiters elsewhere can rethrow it. */
  detail?: string
}

type Listener = (message: BusMessage) => void

/**
 * One Redis pub/sub channel per cache, on one subscriber connection: the waiters of every key
 * share it, so the number of subscriptions never grows with keys. Messages carry keys, not values.
 */
export class Bus {
  readonly channel: string
  readonly #publisher: RedisClient
  readonly #subscriber: RedisClient
  readonly #listeners = new Map<string, Set<Listener>>()
  readonly #logger: Logger
  #subscribed: Promise<boolean> | undefined
  #closed = false

  constructor(client: RedisClient, channel: string, logger: Logger) {
    this.channel = channel
    this.#publisher = client
    this.#logger = logger
    this.#subscriber = duplicateForSubscribe(client)
    this.#subscriber.on('error', () => {})
    this.#subscriber.on('message', (channel: string, raw: string) => {
      if (channel === this.channel) this.#dispatch(raw)
    })
  }

  /** Waiters registered now (at rest: 0). */
  get listening(): number {
    return this.#listeners.size
  }

  /** Subscribes once; resolves false if Redis cannot be reached (callers then do without the bus). */
  ready(): Promise<boolean> {
    this.#subscribed ??= this.#subscriber.subscribe(this.channel).then(
      () => true,
      (error) => {
        this.#logger.warn('could not subscribe to the cache channel', { error: String(error) })
        this.#subscribed = undefined
        return false
      },
    )
    return this.#subscribed
  }

  /** Calls `listener` for messages about `key` until the returned function is called. */
  listen(key: string, listener: Listener): () => void {
    let set = this.#listeners.get(key)
    if (!set) this.#listeners.set(key, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.#listeners.get(key) === set) this.#listeners.delete(key)
    }
  }

  /** Publishes a message; failures are logged, never thrown (waiters fall back to the lock's expiry). */
  async publish(message: BusMessage): Promise<void> {
    const raw = `${message.kind === 'ready' ? 'r' : 'e'}${message.key.length}:${message.key}${message.detail ?? ''}`
    try {
      await this.#publisher.publish(this.channel, raw)
    } catch (error) {
      this.#logger.warn('could not publish on the cache channel', { error: String(error) })
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#listeners.clear()
    this.#subscriber.disconnect()
  }

  #dispatch(raw: string): void {
    const colon = raw.indexOf(':')
    const length = Number(raw.slice(1, colon))
    if (!Number.isInteger(length) || colon < 0) return
    const key = raw.slice(colon + 1, colon + 1 + length)
    const set = this.#listeners.get(key)
    if (!set) return
    const detail = raw.slice(colon + 1 + length)
    const message: BusMessage = { kind: raw[0] === 'r' ? 'ready' : 'error', key, ...(detail ? { detail } : {}) }
    for (const listener of [...set]) listener(message)
  }
}
