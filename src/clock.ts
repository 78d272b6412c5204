import { performance } from 'node:perf_hooks'

/**
 * Read once: `performance.timeOrigin` is fixed for the life of the process, and reading it is a
 * call into the runtime. (The module's own `performance` binding, too: the global one is a lazy
 * getter, a function call on every read.)
 */
const TIME_ORIGIN = performance.timeOrigin

/**
 * Microseconds since the epoch, from this process's high-resolution clock. Entry birth times
 * (`createdAtUs`) and tag invalidation times are in microseconds, so a load that begins just after
 * an invalidation is not mistaken for one that began with it (at millisecond resolution, both
 * land in the same millisecond often enough to void a fresh entry).
 */
export function nowMicros(): number {
  return Math.round((TIME_ORIGIN + performance.now()) * 1_000)
}
