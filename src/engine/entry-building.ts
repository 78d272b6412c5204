import type { Entry } from '../entry.ts'
import { assertTags } from '../keys.ts'
import type { Policy } from '../options.ts'
import { type Serializer, serializeOrThrow } from '../serializer.ts'

export interface BuiltEntry {
  entry: Entry
  payload: string | Buffer
  /** How long the store keeps it: to the end of grace. */
  storeTtl: number
}

/** The entry to store for a loaded value, or undefined when the policy says not to cache it. */
export function buildEntry(
  value: unknown,
  policy: Policy,
  tags: readonly string[],
  createdAt: number,
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
  const freshUntil = now + ttl
  const staleUntil = freshUntil + policy.graceMs
  const entry: Entry = {
    value,
    negative,
    freshUntil,
    staleUntil,
    delta: deltaMs,
    createdAt,
    tags,
    failSafe: false,
  }
  return { entry, payload, storeTtl: staleUntil - now }
}

/**
 * A stale value written back as fresh for the fail-safe throttle after its reload failed, so a
 * failing origin is not called by every request. Undefined if the value cannot be serialized.
 */
export function failSafeEntry(stale: Entry, policy: Policy, serializer: Serializer): BuiltEntry | undefined {
  const freshUntil = Date.now() + policy.failSafeThrottleMs
  const entry: Entry = { ...stale, freshUntil, staleUntil: Math.max(stale.staleUntil, freshUntil), failSafe: true }
  try {
    const payload = stale.negative ? '' : serializeOrThrow(serializer, stale.value)
    return { entry, payload, storeTtl: entry.staleUntil - Date.now() }
  } catch {
    return undefined
  }
}

/** A graced value that may stand in for a failed load begun at `startedAt`. */
export function graced(entry: Entry | undefined, startedAt: number): Entry | undefined {
  return entry && startedAt < entry.staleUntil ? entry : undefined
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
