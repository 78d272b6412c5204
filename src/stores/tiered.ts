import { LRUCache } from 'lru-cache'
import type { InvalidationChannel } from '../coordination.ts'
import type { Entry } from '../entry.ts'
import { boundedLru, type LruBounds, lruSetOptions } from '../lru.ts'
import type { L1EvictionReason } from '../metrics.ts'
import type { Serializer } from '../serializer.ts'
import type { Announcement, Begun, FencedWrite, FenceToken, Store } from './store.ts'

/** The `l1` option: how many entries (and bytes) this process keeps in front of the shared store. */
export type L1Options = LruBounds

/**
 * An in-process tier (lru-cache) in front of a shared store. It keeps a copy only while the
 * entry is fresh, and only while the cache's invalidation channel is live: every write, delete,
 * finished load and tag invalidation in any process is announced on the channel (by the facade
 * and the engine, for every cache on a shared store) and drops the other processes' copies, and
 * when the channel drops (messages may be lost) the whole tier is cleared and bypassed until it is back.
 * Loads (`begin`/`commit`) always go to the shared store, so fences keep working across tiers.
 */
export class TieredStore implements Store {
  readonly kind = 'tiered'
  readonly #l2: Store
  readonly #l1: LRUCache<string, Entry>
  /** Tag invalidation times read from the shared store, kept current by the channel. */
  readonly #tagTimes = new LRUCache<string, number>({ max: 100_000 })
  readonly #channel: InvalidationChannel
  readonly #serializer: Serializer
  readonly #sized: boolean
  /** Moves on every invalidation heard; a read that straddles one does not fill the tier. */
  #epoch = 0
  /** Why entries are being removed right now, for the eviction count; undefined: not counted. */
  #removing: L1EvictionReason | undefined = 'invalidation'

  constructor(
    l2: Store,
    options: L1Options,
    channel: InvalidationChannel,
    serializer: Serializer,
    onCleared: () => void,
    onEvicted: (reason: L1EvictionReason) => void = () => {},
  ) {
    this.#l2 = l2
    this.#channel = channel
    this.#serializer = serializer
    this.#sized = options.maxBytes !== undefined
    this.#l1 = boundedLru<Entry>(options, {
      // Expiry and overwrites are the normal life of an entry; only early removals are counted.
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') onEvicted('size')
        else if (reason === 'delete' && this.#removing) onEvicted(this.#removing)
      },
    })
    channel.onOthers((message) => {
      this.#epoch += 1
      if (message.kind === 'ready') this.#l1.delete(message.key)
      else if (message.kind === 'drop') for (const key of message.keys) this.#l1.delete(key)
      else if (message.kind === 'tags') for (const tag of message.tags) this.#raiseTag(tag, message.atUs)
    })
    channel.onLost(() => {
      this.#epoch += 1
      this.#removing = 'cleared'
      this.#l1.clear()
      this.#removing = 'invalidation'
      this.#tagTimes.clear()
      onCleared()
    })
  }

  /** Entries held in this process now. */
  get size(): number {
    return this.#l1.size
  }

  /** Their serialized size in bytes, measured only when `maxBytes` bounds the tier (else 0). */
  get bytes(): number {
    return this.#l1.calculatedSize ?? 0
  }

  /** The shared store's: the tier adds nothing to coordinate. */
  get coordinator() {
    return this.#l2.coordinator
  }

  async get(key: string): Promise<Entry | undefined> {
    if (this.#channel.live) {
      const local = this.#l1.get(key)
      if (local) return local
    }
    const epoch = this.#epoch
    const entry = await this.#l2.get(key)
    if (entry && epoch === this.#epoch) this.#keep(key, entry)
    return entry
  }

  peek(key: string): Entry | undefined {
    return this.#channel.live ? this.#l1.get(key) : undefined
  }

  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    const live = this.#channel.live
    const found = keys.map((key) => (live ? this.#l1.get(key) : undefined))
    const missing = keys.filter((_, i) => !found[i])
    if (missing.length === 0) return found
    const epoch = this.#epoch
    const fetched = await this.#l2.getMany(missing)
    let j = 0
    return found.map((entry, i) => {
      if (entry) return entry
      const remote = fetched[j++]
      if (remote && epoch === this.#epoch) this.#keep(keys[i] as string, remote)
      return remote
    })
  }

  /** Begins on the shared store (fences live there), keeping what it found as a read would. */
  async begin(key: string): Promise<Begun> {
    const epoch = this.#epoch
    const begun = await this.#l2.begin(key)
    if (begun.entry && epoch === this.#epoch) this.#keep(key, begun.entry)
    return begun
  }

  async commit(
    key: string,
    entry: Entry,
    payload: string | Buffer,
    ttlMs: number,
    token: FenceToken,
    announce?: Announcement,
  ): Promise<boolean> {
    const written = await this.#l2.commit(key, entry, payload, ttlMs, token, announce)
    if (written) this.#keep(key, this.#copy(entry, payload), payload)
    return written
  }

  async beginMany(keys: readonly string[]): Promise<Begun[]> {
    const epoch = this.#epoch
    const begun = this.#l2.beginMany
      ? await this.#l2.beginMany(keys)
      : await Promise.all(keys.map((key) => this.#l2.begin(key)))
    if (epoch === this.#epoch) {
      begun.forEach((b, i) => {
        if (b.entry) this.#keep(keys[i] as string, b.entry)
      })
    }
    return begun
  }

  async commitMany(writes: readonly FencedWrite[], announce?: (keys: string[]) => Announcement): Promise<boolean[]> {
    const written = this.#l2.commitMany
      ? await this.#l2.commitMany(writes, announce)
      : await Promise.all(writes.map((w) => this.#l2.commit(w.key, w.entry, w.payload, w.ttlMs, w.token)))
    writes.forEach((w, i) => {
      if (written[i]) this.#keep(w.key, this.#copy(w.entry, w.payload), w.payload)
    })
    return written
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<void> {
    await this.#l2.set(key, entry, payload, ttlMs)
    this.#keep(key, this.#copy(entry, payload), payload)
  }

  async delete(key: string): Promise<void> {
    this.#l1.delete(key)
    await this.#l2.delete(key)
    this.#l1.delete(key)
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const value = await this.#l2.increment(key, by, ttlMs)
    this.#l1.delete(key)
    return value
  }

  peekTagTimes(tags: readonly string[]): number[] | undefined {
    if (!this.#channel.live) return undefined
    const times: number[] = []
    for (const tag of tags) {
      const time = this.#tagTimes.get(tag)
      if (time === undefined) return undefined
      times.push(time)
    }
    return times
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    const live = this.#channel.live
    const known = tags.map((tag) => (live ? this.#tagTimes.get(tag) : undefined))
    const missing = tags.filter((_, i) => known[i] === undefined)
    if (missing.length === 0) return known as number[]
    const fetched = await this.#l2.tagTimes(missing)
    let j = 0
    return known.map((time, i) => {
      if (time !== undefined) return time
      const remote = fetched[j++] ?? 0
      if (live) this.#raiseTag(tags[i] as string, remote)
      return this.#tagTimes.get(tags[i] as string) ?? remote
    })
  }

  async invalidateTags(tags: readonly string[]): Promise<number> {
    const at = await this.#l2.invalidateTags(tags)
    for (const tag of tags) this.#raiseTag(tag, at)
    return at
  }

  async close(): Promise<void> {
    this.#removing = undefined
    this.#l1.clear()
    await this.#l2.close()
  }

  /** Keeps a copy until the entry stops being fresh: an L1 copy never outlives its fresh time. */
  #keep(key: string, entry: Entry, payload?: string | Buffer): void {
    if (!this.#channel.live || entry.createdAtUs === 0) return // counters change elsewhere without a load
    const ttlMs = entry.freshUntilMs - Date.now()
    if (ttlMs <= 0) return
    this.#l1.set(key, entry, lruSetOptions(this.#sized, ttlMs, payload))
  }

  /** A loader's own object must not be shared with other callers: they get the round trip, like from the store. */
  #copy(entry: Entry, payload: string | Buffer): Entry {
    return entry.negative ? entry : { ...entry, value: this.#serializer.deserialize(payload) }
  }

  #raiseTag(tag: string, at: number): void {
    this.#tagTimes.set(tag, Math.max(at, this.#tagTimes.get(tag) ?? 0))
  }
}
