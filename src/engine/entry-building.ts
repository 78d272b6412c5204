import type { Entry } from '../entry.ts'
import { assertTags } from '../keys.ts'
import type { Policy } from '../options.ts'
import { type Serializer, serializeOrThrow } from '../serializer.ts'

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
 * failing origin is not called by every request. Undefined if the value cannot be serialized.
 */
export function failSafeEntry(stale: Entry, policy: Policy, serializer: Serializer): BuiltEntry | undefined {
  const freshUntilMs = Date.now() + policy.failSafeThrottleMs
  const entry: Entry = {
    ...stale,
    freshUntilMs,
    staleUntilMs: Math.max(stale.staleUntilMs, freshUntilMs),
    failSafe: true,
  }
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

function jittered(ttl: number, jitter: number): number {
  if (jitter === 0 || !Number.isFinite(ttl)) return ttl
  return Math.round(ttl * (1 + jitter * (2 * Math.random() - 1)))
}

/** The tags a loader set through `ctx.setTags`, checked like the ones given to `wrap`. */
export function validTags(tags: unknown): string[] {
  assertTags(tags)
  return tags
}
