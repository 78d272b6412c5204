import { nowMicros } from '../clock.ts'

/** How long one estimate of the offset is trusted before newer samples replace it (clocks drift). */
const WINDOW_US = 10_000_000

/**
 * Redis's clock as seen from this process, without asking Redis on every load. Each time a reply
 * carries Redis's time (a commit, a tag invalidation), the offset to the local clock is sampled as
 * redisTime - localTimeOnArrival: Redis read its clock before the reply left, so that sample never
 * runs ahead of the true offset. The estimate is the best (largest) sample of the current window,
 * and never earlier than the latest Redis time this process has seen, so a load that begins after
 * an invalidation returned is born after it. An entry's birth may read slightly early, never late:
 * at worst a tag voids an entry begun a few µs after it (one extra load), never the reverse.
 */
export class RedisClock {
  #offset: number | undefined
  #next: number | undefined
  #windowEnds = 0
  #latest = 0

  /** True once a reply has told us Redis's time. */
  get known(): boolean {
    return this.#offset !== undefined
  }

  /** Learns from a reply that carried Redis's time (µs), received just now. */
  observe(redisMicros: number): void {
    if (!Number.isFinite(redisMicros) || redisMicros <= 0) return
    const local = nowMicros()
    const sample = redisMicros - local
    this.#latest = Math.max(this.#latest, redisMicros)
    if (this.#offset === undefined) this.#offset = sample
    if (local >= this.#windowEnds) {
      // A new window: the best sample of the last one becomes the estimate.
      if (this.#next !== undefined) this.#offset = this.#next
      this.#next = sample
      this.#windowEnds = local + WINDOW_US
    } else this.#next = Math.max(this.#next ?? sample, sample)
    this.#offset = Math.max(this.#offset, sample)
  }

  /** Redis's time now, in µs, as well as this process can tell without asking. */
  nowMicros(): number {
    const local = nowMicros()
    const estimate = this.#offset === undefined ? local : local + this.#offset
    return Math.max(estimate, this.#latest + 1)
  }
}
