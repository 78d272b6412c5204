import { PendingKeys } from '../pending-keys.ts'
import { sameTags } from '../tag-lists.ts'

/**
 * Concurrent reads of one key share one Redis read per process: while a read of a key is in
 * flight, another read of it gets the same promise instead of sending another GET. So five
 * callers of a cold key send one GET, and 64 callers of a hot one do too.
 *
 * A read may only be joined while it cannot have missed anything the joiner must see: a write
 * or delete of the key from this process, and an invalidation of it heard from another
 * (`forget`), or of any tag (`clear`), makes later readers send a read of their own. Joiners
 * share the decoded entry, and so its value: treat cached values as read-only, as everywhere.
 */
export class ReadFlight<T> {
  /** By read key: the store key, followed (for a read with tags) by a newline and the tags. */
  readonly #reads = new PendingKeys<Promise<T>>()
  /** Reads in flight whose read key carries tags: `forget` looks through the map only when some do. */
  #tagged = 0

  /** Reads in flight now (at rest: 0). */
  get size(): number {
    return this.#reads.size
  }

  /** The read of `readKey` in flight, or a new one made by `read`. */
  join(readKey: string, read: () => Promise<T>): Promise<T> {
    const current = this.#reads.get(readKey)
    if (current) return current
    const promise = read()
    this.#add(readKey, promise)
    // One function for both outcomes, as in flight.ts: a hit counts every allocation.
    const settled = this.#settled.bind(this, readKey, promise)
    promise.then(settled, settled)
    return promise
  }

  #settled(readKey: string, promise: Promise<T>): void {
    // A `forget` may have let a newer read take the key; that one is not ours to remove.
    if (this.#reads.get(readKey) === promise) this.#remove(readKey)
  }

  /** Reads of `key` (with any tags) that start from now on send their own read. */
  forget(key: string): void {
    this.#remove(key)
    // Every write forgets its key: with 64 untagged reads in flight, a scan each time would cost
    // more than the read it spares.
    if (this.#tagged === 0) return
    const tagged = `${key}\n`
    for (const readKey of [...this.#reads.live()]) if (readKey.startsWith(tagged)) this.#remove(readKey)
  }

  /** Every read that starts from now on sends its own read. */
  clear(): void {
    this.#reads.clear()
    this.#tagged = 0
  }

  #add(readKey: string, promise: Promise<T>): void {
    if (readKey.includes('\n')) this.#tagged++
    this.#reads.set(readKey, promise)
  }

  #remove(readKey: string): void {
    if (this.#reads.delete(readKey) && readKey.includes('\n')) this.#tagged--
  }
}

/** A read of one key with tags in flight: which tags, and the read. */
interface TaggedRead<T> {
  tags: readonly string[]
  promise: Promise<T>
}

/**
 * ReadFlight for reads that bring tags' times with the entry: by store key, joined only by a read
 * of the same key with the same tags (the same array, or the same tags in the same order). A read
 * of the key with other tags while one is in flight sends its own and is not shared. Keyed by
 * the store key alone, a tagged hit builds no read key and a write forgets its key at once.
 */
export class TaggedReadFlight<T> {
  readonly #reads = new PendingKeys<TaggedRead<T>>()

  /** Reads in flight now (at rest: 0). */
  get size(): number {
    return this.#reads.size
  }

  /** The read of `key` with `tags` in flight, or a new one made by `read`. */
  join(key: string, tags: readonly string[], read: () => Promise<T>): Promise<T> {
    const current = this.#reads.get(key)
    if (current && sameTags(current.tags, tags)) return current.promise
    const promise = read()
    if (current) return promise
    const flight: TaggedRead<T> = { tags, promise }
    this.#reads.set(key, flight)
    const settled = this.#settled.bind(this, key, flight)
    promise.then(settled, settled)
    return promise
  }

  #settled(key: string, flight: TaggedRead<T>): void {
    // A `forget` may have let a newer read take the key; that one is not ours to remove.
    this.#reads.deleteIf(key, flight)
  }

  /** Reads of `key` that start from now on send their own read. */
  forget(key: string): void {
    this.#reads.delete(key)
  }

  /** Every read that starts from now on sends its own read. */
  clear(): void {
    this.#reads.clear()
  }
}
