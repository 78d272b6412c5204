import { LRUCache } from 'lru-cache'
import { nowMicros } from '../clock.ts'
import { localCoordinator } from '../coordination-local.ts'
import { counterEntry, type Entry } from '../entry.ts'
import { NotACounterError } from '../errors.ts'
import { boundedLru, checkLruBounds, type LruBounds, lruSetOptions } from '../lru.ts'
import type { Serializer } from '../serializer.ts'
import type { Begun, FenceToken, Receipt, Store, StoreContext, StoreFactory } from './store.ts'

/** The memory store's bounds (see LruBounds); `maxEntries` defaults to 10,000. */
export type MemoryStoreOptions = Partial<LruBounds>

interface Slot {
  entry: Entry
}

/**
 * An in-process store on lru-cache: the default, and the model of what a store must do. Values
 * are stored as the serializer's round trip of what was written, so a writer that mutates its
 * object afterwards does not change the cache, and reads see what a Redis store would return.
 * Readers share the stored object: treat cached values as read-only.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly coordinator = localCoordinator
  readonly #entries: LRUCache<string, Slot>
  /**
   * Fence per key (see redis/scripts.ts for the rules). Tokens come from one store-wide
   * clock, so a key whose fence was evicted refuses the loads pending on it: the safe side.
   */
  readonly #fences: LRUCache<string, number>
  /**
   * Tag invalidation times. Bounded; a tag pushed out of it stops voiding entries (see docs/tags.md).
   * Made at the first invalidation: an lru-cache this size takes milliseconds to create.
   */
  #tags: LRUCache<string, number> | undefined
  readonly #serializer: Serializer
  readonly #sized: boolean
  #clock = 0

  constructor(options: MemoryStoreOptions, context: StoreContext) {
    const bounds = checkLruBounds('store', { maxEntries: options.maxEntries ?? 10_000, maxBytes: options.maxBytes })
    this.#serializer = context.serializer
    this.#sized = bounds.maxBytes !== undefined
    this.#entries = boundedLru<Slot>(bounds)
    this.#fences = new LRUCache<string, number>({ max: bounds.maxEntries * 2 })
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
    return { entry: this.#entries.get(key)?.entry, token, nowUs: nowMicros() }
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
    const createdAtUs = nowMicros()
    this.#write(key, { ...entry, createdAtUs }, payload, ttlMs)
    return { createdAtUs }
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
    this.#entries.set(key, { entry: counterEntry(by) }, lruSetOptions(this.#sized, ttlMs, String(by)))
    return by
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    const known = this.#tags
    return tags.map((tag) => known?.get(tag) ?? 0)
  }

  async invalidateTags(tags: readonly string[]): Promise<{ atUs: number }> {
    const at = nowMicros()
    const known = (this.#tags ??= new LRUCache<string, number>({ max: 100_000 }))
    for (const tag of tags) known.set(tag, Math.max(at, known.get(tag) ?? 0))
    return { atUs: at }
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
    this.#entries.set(key, { entry: stored }, lruSetOptions(this.#sized, ttlMs, payload))
  }
}

/** The default store: in this process only, bounded by `maxEntries` (and `maxBytes` if given). */
export function memoryStore(options: MemoryStoreOptions = {}): StoreFactory {
  return { kind: 'memory', create: (context) => new MemoryStore(options, context) }
}
