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
  /** By store key (reads with tags have their own flight: TaggedReadFlight). */
  readonly #reads = new PendingKeys<Promise<T>>()

  /** Reads in flight now (at rest: 0). */
  get size(): number {
    return this.#reads.size
  }

  /** The read of `key` in flight, or a new one made by `read`. */
  join(key: string, read: () => Promise<T>): Promise<T> {
    const current = this.#reads.get(key)
    if (current) return current
    const promise = read()
    this.#reads.set(key, promise)
    // One function for both outcomes, as in flight.ts: a hit counts every allocation.
    const settled = this.#settled.bind(this, key, promise)
    promise.then(settled, settled)
    return promise
  }

  #settled(key: string, promise: Promise<T>): void {
    // A `forget` may have let a newer read take the key; that one is not ours to remove.
    this.#reads.deleteIf(key, promise)
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
