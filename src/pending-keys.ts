/** Keys left behind (finished, value cleared) before the table is swept of them; with this many live, finished keys are deleted at once. */
const SWEEP_AFTER = 1_024

/**
 * A map from key to the work in flight for it, for the flights that every hit and every miss goes
 * through (flight.ts, redis/read-flight.ts). A plain `Map` with a `delete` per finished call
 * shrinks and regrows its table as the calls come and go (64 callers: about ten new tables per
 * 64 calls), and on a busy hit path those allocations cost more than the read itself (measured:
 * 2-3 µs a Redis hit). Here a finished key keeps its slot with no value, and the slots are swept
 * only once more than SWEEP_AFTER of them sit empty (and more than are live): a steady set of hot
 * keys never reallocates, and a stream of new keys costs one sweep per thousand or so.
 */
export class PendingKeys<T> {
  #map = new Map<string, T | undefined>()
  /** Keys with a value now. */
  #live = 0

  /** Keys with work in flight now. */
  get size(): number {
    return this.#live
  }

  get(key: string): T | undefined {
    return this.#map.get(key)
  }

  has(key: string): boolean {
    return this.#map.get(key) !== undefined
  }

  set(key: string, value: T): void {
    if (this.#map.get(key) === undefined) this.#live++
    this.#map.set(key, value)
  }

  /** Clears `key`'s value when it is `value` (a newer call may have taken the key since). */
  deleteIf(key: string, value: T): void {
    if (value !== undefined && this.#map.get(key) === value) this.#clear(key)
  }

  delete(key: string): boolean {
    if (this.#map.get(key) === undefined) return false
    this.#clear(key)
    return true
  }

  /** Takes the value off `key`, which has one. */
  #clear(key: string): void {
    const map = this.#map
    this.#live--
    // A batch holds thousands of keys at once: a table that large shrinks seldom, so its keys go
    // at once (keeping them would only make the table, and every lookup in it, bigger).
    if (this.#live >= SWEEP_AFTER) {
      map.delete(key)
      return
    }
    map.set(key, undefined)
    // Swept once the empty slots outnumber both SWEEP_AFTER and the live ones: a sweep copies the
    // live keys, so it costs no more than the deletes that led to it.
    const empty = map.size - this.#live
    if (empty > SWEEP_AFTER && empty > this.#live) this.#sweep()
  }

  /** Every key with work in flight now. */
  *live(): IterableIterator<string> {
    for (const [key, value] of this.#map) if (value !== undefined) yield key
  }

  clear(): void {
    this.#map = new Map()
    this.#live = 0
  }

  #sweep(): void {
    if (this.#live === 0) {
      this.#map = new Map()
      return
    }
    const kept = new Map<string, T | undefined>()
    for (const [key, value] of this.#map) if (value !== undefined) kept.set(key, value)
    this.#map = kept
  }
}
