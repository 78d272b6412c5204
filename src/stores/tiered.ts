import type { LRUCache } from 'lru-cache'
import { nowMicros } from '../clock.ts'
import type { InvalidationChannel } from '../coordination.ts'
import { type Entry, entryWith } from '../entry.ts'
import { type Findings, GenerationWatch } from '../generation.ts'
import { boundedLru, lruSetOptions } from '../lru.ts'
import type { L1EvictionReason } from '../metrics.ts'
import type { ResolvedL1 } from '../options.ts'
import type { Serializer } from '../serializer.ts'
import { heldEntry } from './memory-entry.ts'
import type { Announcement, Begun, EntryWithTagTimes, FencedWrite, FenceToken, Receipt, Store } from './store.ts'
import { compareWithStore, fencesCover, writeBack, writesBack } from './tier-reconcile.ts'

/**
 * An in-process tier (lru-cache) in front of a shared store. It serves a copy while the entry is
 * fresh. Every write, delete, finished load and tag invalidation, in any process and by any
 * cache on the same namespace, is announced on the namespace's channel and drops the copies
 * elsewhere at once; and since any message can be lost, the tier also checks the namespace's
 * write generation at least every `verifyAfter` (and when its channel reconnects) and, when it
 * finds a write it did not hear of (src/generation.ts), drops the copies the store shows were
 * written since (all of them when it cannot show it). Tag times read from the store are kept for
 * `verifyAfter` at most. While the store cannot be reached, the tier keeps serving what it holds,
 * within each entry's ttl + grace: nothing can be written there meanwhile, and the first check
 * after it comes back settles what was missed before, and writes back what the store lost
 * (tier-reconcile.ts). Loads (`begin`/`commit`) always go to the shared store, so fences keep working
 * across tiers.
 */
export class TieredStore implements Store {
  readonly kind = 'tiered'
  readonly keeps = 'both'
  readonly #l2: Store
  readonly #l1: LRUCache<string, Entry>
  /** Tag invalidation times read from the shared store, each kept at most `verifyAfter`. */
  readonly #tagTimes: LRUCache<string, number>
  readonly #sized: boolean
  readonly #watch: GenerationWatch | undefined
  readonly #tagTtlMs: number
  readonly #channel: InvalidationChannel
  /** Whether a check since the channel last dropped has settled what was missed (see #current). */
  #settled = true
  /** True while copies that may be out of date are being compared with the store (see #current). */
  #verifying = false
  #closed = false
  /** Keys loaded here while the store could not take them, since the last reconciliation. */
  readonly #keptLocally = new Set<string>()
  readonly #onCleared: () => void
  readonly #serializer: Serializer
  #losses = 0
  /** Moves on every invalidation heard; a read that straddles one does not fill the tier. */
  #epoch = 0
  /** Why entries are being removed right now, for the eviction count; undefined: not counted. */
  #removing: L1EvictionReason | undefined = 'invalidation'

  constructor(
    l2: Store,
    options: ResolvedL1,
    channel: InvalidationChannel,
    /** Only for writing copies back after an outage: copies themselves are made by the engine. */
    serializer: Serializer,
    onCleared: () => void,
    onEvicted: (reason: L1EvictionReason) => void = () => {},
  ) {
    this.#l2 = l2
    this.#serializer = serializer
    this.#sized = options.maxBytes !== undefined
    this.#l1 = boundedLru<Entry>(options, {
      // Expiry and overwrites are the normal life of an entry; only early removals are counted.
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') onEvicted('size')
        else if (reason === 'delete' && this.#removing) onEvicted(this.#removing)
      },
    })
    this.#tagTimes = boundedLru<number>({ maxEntries: 100_000 })
    this.#tagTtlMs = options.verifyAfterMs
    this.#onCleared = onCleared
    const generation = l2.generation?.bind(l2)
    this.#watch = generation
      ? new GenerationWatch({
          read: generation,
          reconcile: (found) => this.#reconcile(found),
          verifyAfterMs: options.verifyAfterMs,
        })
      : undefined
    this.#watch?.start()
    channel.onOthers((message) => {
      this.#epoch += 1
      for (const generation of message.gens ?? []) this.#watch?.heard(generation)
      if (message.kind === 'ready') this.#l1.delete(message.key)
      else if (message.kind === 'drop') for (const key of message.keys) this.#l1.delete(key)
      else if (message.kind === 'tags') for (const tag of message.tags) this.#raiseTag(tag, clampTagTime(message.atUs))
    })
    // Messages sent while the channel is down are lost: the tier is bypassed (reads go to the
    // store, and fall back on it only when the store cannot answer) until a check that began
    // after the loss has settled what was missed.
    channel.onLost(() => {
      this.#epoch += 1
      const lost = ++this.#losses
      this.#settled = false
      if (!this.#watch) {
        onCleared()
        return this.#clear()
      }
      void this.#watch.checkAfresh().then((read) => {
        if (read && lost === this.#losses) this.#settled = true
      })
    })
    this.#channel = channel
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

  /** True once the tier knows the namespace's generation: only then may it keep copies. */
  get #trusted(): boolean {
    return this.#watch?.ready ?? false
  }

  /**
   * True while copies may be served without asking the store: the channel is live and, since it
   * last dropped, a generation check settled what was missed (and no comparison is under way).
   */
  get #current(): boolean {
    return this.#settled && !this.#verifying && this.#channel.live
  }

  async get(key: string): Promise<Entry | undefined> {
    const local = this.#l1.get(key)
    if (local && this.#current && Date.now() < local.freshUntilMs) return local
    const epoch = this.#epoch
    let entry: Entry | undefined
    try {
      entry = await this.#l2.get(key)
    } catch (error) {
      // The shared store is out of reach: a copy within its grace still serves (as stale).
      if (local) return local
      throw error
    }
    this.#watch?.reached()
    if (entry && epoch === this.#epoch) this.#keep(key, entry)
    return entry ?? this.#heldThroughLoss(local)
  }

  /**
   * A fresh copy the store no longer has: the store lost its data (restarted empty) or a delete's
   * message was lost. Served while the channel is down (the generation check, at most
   * `verifyAfter` away, drops it if a write was missed), and whenever the store shows no fence
   * for the key either (`token` 0: no write or delete of it since the store's data began).
   * Refilling from the origin every key an emptied store lost would cost more than it saves.
   */
  #heldThroughLoss(local: Entry | undefined, token?: FenceToken): Entry | undefined {
    if (!local || Date.now() >= local.freshUntilMs) return undefined
    return !this.#channel.live || (token === 0 && fencesCover(local, Date.now())) ? local : undefined
  }

  /**
   * The entry and its tags' times: from process memory when both are there, else in one read of
   * the shared store (whose answer fills the tier as `get` and `tagTimes` would). Out of reach,
   * what is held here answers, as for `get` and `tagTimes`.
   */
  async getWithTagTimes(key: string, tags: readonly string[]): Promise<EntryWithTagTimes> {
    const current = this.#current
    const local = this.#l1.get(key)
    const fresh = local && current && Date.now() < local.freshUntilMs ? local : undefined
    const known = this.peekTagTimes(tags)
    if (fresh && known) return { entry: fresh, tagTimesUs: known }
    if (known || !this.#l2.getWithTagTimes) return { entry: await this.get(key), tagTimesUs: await this.tagTimes(tags) }
    const epoch = this.#epoch
    let read: EntryWithTagTimes
    try {
      read = await this.#l2.getWithTagTimes(key, tags)
    } catch (error) {
      const held = tags.map((tag) => this.#tagTimes.get(tag))
      if (!local || held.some((time) => time === undefined)) throw error
      return { entry: local, tagTimesUs: held as number[] }
    }
    if (read.entry && epoch === this.#epoch) this.#keep(key, read.entry)
    if (this.#trusted && read.entry) for (const [i, tag] of tags.entries()) this.#raiseTag(tag, read.tagTimesUs[i] ?? 0)
    return {
      entry: fresh ?? read.entry ?? this.#heldThroughLoss(local),
      tagTimesUs: tags.map((tag, i) => Math.max(read.tagTimesUs[i] ?? 0, (current && this.#tagTimes.get(tag)) || 0)),
    }
  }

  peek(key: string): Entry | undefined {
    return this.#current ? this.#l1.get(key) : undefined
  }

  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    const now = Date.now()
    const current = this.#current
    const held = keys.map((key) => this.#l1.get(key))
    const found = held.map((entry) => (current && entry && now < entry.freshUntilMs ? entry : undefined))
    const missing = keys.filter((_, i) => !found[i])
    if (missing.length === 0) return found
    const epoch = this.#epoch
    let fetched: (Entry | undefined)[]
    try {
      fetched = await this.#l2.getMany(missing)
    } catch (error) {
      if (held.some((entry) => entry !== undefined)) return held
      throw error
    }
    let j = 0
    return found.map((entry, i) => {
      if (entry) return entry
      const remote = fetched[j++]
      if (remote && epoch === this.#epoch) this.#keep(keys[i] as string, remote)
      return remote ?? this.#heldThroughLoss(held[i])
    })
  }

  /**
   * Begins on the shared store (fences live there), keeping what it found as a read would. When
   * the store is out of reach, a copy held here still answers (as `get` does), with no fence
   * token: a load begun so is not written. Tag times known here are not asked for again; those
   * read with the entry are kept as `tagTimes` would keep them.
   */
  async begin(key: string, tags?: readonly string[]): Promise<Begun> {
    const local = this.#l1.get(key)
    const known = tags && tags.length > 0 ? this.peekTagTimes(tags) : undefined
    const ask = tags && tags.length > 0 && !known ? tags : undefined
    const epoch = this.#epoch
    let begun: Begun
    try {
      begun = await this.#l2.begin(key, ask)
    } catch (error) {
      if (local) return { entry: local }
      throw error
    }
    this.#watch?.reached()
    if (begun.entry && epoch === this.#epoch) this.#keep(key, begun.entry)
    const held = begun.entry ? undefined : this.#heldThroughLoss(local, begun.token)
    const found = held ? { ...begun, entry: held } : begun
    if (known) return { ...found, tagTimesUs: known }
    const read = begun.tagTimesUs
    if (!ask || !read) return found
    // Kept only when an entry was found, as checking its tags would keep them: a miss leaves
    // them unknown here, to be read with the entry when it is next asked for.
    if (this.#trusted && begun.entry) for (const [i, tag] of ask.entries()) this.#raiseTag(tag, read[i] ?? 0)
    const current = this.#current
    return {
      ...found,
      tagTimesUs: ask.map((tag, i) => Math.max(read[i] ?? 0, (current && this.#tagTimes.get(tag)) || 0)),
    }
  }

  async commit(
    key: string,
    entry: Entry,
    payload: string | Buffer,
    ttlMs: number,
    token: FenceToken,
    announce?: Announcement,
  ): Promise<Receipt | undefined> {
    const receipt = await this.#l2.commit(key, entry, payload, ttlMs, token, announce)
    if (receipt) {
      this.#heard(receipt)
      this.#keep(key, entry, payload)
    }
    return receipt
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

  async commitMany(
    writes: readonly FencedWrite[],
    announce?: (keys: string[]) => Announcement,
  ): Promise<(Receipt | undefined)[]> {
    const receipts = this.#l2.commitMany
      ? await this.#l2.commitMany(writes, announce)
      : await Promise.all(writes.map((w) => this.#l2.commit(w.key, w.entry, w.payload, w.ttlMs, w.token)))
    writes.forEach((w, i) => {
      const receipt = receipts[i]
      if (!receipt) return
      this.#heard(receipt)
      this.#keep(w.key, w.entry, w.payload)
    })
    return receipts
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt> {
    const receipt = await this.#l2.set(key, entry, payload, ttlMs)
    this.#heard(receipt)
    const stamped = receipt.createdAtUs === undefined ? entry : entryWith(entry, { createdAtUs: receipt.createdAtUs })
    this.#keep(key, stamped, payload)
    return receipt
  }

  async delete(key: string): Promise<Receipt> {
    this.#l1.delete(key)
    const receipt = await this.#l2.delete(key)
    this.#heard(receipt)
    this.#l1.delete(key)
    return receipt
  }

  /**
   * A value loaded while the shared store could not be reached (no fence token, nothing written):
   * kept here, so this process does not call the origin for it on every request of the outage.
   * The generation check when the store is back settles whether anything changed meanwhile, and
   * writes it back if the store still has nothing for the key.
   */
  keepLocally(key: string, entry: Entry, payload: string | Buffer): void {
    this.#watch?.unreachable()
    if (this.#keptLocally.size < this.#l1.max) this.#keptLocally.add(key)
    this.#keep(key, entry, payload)
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const value = await this.#l2.increment(key, by, ttlMs)
    this.#l1.delete(key)
    return value
  }

  peekTagTimes(tags: readonly string[]): number[] | undefined {
    if (!this.#current) return undefined
    const times: number[] = []
    for (const tag of tags) {
      const time = this.#tagTimes.get(tag)
      if (time === undefined) return undefined
      times.push(time)
    }
    return times
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    const current = this.#current
    const held = tags.map((tag) => this.#tagTimes.get(tag))
    const known = held.map((time) => (current ? time : undefined))
    const missing = tags.filter((_, i) => known[i] === undefined)
    if (missing.length === 0) return known as number[]
    let fetched: number[]
    try {
      fetched = await this.#l2.tagTimes(missing)
    } catch (error) {
      // Out of reach: the times held (at most `verifyAfter` old when last read) are what we know.
      if (held.every((time) => time !== undefined)) return held as number[]
      throw error
    }
    let j = 0
    return known.map((time, i) => {
      if (time !== undefined) return time
      const remote = fetched[j++] ?? 0
      if (this.#trusted) this.#raiseTag(tags[i] as string, remote)
      return this.#tagTimes.get(tags[i] as string) ?? remote
    })
  }

  async invalidateTags(tags: readonly string[]): Promise<{ atUs: number } & Receipt> {
    const receipt = await this.#l2.invalidateTags(tags)
    this.#heard(receipt)
    for (const tag of tags) this.#raiseTag(tag, receipt.atUs)
    return receipt
  }

  generation(): Promise<number> {
    return this.#l2.generation ? this.#l2.generation() : Promise.resolve(0)
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#watch?.stop()
    this.#removing = undefined
    this.#l1.clear()
    await this.#l2.close()
  }

  /**
   * Keeps a copy until the end of the entry's grace: served fresh until its fresh time, and after
   * that only while the shared store cannot be reached.
   */
  #keep(key: string, entry: Entry, payload?: string | Buffer): void {
    if (!this.#trusted || entry.createdAtUs === 0) return // counters change elsewhere without a load
    const ttlMs = entry.staleUntilMs - Date.now()
    if (ttlMs <= 0) return
    // Compact when it can be (memory-entry.ts): an L1 holds as many entries as the memory store.
    this.#l1.set(key, heldEntry(entry), lruSetOptions(this.#sized, ttlMs, payload))
  }

  #raiseTag(tag: string, at: number): void {
    this.#tagTimes.set(tag, Math.max(at, this.#tagTimes.get(tag) ?? 0), { ttl: this.#tagTtlMs })
  }

  #heard(receipt: Receipt | undefined): void {
    if (receipt?.generation !== undefined) this.#watch?.heard(receipt.generation)
  }

  #clear(): void {
    this.#epoch += 1
    this.#removing = 'cleared'
    this.#l1.clear()
    this.#removing = 'invalidation'
    this.#tagTimes.clear()
  }

  /**
   * Settles what a generation check found. A write missed before the store lost its data left no
   * trace: everything goes. Otherwise, when writes may have gone unheard, every copy is compared
   * with the store (and not served meanwhile): those the store shows were written since go, the
   * rest stay; when the store cannot answer the comparison, everything goes. After being cut off
   * from the store, fresh copies of keys the store holds nothing of (it restarted empty) are
   * written back, fenced, so other processes read them instead of calling the origin again: all
   * of them when the store lost its data or a write was missed, else those loaded here meanwhile
   * (a store that lost nothing has every other copy already).
   */
  async #reconcile(found: Findings): Promise<void> {
    if (found.gap) this.#onCleared()
    if (found.gap && found.lost) return this.#clear()
    const verify = found.gap || found.lost
    // A missed tag invalidation shows in no entry: tag times are read again.
    if (verify) this.#tagTimes.clear()
    // With nothing missed and no data lost, only what was loaded here can be missing from the store.
    const held: [string, Entry | undefined][] = verify
      ? [...this.#l1.entries()]
      : [...this.#keptLocally].map((key) => [key, this.#l1.peek(key)])
    this.#keptLocally.clear()
    if (held.length === 0) return
    const keys = held.map(([key]) => key)
    const copies = held.map(([, copy]) => copy)
    // A copy replaced or dropped meanwhile (a message, a fill) is left as it now is.
    const unchanged = (i: number) => this.#l1.peek(keys[i] as string) === copies[i]
    let absent: number[]
    try {
      this.#verifying = verify
      const compared = await compareWithStore(this.#l2, keys, copies)
      this.#removing = 'cleared'
      for (const i of compared.changed) if (unchanged(i)) this.#l1.delete(keys[i] as string)
      absent = compared.absent
    } catch {
      if (verify) this.#clear()
      this.#watch?.unreachable()
      return
    } finally {
      this.#removing = 'invalidation'
      this.#verifying = false
    }
    if (!found.cutOff || this.#closed) return
    const writes = writesBack(this.#serializer, keys, copies, absent.filter(unchanged), Date.now())
    try {
      for (const receipt of await writeBack(this.#l2, this.#channel, writes)) this.#heard(receipt)
    } catch {
      this.#watch?.unreachable()
    }
  }
}

/** How far ahead of this process's clock a tag time heard on the channel may be (clocks drift apart). */
const MAX_AHEAD_US = 1_000_000

/**
 * A tag time from a channel message, at most a second ahead of this process's clock: anyone who
 * can PUBLISH could otherwise switch caching of a tag off for good with `at: 1e300`. The tag's
 * real time is re-read from the store within `verifyAfter` anyway.
 */
function clampTagTime(atUs: number): number {
  return Math.min(atUs, nowMicros() + MAX_AHEAD_US)
}
