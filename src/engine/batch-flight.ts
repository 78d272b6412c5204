import type { Flight } from '../flight.ts'
import type { Loaded } from './types.ts'

/**
 * One key's share of a batch load: settles the key's flight (what a concurrent `wrap` of the key
 * joins) and keeps the outcome, so the batch reads its thousands of results in one pass after the
 * run instead of through a callback per key. Registered in the flights' table as a lazy call
 * (`claimIn`): its promise is made only when someone joins the key, and it takes itself off the
 * table when it settles. The first settlement wins, as with a promise.
 */
export class BatchFlight {
  /** 0 pending, 1 loaded, 2 failed. */
  state: 0 | 1 | 2 = 0
  loaded: Loaded | undefined
  error: unknown
  #promise: Promise<Loaded> | undefined
  #resolve: ((loaded: Loaded) => void) | undefined
  #reject: ((error: unknown) => void) | undefined
  /** Where this flight is registered, and as which key, until it settles. */
  #flights: Flight<Loaded> | undefined
  #key = ''

  /**
   * Registers this flight as `key`'s in `flights`, unless a call for the key is in flight there:
   * that call's promise is returned then, and this flight is not registered.
   */
  claimIn(flights: Flight<Loaded>, key: string): Promise<Loaded> | undefined {
    const current = flights.claim(key, this)
    if (current) return current
    this.#flights = flights
    this.#key = key
    return undefined
  }

  /** The flight's promise, made on the first call. */
  promise(): Promise<Loaded> {
    this.#promise ??= new Promise<Loaded>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
      if (this.state === 1) resolve(this.loaded as Loaded)
      else if (this.state === 2) reject(this.error)
    })
    return this.#promise
  }

  resolve(loaded: Loaded): void {
    if (this.state !== 0) return
    this.state = 1
    this.loaded = loaded
    this.#resolve?.(loaded)
    this.#flights?.release(this.#key, this)
  }

  reject(error: unknown): void {
    if (this.state !== 0) return
    this.state = 2
    this.error = error
    this.#reject?.(error)
    this.#flights?.release(this.#key, this)
  }
}
