import { LRUCache } from 'lru-cache'
import { nowMicros } from '../clock.ts'
import { localCoordinator } from '../coordination-local.ts'
import { type Entry, entryWith } from '../entry.ts'
import { NotACounterError } from '../errors.ts'
import { boundedLru, checkLruBounds, type LruBounds } from '../lru.ts'
import { MAX_TIMER_MS } from '../timers.ts'
import { heldEntry, heldEntryOf } from './memory-entry.ts'
import { MemoryFences } from './memory-fences.ts'
import type { Begun, FenceToken, Receipt, Store, StoreContext, StoreFactory, StoreKeeps } from './store.ts'

/** The memory store's bounds (see LruBounds); `maxEntries` defaults to 10,000. */
export type MemoryStoreOptions = Partial<LruBounds>

/**
 * An in-process store on lru-cache: the default, and the model of what a store must do.
 *
 * What it holds for a written value is the value the engine hands it, which is already the
 * cache's own copy: never the writer's object (a writer that changes its object afterwards does
 * not change the cache), and what a Redis store would return (the serializer's round trip; plain
 * data is copied directly, which gives the same result much faster: see plain-copy.ts). Readers,
 * the loader's own caller included, share the held object: treat cached values as read-only. It
 * needs no bytes unless it is bounded by `maxBytes` (they are its entries' sizes).
 *
 * Kept per entry: the lru-cache slot and one entry object, nothing else: five slots for an
 * untagged entry, without a heap number (memory-entry.ts). An entry past its
 * `staleUntilMs` is dropped when next read (lru-cache's own TTL would add per-entry timestamps
 * and a clock read to every operation). Fences exist only for keys with a load in flight
 * (memory-fences.ts).
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly coordinator = localCoordinator
  readonly #entries: LRUCache<string, Entry>
  readonly #fences: MemoryFences
  /**
   * Tag invalidation times. Bounded; a tag pushed out of it stops voiding entries (see docs/tags.md).
   * Made at the first invalidation: an lru-cache this size takes milliseconds to create.
   */
  #tags: LRUCache<string, number> | undefined
  readonly #sized: boolean
  /**
   * The key `peek` last found absent, until anything is written: a miss peeks, then begins its
   * load in the same tick, and the begin needs no second lookup (only a write adds an entry).
   */
  #absent: string | undefined
  readonly keeps: StoreKeeps

  constructor(options: MemoryStoreOptions, _context: StoreContext) {
    const bounds = checkLruBounds('store', { maxEntries: options.maxEntries ?? 10_000, maxBytes: options.maxBytes })
    this.#sized = bounds.maxBytes !== undefined
    this.keeps = this.#sized ? 'both' : 'values'
    this.#entries = boundedLru<Entry>(bounds)
    this.#fences = new MemoryFences(Math.max(10_000, bounds.maxEntries))
  }

  async get(key: string): Promise<Entry | undefined> {
    return this.#live(key)
  }

  /** The held entry without a clock read: the engine classifies what it peeks (an expired entry is a miss). */
  peek(key: string): Entry | undefined {
    const held = this.#entries.get(key)
    if (held === undefined) this.#absent = key
    return held
  }

  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    return keys.map((key) => this.#live(key))
  }

  async begin(key: string): Promise<Begun> {
    return this.beginNow(key)
  }

  beginNow(key: string): Begun {
    const entry = key === this.#absent ? undefined : this.#live(key)
    return { entry, token: this.#fences.begin(key), nowUs: nowMicros() }
  }

  /** Written entries are built as this store keeps them (see heldEntryOf). */
  readonly hold = heldEntryOf

  async commit(key: string, entry: Entry, payload: string | Buffer, ttlMs: number, token: FenceToken) {
    return this.commitNow(key, entry, payload, ttlMs, token)
  }

  commitNow(key: string, entry: Entry, payload: string | Buffer, ttlMs: number, token: FenceToken) {
    if (!this.#fences.commit(key, token)) return undefined
    this.#write(key, entry, payload, ttlMs)
    return NOTHING_MOVED
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt> {
    this.#fences.wrote(key)
    // Tag times come from this process's clock here, so the birth time does too.
    const createdAtUs = nowMicros()
    this.#write(key, entryWith(entry, { createdAtUs }), payload, ttlMs)
    return { createdAtUs }
  }

  async delete(key: string): Promise<Receipt> {
    this.#fences.wrote(key)
    this.#entries.delete(key)
    return NOTHING_MOVED
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const held = this.#live(key)
    if (held && (held.negative || typeof held.value !== 'number' || !Number.isInteger(held.value))) {
      throw new NotACounterError(key)
    }
    // A counter keeps the life it was created with; a new one lives `ttlMs`.
    const untilMs = held ? held.staleUntilMs : Date.now() + ttlMs
    const value = ((held?.value as number | undefined) ?? 0) + by
    // noUpdateTTL: a life lru-cache keeps for the key (a short store ttl given to `set`) stays too.
    this.#absent = undefined
    this.#entries.set(
      key,
      counter(value, untilMs),
      this.#sized ? { size: 8, noUpdateTTL: true } : { noUpdateTTL: true },
    )
    return value
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

  /** The entry for `key` unless it is past its grace (then it goes). */
  #live(key: string): Entry | undefined {
    const held = this.#entries.get(key)
    if (held === undefined || Date.now() < held.staleUntilMs) return held
    this.#entries.delete(key)
    return undefined
  }

  #write(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): void {
    this.#absent = undefined
    const held = heldEntry(entry)
    // The engine keeps an entry to the end of its grace (ttlMs = staleUntilMs - now), which the
    // read-time check covers; a shorter store life (a caller of `set` may give one) is left to
    // lru-cache's TTL, whose per-entry clocks it makes only once a TTL is first used.
    const shorter = ttlMs <= MAX_TIMER_MS && ttlMs < entry.staleUntilMs - Date.now() - 1
    if (!this.#sized && !shorter) {
      this.#entries.set(key, held)
      return
    }
    const options: { size?: number; ttl?: number } = {}
    if (this.#sized)
      options.size = Math.max(1, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length)
    if (shorter) options.ttl = Math.max(1, Math.ceil(ttlMs))
    this.#entries.set(key, held, options)
  }
}

/**
 * The receipt of a write to a store in one process: no generation, no store clock. One frozen
 * object, as engine code keeps receipts of recent loads for a while.
 */
const NOTHING_MOVED: Receipt = Object.freeze({})

/** A counter: a bare integer that stays fresh until `untilMs` (Infinity: until evicted or deleted). */
function counter(value: number, untilMs: number): Entry {
  return heldEntry({
    value,
    negative: false,
    freshUntilMs: untilMs,
    staleUntilMs: untilMs,
    deltaMs: 0,
    createdAtUs: 0,
    tags: [],
    failSafe: false,
  })
}

/** The default store: in this process only, bounded by `maxEntries` (and `maxBytes` if given). */
export function memoryStore(options: MemoryStoreOptions = {}): StoreFactory {
  return { kind: 'memory', create: (context) => new MemoryStore(options, context) }
}
