import { type Entry, entryWith } from '../entry.ts'
import { assertTags } from '../keys.ts'
import type { Policy } from '../options.ts'
import { type Serializer, serializeOrThrow } from '../serializer.ts'
import { ownCopy } from '../stores/plain-copy.ts'
import type { Store } from '../stores/store.ts'

export interface BuiltEntry {
  /** Its `value` is the cache's own copy (plain-copy.ts): what the store holds and every reader gets. */
  entry: Entry
  /** The serializer's output, for a store that keeps bytes; '' for one that keeps only values (`Store.keeps`). */
  payload: string | Buffer
  /** How long the store keeps it: to the end of grace. */
  storeTtlMs: number
}

/** Where a built entry goes: the cache's serializer, and its store (which may keep values, bytes or both). */
export interface EntryTarget {
  serializer: Serializer
  store: Store
  /** False when nobody is handed the value (`set`): a store that keeps only bytes then needs no copy. */
  served?: boolean
}

/**
 * The entry to store for a loaded value, or undefined when the policy says not to cache it.
 * A value the serializer refuses throws its SerializationError here, before anything is written,
 * whatever the store keeps (`Store.keeps`).
 */
export function buildEntry(
  value: unknown,
  policy: Policy,
  tags: readonly string[],
  createdAtUs: number,
  deltaMs: number,
  ttlOverride: number | undefined,
  target: EntryTarget,
): BuiltEntry | undefined {
  const negative = value === null || value === undefined
  const baseTtl = ttlOverride ?? (negative ? policy.negativeTtlMs : policy.ttlMs)
  const ttl = jittered(baseTtl, policy.jitter)
  if (ttl <= 0 && policy.graceMs <= 0) return undefined
  const held = negative
    ? { value, payload: '' }
    : ownCopy(
        target.serializer,
        value,
        target.served !== false || (target.store.keeps ?? 'bytes') !== 'bytes',
        target.store.keeps !== 'values',
      )
  const now = Date.now()
  const freshUntilMs = now + ttl
  const staleUntilMs = freshUntilMs + policy.graceMs
  // Built as the store keeps it where the store says how (one entry object per write).
  const entry: Entry = target.store.hold
    ? target.store.hold(held.value, negative, freshUntilMs, staleUntilMs, deltaMs, createdAtUs, tags, false)
    : { value: held.value, negative, freshUntilMs, staleUntilMs, deltaMs, createdAtUs, tags, failSafe: false }
  return { entry, payload: held.payload, storeTtlMs: staleUntilMs - now }
}

/**
 * A stale value written back as fresh for the fail-safe throttle after its reload failed, so a
 * failing origin is not called by every request; never past the end of its grace (ttl + grace),
 * which the throttle cannot extend. Undefined if the value cannot be serialized or its grace is over.
 */
export function failSafeEntry(stale: Entry, policy: Policy, target: EntryTarget): BuiltEntry | undefined {
  const freshUntilMs = Math.min(Date.now() + policy.failSafeThrottleMs, stale.staleUntilMs)
  if (freshUntilMs <= Date.now()) return undefined
  // The stale value is already the cache's own (read from a store): no copy is made of it.
  const entry = entryWith(stale, { freshUntilMs, failSafe: true })
  try {
    const payload =
      stale.negative || target.store.keeps === 'values' ? '' : serializeOrThrow(target.serializer, stale.value)
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
 * it (the cache's own copy, equal to the serializer's round trip), not the loader's own object.
 * In-process stores hold this same object; readers share it (cached values are read-only).
 */
export function servedValue(built: BuiltEntry): unknown {
  return built.entry.value
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
