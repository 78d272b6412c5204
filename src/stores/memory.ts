import { LRUCache } from 'lru-cache'
import { nowMicros } from '../clock.ts'
import { counterEntry, type Entry } from '../entry.ts'
import { CorralConfigError, NotACounterError } from '../errors.ts'
import type { Serializer } from '../serializer.ts'
import type { Begun, FenceToken, Receipt, Store, StoreContext, StoreFactory } from './store.ts'

export interface MemoryStoreOptions {
  /** The most entries kept; the least recently used go first. Default 10,000. */
  maxEntries?: number
  /** Optional bound on the serialized size of all values, in bytes. */
  maxBytes?: number
}

interface Slot {
  entry: Entry
}

/** Lru-cache's TTL timers and integers stop at 2^31 ms; longer lives are left to our own clock. */
const MAX_LRU_TTL = 2 ** 31 - 1

/**
 * An in-process store on lru-cache: the default, and the model of what a store must do. Values
 * are stored as the serializer's round trip of what was written, so a writer that mutates its
 * object afterwards does not change the cache, and reads see what a Redis store would return.
 * Readers share the stored object: treat cached values as read-only.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly shared = false
  readonly #entries: LRUCache<string, Slot>
  /**
   * Fence per key (see stores/redis-scripts.ts for the rules). Tokens come from one store-wide
   * clock, so a key whose fence was evicted refuses the loads pending on it: the safe side.
   */
  readonly #fences: LRUCache<string, number>
  /** Tag invalidation times. Bounded; a tag pushed out of it stops voiding entries (see docs/tags.md). */
  readonly #tags = new LRUCache<string, number>({ max: 100_000 })
  readonly #serializer: Serializer
  readonly #sized: boolean
  #clock = 0

  constructor(options: MemoryStoreOptions, context: StoreContext) {
    const maxEntries = options.maxEntries ?? 10_000
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new CorralConfigError('store.maxEntries', maxEntries, 'must be a whole number >= 1')
    }
    if (options.maxBytes !== undefined && (!Number.isInteger(options.maxBytes) || options.maxBytes < 1)) {
      throw new CorralConfigError('store.maxBytes', options.maxBytes, 'must be a whole number of bytes >= 1')
    }
    this.#serializer = context.serializer
    this.#sized = options.maxBytes !== undefined
    this.#entries = new LRUCache<string, Slot>({
      max: maxEntries,
      ...(options.maxBytes ? { maxSize: options.maxBytes, maxEntrySize: options.maxBytes } : {}),
    })
    this.#fences = new LRUCache<string, number>({ max: maxEntries * 2 })
  }

  async get(key: string): Promise<Entry | undefined> {
    return this.#entries.get(key)?.entry
  }

  peek(key: string): Entry | undefined {
    return this.#entries.get(key)?.entry
  }

  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    return keys.map((key) => this.#entries.get(key)?.entry)
  }

  async begin(key: string): Promise<Begun> {
    const token = this.#fences.get(key) ?? this.#advance(key)
    return { entry: this.#entries.get(key)?.entry, token, now: nowMicros() }
  }

  async commit(key: string, entry: Entry, payload: string | Buffer, ttlMs: number, token: FenceToken) {
    if (this.#fences.get(key) !== token) return undefined
    this.#advance(key)
    this.#write(key, entry, payload, ttlMs)
    return {}
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt> {
    this.#advance(key)
    // Tag times come from this process's clock here, so the birth time does too.
    const createdAt = nowMicros()
    this.#write(key, { ...entry, createdAt }, payload, ttlMs)
    return { createdAt }
  }

  async delete(key: string): Promise<Receipt> {
    this.#advance(key)
    this.#entries.delete(key)
    return {}
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const slot = this.#entries.get(key)
    if (slot && (slot.entry.negative || typeof slot.entry.value !== 'number' || !Number.isInteger(slot.entry.value))) {
      throw new NotACounterError(key)
    }
    if (slot) {
      // Counters change in place so the key keeps the life it was created with.
      slot.entry = counterEntry((slot.entry.value as number) + by)
      return slot.entry.value as number
    }
    this.#entries.set(key, { entry: counterEntry(by) }, { ttl: lruTtl(ttlMs), ...(this.#sized ? { size: 8 } : {}) })
    return by
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    return tags.map((tag) => this.#tags.get(tag) ?? 0)
  }

  async invalidateTags(tags: readonly string[]): Promise<{ at: number }> {
    const at = nowMicros()
    for (const tag of tags) this.#tags.set(tag, Math.max(at, this.#tags.get(tag) ?? 0))
    return { at }
  }

  async close(): Promise<void> {
    this.#entries.clear()
    this.#fences.clear()
  }

  #advance(key: string): number {
    this.#clock += 1
    this.#fences.set(key, this.#clock)
    return this.#clock
  }

  #write(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): void {
    const stored = entry.negative ? entry : { ...entry, value: this.#serializer.deserialize(payload) }
    if (!this.#sized) {
      this.#entries.set(key, { entry: stored }, { ttl: lruTtl(ttlMs) })
      return
    }
    const size = Math.max(1, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length)
    this.#entries.set(key, { entry: stored }, { ttl: lruTtl(ttlMs), size })
  }
}

function lruTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs > MAX_LRU_TTL) return 0
  return Math.max(1, Math.ceil(ttlMs))
}

/** The default store: in this process only, bounded by `maxEntries` (and `maxBytes` if given). */
export function memoryStore(options: MemoryStoreOptions = {}): StoreFactory {
  return { kind: 'memory', create: (context) => new MemoryStore(options, context) }
}
