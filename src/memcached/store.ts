import { type Breaker, type BreakerOption, breakerFrom } from '../breaker.ts'
import { nowMicros } from '../clock.ts'
import type { Coordinator } from '../coordination.ts'
import { silentChannel } from '../coordination-local.ts'
import { type Duration, positiveMs } from '../duration.ts'
import { decodeEntry, type Entry, encodeEntry } from '../entry.ts'
import {
  CorralConfigError,
  CorralError,
  NotACounterError,
  StoreUnavailableError,
  ValueTooLargeError,
} from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Serializer } from '../serializer.ts'
import type { Begun, FenceToken, Receipt, Store, StoreBreaker, StoreContext, StoreFactory } from '../stores/store.ts'
import { withStoreTimeout } from '../timers.ts'
import {
  isReply,
  itemBytes,
  type MemcacheClient,
  type MemcachedNode,
  MemcachedNodes,
  ownedClient,
  parseServers,
  replied,
} from './client.ts'
import { TagClock } from './clock.ts'
import { expiry } from './expiry.ts'
import { itemKey } from './keys.ts'
import { MemcachedLock } from './lock.ts'

export interface MemcachedStoreOptions {
  /** Servers as `'host:port'`; keys are spread over them on a consistent hash ring. corral closes these clients. */
  servers?: string[]
  /** Or a memcache-client `MemcacheClient` you own (one server, or its redundant set): corral never closes it. */
  client?: MemcacheClient
  /** How long one store command may take before the cache steps aside. Default 500 ms. */
  timeout?: Duration
  /**
   * After `failures` failed commands in a row to one server, stop sending it commands for
   * `cooldown` ms (then probe with one). Default { failures: 3, cooldown: 1000 }; false turns it off.
   */
  breaker?: BreakerOption
  /**
   * The largest entry (header and value) written; larger ones are refused with a ValueTooLargeError
   * (`set`) or not cached and counted as a failed commit (`wrap`). Default 1 MiB - 1 KiB, what a
   * memcached started with its default `-I 1m` takes.
   */
  maxValueBytes?: number
}

/**
 * What `begin` leaves on an absent key: a short item that reads as a miss and gives the load a
 * CAS token to write under. It lives long enough for slow loads; a load that outlives it is refused.
 */
const PLACEHOLDER = Buffer.from('C0')
export const PLACEHOLDER_LIFE_MS = 600_000

const DEFAULT_MAX_VALUE_BYTES = 1_048_576 - 1_024

/** Items per multi-get command: long `get` lines are split so one reply never grows without bound. */
const GET_CHUNK = 100

/**
 * Entries on Memcached through memcache-client. Fenced writes use the entry item's own CAS token:
 * `begin` reads it with `gets` (leaving a placeholder when the key is absent), `commit` is a `cas`
 * with it, and every `set`, `delete` or other commit changes or removes the item, so a load begun
 * earlier is refused. Tag times come from one clock item (clock.ts); counters use `incr`.
 */
export class MemcachedStore implements Store {
  readonly kind = 'memcached'
  readonly shared = true
  readonly nodes: MemcachedNodes
  readonly #owned: boolean
  readonly #timeoutMs: number
  readonly #maxValueBytes: number
  readonly #breakers = new Map<MemcachedNode, Breaker>()
  readonly #serializer: Serializer
  readonly #logger: Logger
  readonly #clock: TagClock
  /**
   * Locks on the store's own servers. Memcached has no pub/sub, so there is no invalidation
   * channel: lock waiters poll, and no other process hears of writes.
   */
  readonly coordinator: Coordinator = {
    crossProcess: true,
    channel: silentChannel,
    lock: (settings) => {
      if (settings.clients) {
        throw new CorralConfigError(
          'lock.clients',
          '[clients]',
          "is for redisStore's Redlock quorum; a Memcached lock lives on the store's own servers",
        )
      }
      return new MemcachedLock({ store: this, channel: silentChannel, ...settings })
    },
  }

  constructor(options: MemcachedStoreOptions, context: StoreContext) {
    if (typeof options !== 'object' || options === null || !options.client === !options.servers) {
      throw new CorralConfigError('store', options, 'memcachedStore needs exactly one of `servers` or `client`')
    }
    this.#timeoutMs = positiveMs('store.timeout', options.timeout, 500)
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
    if (!Number.isInteger(this.#maxValueBytes) || this.#maxValueBytes < 64) {
      throw new CorralConfigError('store.maxValueBytes', options.maxValueBytes, 'must be a whole number of bytes >= 64')
    }
    if (options.client !== undefined && typeof (options.client as { gets?: unknown }).gets !== 'function') {
      throw new CorralConfigError('store.client', options.client, 'must be a memcache-client MemcacheClient')
    }
    this.#owned = !options.client
    const nodes: MemcachedNode[] = options.client
      ? [{ id: 'client', client: options.client }]
      : parseServers(options.servers).map((id) => ({ id, client: ownedClient(id, this.#timeoutMs) }))
    this.nodes = new MemcachedNodes(nodes)
    for (const node of nodes) {
      const breaker = breakerFrom(options.breaker)
      if (breaker) this.#breakers.set(node, breaker)
    }
    this.#serializer = context.serializer
    this.#logger = context.logger
    this.#clock = new TagClock((item, command) => this.run(item, command))
  }

  /**
   * The servers' breakers as one, for `corral_breaker_state{store="memcached"}`: open while any
   * server's is open, half-open while any is probing; every server's transitions are reported.
   */
  get breaker(): StoreBreaker | undefined {
    const breakers = [...this.#breakers.values()]
    if (breakers.length === 0) return undefined
    return {
      get state() {
        const states = breakers.map((b) => b.state)
        return states.includes('open') ? 'open' : states.includes('half-open') ? 'half-open' : 'closed'
      },
      onTransition: (listener) => {
        for (const b of breakers) b.onTransition(listener)
      },
    }
  }

  /** How long one command may take (the `timeout` option). */
  get timeoutMs(): number {
    return this.#timeoutMs
  }

  /** False while the breaker of the server holding `item` keeps commands away from it. */
  healthy(item: string): boolean {
    return this.#breakers.get(this.nodes.of(item))?.state !== 'open'
  }

  async get(key: string): Promise<Entry | undefined> {
    const name = itemKey('entry', key)
    const found = await this.run(name, (client) => client.get(name))
    return this.#decode(found?.value)
  }

  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    const values = await this.#getMany(keys.map((key) => itemKey('entry', key)))
    return values.map((value) => this.#decode(value))
  }

  async begin(key: string): Promise<Begun> {
    const name = itemKey('entry', key)
    const [found, now] = await Promise.all([
      this.run(name, async (client) => {
        // Sent back to back on one connection: the add lands before the gets reads.
        const [, got] = await Promise.all([
          client.add(name, PLACEHOLDER, { lifetime: expiry(PLACEHOLDER_LIFE_MS) }).catch(unless('NOT_STORED')),
          client.gets(name),
        ])
        return got ?? (await client.gets(name))
      }),
      // Without the clock's server, the load is born on this process's clock (tags then depend on it).
      this.#clock.birth().catch(() => nowMicros()),
    ])
    return { entry: this.#decode(found?.value), token: found ? Number(found.casUniq) : 0, nowUs: now }
  }

  /** No channel, so no namespace generation: a receipt that says only that the write landed. */
  async commit(
    key: string,
    entry: Entry,
    payload: string | Buffer,
    ttlMs: number,
    token: FenceToken,
  ): Promise<Receipt | undefined> {
    if (!token) return undefined
    const name = itemKey('entry', key)
    const bytes = this.#bytes(key, entry, payload)
    return this.run(name, async (client) => {
      try {
        await client.cas(name, bytes, { casUniq: String(token), lifetime: expiry(ttlMs) })
        return {}
      } catch (error) {
        if (replied(error, 'EXISTS') || replied(error, 'NOT_FOUND')) return undefined
        throw this.#tooLarge(key, bytes, error)
      }
    })
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt> {
    const name = itemKey('entry', key)
    const bytes = this.#bytes(key, entry, payload)
    await this.run(name, (client) =>
      client.set(name, bytes, { lifetime: expiry(ttlMs) }).catch((error: unknown) => {
        throw this.#tooLarge(key, bytes, error)
      }),
    )
    return {}
  }

  async delete(key: string): Promise<Receipt> {
    const name = itemKey('entry', key)
    await this.run(name, (client) => client.delete(name).catch(unless('NOT_FOUND')))
    return {}
  }

  /**
   * Memcached's own `incr`/`decr`: counters are unsigned 64-bit, so a negative `by` stops at 0.
   * An absent key (or one holding only a load's placeholder) is created at `by` with `add`.
   */
  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const name = itemKey('entry', key)
    const start = Buffer.from(String(Math.max(0, by)))
    return this.run(name, async (client) => {
      for (let attempt = 0; attempt < 8; attempt++) {
        try {
          return Number(by >= 0 ? await client.incr(name, by) : await client.decr(name, -by))
        } catch (error) {
          if (replied(error, 'CLIENT_ERROR')) {
            const held = await client.gets(name)
            if (!held || !PLACEHOLDER.equals(itemBytes(held.value) ?? Buffer.alloc(0))) throw new NotACounterError(key)
            const replaced = await client
              .cas(name, start, { casUniq: held.casUniq, lifetime: expiry(ttlMs) })
              .then(() => true, unless('EXISTS', 'NOT_FOUND'))
            if (replaced) return Math.max(0, by)
            continue
          }
          if (!replied(error, 'NOT_FOUND')) throw error
        }
        const added = await client.add(name, start, { lifetime: expiry(ttlMs) }).then(() => true, unless('NOT_STORED'))
        if (added) return Math.max(0, by)
      }
      throw new StoreUnavailableError(`memcached: increment of ${JSON.stringify(key)} kept racing other writers`)
    })
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    const values = await this.#getMany(tags.map((tag) => itemKey('tag', tag)))
    return values.map((value) => Number(itemBytes(value)?.toString('latin1') ?? 0) || 0)
  }

  async invalidateTags(tags: readonly string[]): Promise<{ atUs: number } & Receipt> {
    const at = await this.#clock.advance()
    await Promise.all(tags.map((tag) => this.#raise(itemKey('tag', tag), at)))
    return { atUs: at }
  }

  async close(): Promise<void> {
    if (this.#owned) for (const node of this.nodes.all) node.client.shutdown()
  }

  /**
   * Runs one command on the server holding `item`: at once refused while its breaker is open,
   * bounded by the store timeout. A Memcached reply (even NOT_FOUND) means the server is up.
   */
  async run<T>(item: string, command: (client: MemcacheClient) => Promise<T>): Promise<T> {
    const node = this.nodes.of(item)
    const breaker = this.#breakers.get(node)
    const pass = breaker ? breaker.allow() : 'closed'
    if (!pass) throw new StoreUnavailableError(`memcached circuit breaker is open for ${node.id}`)
    try {
      const result = await this.#bounded(node, command)
      if (breaker?.success(pass))
        this.#logger.warn('memcached answers again; circuit breaker closed', { server: node.id })
      return result
    } catch (error) {
      const answered = isReply(error) || (error instanceof CorralError && !(error instanceof StoreUnavailableError))
      if (answered) breaker?.success(pass)
      else if (breaker?.failure(pass)) {
        this.#logger.warn('memcached keeps failing; circuit breaker open', { server: node.id, error: String(error) })
      }
      throw error
    }
  }

  /** Owned clients time commands out themselves (cmdTimeout); a client you passed gets our timer. */
  #bounded<T>(node: MemcachedNode, command: (client: MemcacheClient) => Promise<T>): Promise<T> {
    if (this.#owned) return command(node.client)
    return withStoreTimeout(command(node.client), this.#timeoutMs, () => {
      throw new StoreUnavailableError(`memcached did not answer within ${this.#timeoutMs} ms`)
    })
  }

  /**
   * Values of `items` in their order: multi-gets of at most GET_CHUNK items, sent back to back on
   * each server's connection, the servers asked at once.
   */
  async #getMany(items: readonly string[]): Promise<unknown[]> {
    const values: unknown[] = new Array(items.length).fill(undefined)
    if (items.length === 0) return values
    const chunks: { item: string; at: number }[][] = []
    for (const group of this.nodes.group(items).values()) {
      for (let i = 0; i < group.length; i += GET_CHUNK) chunks.push(group.slice(i, i + GET_CHUNK))
    }
    await Promise.all(
      chunks.map(async (chunk) => {
        const names = chunk.map((g) => g.item)
        // A multi-get answers with a record of the items found, keyed by item name.
        const found = (await this.run(names[0] as string, (client) => client.get<unknown>(names))) as unknown as
          | Record<string, { value: unknown } | undefined>
          | undefined
        for (const { item, at } of chunk) values[at] = found?.[item]?.value
      }),
    )
    return values
  }

  /** Moves a tag's time forward to `at` (never back), with gets/cas so concurrent invalidations keep the latest. */
  async #raise(item: string, at: number): Promise<void> {
    const bytes = Buffer.from(String(at))
    await this.run(item, async (client) => {
      for (let attempt = 0; attempt < 8; attempt++) {
        const held = await client.gets(item)
        if (!held) {
          if (await client.add(item, bytes, { lifetime: 0 }).then(() => true, unless('NOT_STORED'))) return
          continue
        }
        if (Number(itemBytes(held.value)?.toString('latin1')) >= at) return
        const raised = await client
          .cas(item, bytes, { casUniq: held.casUniq, lifetime: 0 })
          .then(() => true, unless('EXISTS', 'NOT_FOUND'))
        if (raised) return
      }
      throw new StoreUnavailableError('memcached: a tag time kept racing other invalidations')
    })
  }

  #decode(value: unknown): Entry | undefined {
    const raw = itemBytes(value)
    return raw ? decodeEntry(raw, this.#serializer) : undefined
  }

  #bytes(key: string, entry: Entry, payload: string | Buffer): Buffer {
    const encoded = encodeEntry(entry, payload)
    const bytes = typeof encoded === 'string' ? Buffer.from(encoded) : encoded
    if (bytes.length > this.#maxValueBytes) throw new ValueTooLargeError(key, bytes.length, this.#maxValueBytes)
    return bytes
  }

  #tooLarge(key: string, bytes: Buffer, error: unknown): unknown {
    return replied(error, 'SERVER_ERROR object too large')
      ? new ValueTooLargeError(key, bytes.length, this.#maxValueBytes)
      : error
  }
}

/** A rejection handler that turns the given Memcached replies into `false` and rethrows anything else. */
function unless(...replies: string[]): (error: unknown) => false {
  return (error) => {
    if (replies.some((reply) => replied(error, reply))) return false
    throw error
  }
}

/**
 * A store on Memcached: `memcachedStore({ servers: ['127.0.0.1:11211'] })`, or `{ client }` with
 * your memcache-client MemcacheClient.
 */
export function memcachedStore(options: MemcachedStoreOptions): StoreFactory {
  return { kind: 'memcached', create: (context) => new MemcachedStore(options, context) }
}
