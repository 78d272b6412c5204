import { PendingKeys } from './pending-keys.ts'

/**
 * In-process singleflight (after Go's golang.org/x/sync/singleflight): while a call for a key is
 * in flight, every other caller of that key gets the same promise, value or error alike. A key
 * holds a call only while it runs (pending-keys.ts keeps the finished key's slot for a while).
 */
export class Flight<T> {
  readonly #calls = new PendingKeys<Promise<T> | LazyCall<T>>()

  /** Calls in flight now. */
  get size(): number {
    return this.#calls.size
  }

  has(key: string): boolean {
    return this.#calls.has(key)
  }

  /**
   * Runs `fn` for `key` unless a call for it is already in flight, in which case that call's
   * promise is returned and `shared` is true. A synchronous throw from `fn` rejects the promise.
   */
  do(key: string, fn: () => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const current = this.#calls.get(key)
    if (current) return { promise: current instanceof Promise ? current : current.promise(), shared: true }
    let promise: Promise<T>
    try {
      promise = fn()
    } catch (error) {
      promise = Promise.reject(error)
    }
    this.#calls.set(key, promise)
    // One function for both outcomes: a miss on a memory store counts every allocation.
    const settle = this.#settle.bind(this, key, promise)
    promise.then(settle, settle)
    return { promise, shared: false }
  }

  #settle(key: string, promise: Promise<T>): void {
    this.#calls.deleteIf(key, promise)
  }

  /**
   * Registers `call` for `key` unless a call for it is in flight, whose promise is returned then
   * (undefined: registered). The caller ends the registration with `release` once the call has
   * settled. For a batch, which registers thousands of keys that hardly anyone joins: no promise
   * or reaction is made for a key until someone joins it.
   */
  claim(key: string, call: LazyCall<T>): Promise<T> | undefined {
    const current = this.#calls.get(key)
    if (current) return current instanceof Promise ? current : current.promise()
    this.#calls.set(key, call)
    return undefined
  }

  /** Ends `call`'s registration for `key` (a newer call may hold the key: that one stays). */
  release(key: string, call: LazyCall<T>): void {
    this.#calls.deleteIf(key, call)
  }
}

/** A call that makes its promise only when asked: the first joiner asks. */
export interface LazyCall<T> {
  promise(): Promise<T>
}
