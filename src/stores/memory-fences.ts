import type { FenceToken } from './store.ts'

/** A key with loads in flight: how many, and the clock of the last write to it since the first began. */
interface Pending {
  loads: number
  writtenAt: number
}

/**
 * Fences for a store in one process (the rules are those of redis/scripts.ts), kept only for keys
 * with a load in flight, so a filled cache holds no fence per entry. One store-wide clock moves on
 * every write and delete; a load's token is the clock when it began, and its commit is refused if
 * its key was written since. A key nobody is loading needs no record: a write to it only moves the
 * clock. Records are bounded: a load that never commits (its loader failed, its value was not
 * cacheable) leaves one behind until the bound pushes the oldest out, and a load whose record was pushed
 * out is refused when it commits: the safe side.
 */
export class MemoryFences {
  #clock = 0
  /**
   * In order of the first load begun (a Map, not an lru-cache: lru-cache clears all its slots
   * whenever its last entry goes, and this map empties after every burst of loads).
   */
  readonly #pending = new Map<string, Pending | number>()
  readonly #maxPending: number

  constructor(maxPending: number) {
    this.#maxPending = maxPending
  }

  /**
   * A load of `key` begins: its token. A key whose loads saw no write yet is recorded as a bare
   * count (no object per miss); a write to it makes the record a Pending.
   */
  begin(key: string): FenceToken {
    const pending = this.#pending.get(key)
    if (pending === undefined) {
      if (this.#pending.size >= this.#maxPending) {
        for (const [oldest] of this.#pending) {
          this.#pending.delete(oldest)
          break
        }
      }
      this.#pending.set(key, 1)
    } else if (typeof pending === 'number') this.#pending.set(key, pending + 1)
    else pending.loads += 1
    return this.#clock
  }

  /** True if the load that took `token` may write `key` now; then the write counts as one. */
  commit(key: string, token: FenceToken): boolean {
    const pending = this.#pending.get(key)
    if (pending === undefined) return false
    // A bare count: nothing was written to the key since its first load began.
    const allowed = typeof pending === 'number' || pending.writtenAt <= token
    const loads = (typeof pending === 'number' ? pending : pending.loads) - 1
    if (loads <= 0) this.#pending.delete(key)
    else if (typeof pending === 'number') this.#pending.set(key, loads)
    else pending.loads = loads
    if (allowed) this.wrote(key)
    return allowed
  }

  /** `key` was written or deleted outside a load: loads in flight on it can no longer write. */
  wrote(key: string): void {
    this.#clock += 1
    const pending = this.#pending.get(key)
    if (pending === undefined) return
    if (typeof pending === 'number') this.#pending.set(key, { loads: pending, writtenAt: this.#clock })
    else pending.writtenAt = this.#clock
  }

  /** Loads with a record now (at rest: only those that never committed). */
  get size(): number {
    return this.#pending.size
  }

  clear(): void {
    this.#pending.clear()
  }
}
