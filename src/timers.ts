import { performance } from 'node:perf_hooks'

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
    // One plain timer in the common case (this wraps the soft timeout on the hit path), with its
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

/**
 * A timer that fired this much later than asked (ms / STALL_SHARE) found the event loop blocked:
 * the wait it timed was mostly time this process could not listen.
 */
const STALL_SHARE = 2

/**
 * `withTimeout` for a store command, whose timeout measures the store, not the caller's patience:
 * the clock counts time the process could listen, not time it spent blocked on its own work. When
 * the timer fires, answers already received are read first (the verdict waits one turn of the
 * event loop, past its I/O phase), and a timer that fired half of `ms` late or more (the loop was
 * blocked) gives `work` the whole `ms` once more. A batch of 100,000 keys or a long garbage
 * collection therefore never turns a reply that arrived meanwhile into a timeout; a store that is
 * really gone costs at most twice `ms` plus the stall. Latency budgets (soft and hard timeouts,
 * lock waits) keep `withTimeout`'s wall clock.
 */
export function withStoreTimeout<T, U>(work: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    // One state object and module-level handlers: this wraps every command of a client passed in.
    const race: StoreRace<T | U> = {
      settled: false,
      extended: false,
      due: performance.now() + ms,
      ms,
      onTimeout,
      resolve,
      reject,
      timer: undefined,
    }
    race.timer =
      ms <= MAX_TIMER_MS
        ? setTimeout(storeTimerFired, ms, race).unref()
        : setLongTimeout(() => storeTimerFired(race), ms)
    work.then(
      (value) => {
        race.settled = true
        clearTimer(race.timer as NodeJS.Timeout | LongTimer)
        resolve(value)
      },
      (error: unknown) => {
        race.settled = true
        clearTimer(race.timer as NodeJS.Timeout | LongTimer)
        reject(error)
      },
    )
  })
}

interface StoreRace<V> {
  settled: boolean
  /** The one extra wait after a stall was given. */
  extended: boolean
  /** When the current wait ends (performance.now() time). */
  due: number
  ms: number
  onTimeout: () => unknown
  resolve: (value: V) => void
  reject: (error: unknown) => void
  timer: NodeJS.Timeout | LongTimer | undefined
}

function storeTimerFired<V>(race: StoreRace<V>): void {
  if (race.settled) return
  const now = performance.now()
  if (!race.extended && now - race.due >= race.ms / STALL_SHARE) {
    race.extended = true
    race.due = now + race.ms
    race.timer = arm(() => storeTimerFired(race), race.ms)
    return
  }
  setImmediate(storeVerdict, race)
}

function storeVerdict<V>(race: StoreRace<V>): void {
  if (race.settled) return
  race.settled = true
  expire(race.onTimeout as () => V, race.resolve, race.reject)
}

function expire<U>(onTimeout: () => U, resolve: (value: U) => void, reject: (error: unknown) => void): void {
  try {
    resolve(onTimeout())
  } catch (error) {
    reject(error)
  }
}

/** An unref'd timer for any delay (chained past the overflow). */
function arm(fn: () => void, ms: number): NodeJS.Timeout | LongTimer {
  return ms <= MAX_TIMER_MS ? setTimeout(fn, ms).unref() : setLongTimeout(fn, ms)
}

function clearTimer(timer: NodeJS.Timeout | LongTimer): void {
  if ('clear' in timer) timer.clear()
  else clearTimeout(timer)
}
