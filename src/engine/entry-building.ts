import type { Entry } from '../entry.ts'
import { assertTags } from '../keys.ts'
import type { Policy } from '../options.ts'
import { roundTrip, type Serializer, serializeOrThrow } from '../serializer.ts'

export interface BuiltEntry {
  entry: Entry
  payload: string | Buffer
  /** How long the store keeps it: to the end of grace. */
  storeTtlMs: number
}

/** The entry to store for a loaded value, or undefined when the policy says not to cache it. */
export function buildEntry(
  value: unknown,
  policy: Policy,
  tags: readonly string[],
  createdAtUs: number,
  deltaMs: number,
  ttlOverride: number | undefined,
  serializer: Serializer,
): BuiltEntry | undefined {
  const negative = value === null || value === undefined
  const baseTtl = ttlOverride ?? (negative ? policy.negativeTtlMs : policy.ttlMs)
  const ttl = jittered(baseTtl, policy.jitter)
  if (ttl <= 0 && policy.graceMs <= 0) return undefined
  const payload = negative ? '' : serializeOrThrow(serializer, value)
  const now = Date.now()
  const freshUntilMs = now + ttl
  const staleUntilMs = freshUntilMs + policy.graceMs
  const entry: Entry = {
    value,
    negative,
    freshUntilMs,
    staleUntilMs,
    deltaMs,
    createdAtUs,
    tags,
    failSafe: false,
  }
  return { entry, payload, storeTtlMs: staleUntilMs - now }
}

/**
 * A stale value written back as fresh for the fail-safe throttle after its reload failed, so a
 * failing origin is not called by every request; never past the end of its grace (ttl + grace),
 * which the throttle cannot extend. Undefined if the value cannot be serialized or its grace is over.
 */
export function failSafeEntry(stale: Entry, policy: Policy, serializer: Serializer): BuiltEntry | undefined {
  const freshUntilMs = Math.min(Date.now() + policy.failSafeThrottleMs, stale.staleUntilMs)
  if (freshUntilMs <= Date.now()) return undefined
  const entry: Entry = { ...stale, freshUntilMs, failSafe: true }
  try {
    const payload = stale.negative ? '' : serializeOrThrow(serializer, stale.value)
    return { entry, payload, storeTtlMs: entry.staleUntilMs - Date.now() }
  } catch {
    return undefined
  }
}

/** A graced value that may stand in for a failed load begun at `startedAt`. */
export function graced(entry: Entry | undefined, startedAt: number): Entry | undefined {
  return entry && startedAt < entry.staleUntilMs ? entry : undefined
}

/**
 * Whether `entry` may stand in for a failed load at `now`: within its grace (past ttl, before
 * ttl + grace), or still fresh when the policy grants grace at all. A refresh of a fresh value
 * with no grace gets the loader's error instead.
 */
export function mayStandIn(entry: Entry | undefined, now: number, policy: Policy): entry is Entry {
  return entry !== undefined && now < entry.staleUntilMs && (now >= entry.freshUntilMs || policy.graceMs > 0)
}

/**
 * What the caller whose loader produced `built` is handed: the value as every later hit will read
 * it (the serializer's round trip), not the loader's own object.
 */
export function servedValue(built: BuiltEntry, serializer: Serializer): unknown {
  return built.entry.negative ? built.entry.value : roundTrip(serializer, built.payload)
}

function jittered(ttl: number, jitter: number): number {
  if (jitter === 0 || !Number.isFinite(ttl)) return ttl
  return Math.round(ttl * (1 + jitter * (2 * Math.random() - 1)))
}

/** The tags a loader set through `ctx.setTags`, checked like the ones given to `wrap`. */
export function validTags(tags: unknown): string[] {
  assertTags(tags)
  return tags
}
