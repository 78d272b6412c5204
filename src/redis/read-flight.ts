/**
 * Concurrent reads of one key share one Redis read per process: while a read of a key is in
 * flight, another read of it (with the same tags) gets the same promise instead of sending
 * another GET. So five callers of a cold key send one GET, and 64 callers of a hot one do too.
 *
 * A read may only be joined while it cannot have missed anything the joiner must see: a write
 * or delete of the key from this process, and an invalidation of it heard from another
 * (`forget`), or of any tag (`clear`), makes later readers send a read of their own. Joiners
 * share the decoded entry, and so its value: treat cached values as read-only, as everywhere.
 */
export class ReadFlight<T> {
  /** Per key, the reads in flight by variant ('' for a plain read, the tags for a tagged one). */
  readonly #reads = new Map<string, Map<string, Promise<T>>>()

  /** Reads in flight now (at rest: 0). */
  get size(): number {
    return this.#reads.size
  }

  /** The read of `key` (`variant`) in flight, or a new one made by `read`. */
  join(key: string, variant: string, read: () => Promise<T>): Promise<T> {
    let variants = this.#reads.get(key)
    const current = variants?.get(variant)
    if (current) return current
    const promise = read()
    if (!variants) this.#reads.set(key, (variants = new Map()))
    variants.set(variant, promise)
    const settle = () => {
      const now = this.#reads.get(key)
      // A `forget` may have let a newer read take the key; that one is not ours to remove.
      if (now?.get(variant) !== promise) return
      now.delete(variant)
      if (now.size === 0) this.#reads.delete(key)
    }
    promise.then(settle, settle)
    return promise
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
