import type { Loaded } from './types.ts'

/**
 * One key's share of a batch load: settles the key's flight (what a concurrent `wrap` of the key
 * joins) and keeps the outcome, so the batch reads its thousands of results in one pass after the
 * run instead of through a callback per key. The flight's promise is made only when the key's
 * flight is registered; the first settlement wins, as with a promise.
 */
export class BatchFlight {
  /** 0 pending, 1 loaded, 2 failed. */
  state: 0 | 1 | 2 = 0
  loaded: Loaded | undefined
  error: unknown
  #promise: Promise<Loaded> | undefined
  #resolve: ((loaded: Loaded) => void) | undefined
  #reject: ((error: unknown) => void) | undefined

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
  }

  reject(error: unknown): void {
    if (this.state !== 0) return
    this.state = 2
    this.error = error
    this.#reject?.(error)
  }
}
