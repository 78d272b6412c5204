/** Node's timers overflow above 2^31-1 ms (24.8 days) and then fire at once; longer waits chain. */
const MAX_TIMER_MS = 2_147_483_647

export interface LongTimer {
  clear(): void
}

/** setTimeout for any delay, `Infinity` included (never fires). Unref'd: a timer never holds the process open. */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let handle: NodeJS.Timeout | undefined
  let cleared = false
  const schedule = (remaining: number) => {
    if (cleared || remaining === Number.POSITIVE_INFINITY) return
    const step = Math.min(remaining, MAX_TIMER_MS)
    handle = setTimeout(() => (remaining > step ? schedule(remaining - step) : fn()), step)
    handle.unref()
  }
  schedule(Math.max(0, ms))
  return {
    clear() {
      cleared = true
      if (handle) clearTimeout(handle)
    },
  }
}

/** Resolves after `ms` (chained past the overflow, never for Infinity). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setLongTimeout(resolve, ms))
}

/** Why `withTimeout` gave up: the operation took longer than its bound. */
export const TIMED_OUT = Symbol('timed out')

/**
 * Settles with `promise`, or with TIMED_OUT after `ms` (the timer never holds the process open).
 * The operation itself is not cancelled: a late result or rejection is ignored.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms)
    timer.unref()
  })
  promise.catch(() => {}) // a rejection after the bound is nobody's business
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}
