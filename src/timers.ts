/** Node's timers overflow above 2^31-1 ms (24.8 days) and then fire at once; so do lru-cache's TTLs. */
export const MAX_TIMER_MS = 2_147_483_647

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

/**
 * Settles as `work` does, unless `ms` pass first: then settles with `onTimeout()` (a throw from it
 * rejects). The timer is cleared as soon as either side wins, so nothing is left running. `work`
 * is not cancelled; a caller that must clean up after a late result does so on `work` itself.
 */
export function withTimeout<T, U>(work: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    // One plain timer in the common case (this wraps store commands on the hit path), with its
    // arguments passed rather than closed over; unref'd like every timer here.
    const timer =
      ms <= MAX_TIMER_MS
        ? setTimeout(expire, ms, onTimeout, resolve, reject).unref()
        : setLongTimeout(() => expire(onTimeout, resolve, reject), ms)
    work.then(
      (value) => {
        clearTimer(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimer(timer)
        reject(error)
      },
    )
  })
}

function expire<U>(onTimeout: () => U, resolve: (value: U) => void, reject: (error: unknown) => void): void {
  try {
    resolve(onTimeout())
  } catch (error) {
    reject(error)
  }
}

function clearTimer(timer: NodeJS.Timeout | LongTimer): void {
  if ('clear' in timer) timer.clear()
  else clearTimeout(timer)
}
