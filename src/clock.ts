/**
 * Microseconds since the epoch, from this process's high-resolution clock. Entry birth times
 * (`createdAtUs`) and tag invalidation times are in microseconds, so a load that begins just after
 * an invalidation is not mistaken for one that began with it (at millisecond resolution, both
 * land in the same millisecond often enough to void a fresh entry).
 */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1_000)
}
