import { nowMicros } from '../clock.ts'
import type { MemcacheClient } from './client.ts'
import { itemBytes, replied } from './client.ts'
import { CLOCK_KEY } from './keys.ts'

/** Runs one command against the node holding `item`, under the store's breaker and timeout. */
export type RunOn = <T>(item: string, command: (client: MemcacheClient) => Promise<T>) => Promise<T>

/** Every invalidation moves the clock by a whole number of steps (µs), at least one. */
const STEP = 100

/**
 * The store's one clock for tags, kept in a single Memcached item (Memcached has no TIME command
 * and processes' clocks drift apart). It is a counter that only grows: an invalidation advances it
 * with `incr`, by whole steps, to at least this process's time in µs, and takes the result as the
 * tag's time; a load reads it when it begins and is born inside the step that follows (at a point
 * taken from this process's clock, so loads rarely share a birth time). So a load is voided by
 * exactly the invalidations that advanced the clock after it read it, whatever the processes'
 * clocks say.
 */
export class TagClock {
  readonly #run: RunOn
  /** One read in flight is shared: a read begun earlier can only make a load look older (the safe side). */
  #reading: Promise<number> | undefined

  constructor(run: RunOn) {
    this.#run = run
  }

  /** The birth time of a load that begins now: just after the last invalidation it must survive. */
  async birth(): Promise<number> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined
    })
    return (await this.#reading) + 1 + (nowMicros() % (STEP - 2))
  }

  /** Advances the clock for an invalidation and returns the time it takes. */
  async advance(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.#read()
      const step = Math.max(STEP, Math.ceil((nowMicros() - current) / STEP) * STEP)
      try {
        const next = await this.#run(CLOCK_KEY, (client) => client.incr(CLOCK_KEY, step))
        return Number(next)
      } catch (error) {
        // Evicted (or the server restarted) between the read and the incr: read it again.
        if (!replied(error, 'NOT_FOUND') || attempt >= 3) throw error
      }
    }
  }

  /** The clock's value, created at this process's time when absent. */
  async #read(): Promise<number> {
    return this.#run(CLOCK_KEY, async (client) => {
      const found = itemBytes((await client.get(CLOCK_KEY))?.value)
      const value = found ? Number(found.toString('latin1')) : Number.NaN
      if (Number.isSafeInteger(value)) return value
      const start = Math.ceil(nowMicros() / STEP) * STEP
      if (found) {
        // Unreadable (another client wrote it): start it over.
        await client.set(CLOCK_KEY, Buffer.from(String(start)), { lifetime: 0 })
        return start
      }
      try {
        await client.add(CLOCK_KEY, Buffer.from(String(start)), { lifetime: 0 })
        return start
      } catch (error) {
        if (!replied(error, 'NOT_STORED')) throw error
        const raced = itemBytes((await client.get(CLOCK_KEY))?.value)
        return raced ? Number(raced.toString('latin1')) : start
      }
    })
  }
}
