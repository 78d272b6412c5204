import type { Entry } from '../entry.ts'
import type { Begun } from '../stores/store.ts'
import { type EngineParts, storeFailed } from './parts.ts'

/** True when the store knows every tag time of `entry` in memory and none voids it. */
export function validLocally(parts: EngineParts, entry: Entry): boolean {
  const times = parts.store.peekTagTimes?.(entry.tags.map(parts.tagPrefix))
  return times?.every((time) => time < entry.createdAtUs) ?? false
}

/**
 * A tag-invalidated entry is a miss; with `invalidateAsStale` it is a stale value instead (served
 * within its grace while one refresh runs), since users disagree on this (bentocache#71).
 */
export function afterInvalidation(parts: EngineParts, entry: Entry): Entry | undefined {
  return parts.invalidateAsStale ? { ...entry, freshUntilMs: 0, failSafe: false } : undefined
}

/** For each entry, whether a tag it carries was invalidated at or after the load that made it began. */
export async function voidedByTags(parts: EngineParts, entries: readonly (Entry | undefined)[]): Promise<boolean[]> {
  const only = entries.length === 1 ? entries[0] : undefined
  if (only) {
    // One entry (every wrap): no bookkeeping beyond the tag times themselves.
    try {
      const times = await parts.store.tagTimes(only.tags.map(parts.tagPrefix))
      return [times.some((time) => time >= only.createdAtUs)]
    } catch (error) {
      storeFailed(parts, 'tagTimes', error)
      return [true]
    }
  }
  const tags = [...new Set(entries.flatMap((e) => e?.tags ?? []))]
  if (tags.length === 0) return entries.map(() => false)
  let times: number[]
  try {
    times = await parts.store.tagTimes(tags.map(parts.tagPrefix))
  } catch (error) {
    // Tags cannot be checked, so no tagged entry can be trusted.
    storeFailed(parts, 'tagTimes', error)
    return entries.map((e) => (e?.tags.length ?? 0) > 0)
  }
  const at = new Map(tags.map((tag, i) => [tag, times[i] ?? 0]))
  return entries.map((e) => !!e && e.tags.some((tag) => (at.get(tag) ?? 0) >= e.createdAtUs))
}

/** The store's entry for a key, or undefined when absent, unreadable, or voided by a tag. */
export async function readValid(parts: EngineParts, storeKey: string): Promise<Entry | undefined> {
  let entry: Entry | undefined
  try {
    entry = await parts.store.get(storeKey)
  } catch (error) {
    storeFailed(parts, 'get', error)
    return undefined
  }
  if (!entry || entry.tags.length === 0) return entry
  return (await voidedByTags(parts, [entry]))[0] ? afterInvalidation(parts, entry) : entry
}

/** Begun reads with each entry checked against its tags: voided entries read as absent (or stale). */
export async function validBegun(parts: EngineParts, begun: readonly Begun[]): Promise<Begun[]> {
  const entries = begun.map((b) => b.entry)
  if (!entries.some((e) => e && e.tags.length > 0)) return [...begun]
  const voided = await voidedByTags(parts, entries)
  return begun.map((b, i) => (voided[i] && b.entry ? { ...b, entry: afterInvalidation(parts, b.entry) } : b))
}
