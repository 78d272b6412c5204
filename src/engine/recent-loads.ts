import type { Loaded } from './types.ts'

/** How many finished loads are remembered; past it the memory starts over (a lost note costs one extra load). */
const MAX = 10_000

/**
 * Loads this process finished lately, each stamped with a counter. A read that was sent before a
 * load of its key finished may come back with a miss that is already out of date: instead of
 * loading the key again, it takes that load's result. (A load begins with the read itself, so
 * there is no second read to notice the value that just landed.) Bounded; stamps only grow.
 */
export class RecentLoads {
  #loads = new Map<string, { stamp: number; loaded: Loaded }>()
  #stamp = 0
  /** The stamp of the last mark taken: none yet. */
  #marked = -MAX

  /** A stamp to take before a read: loads noted after it finished after the read was sent. */
  mark(): number {
    this.#marked = this.#stamp
    return this.#stamp
  }

  /** Notes that a load of `storeKey` just finished with `loaded`. */
  note(storeKey: string, loaded: Loaded): void {
    this.#stamp += 1
    // Nobody marked within the last MAX loads, so no read that could ask is still in flight (one
    // that marked earlier may miss notes anyway once the memory starts over). A memory store's
    // misses read at once, without a mark: filling it notes nothing (a note cost ~0.5 µs a miss).
    if (this.#stamp - this.#marked > MAX) return
    // Only notes newer than a read in flight matter, so dropping them all at once is cheap and safe.
    if (this.#loads.size >= MAX) this.#loads = new Map()
    this.#loads.set(storeKey, { stamp: this.#stamp, loaded })
  }

  /** The result of a load of `storeKey` that finished after `mark` was taken, if any. */
  since(storeKey: string, mark: number): Loaded | undefined {
    const found = this.#loads.get(storeKey)
    return found && found.stamp > mark ? found.loaded : undefined
  }
}
