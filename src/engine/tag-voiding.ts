import { type Entry, entryWith } from '../entry.ts'
import type { Begun } from '../stores/store.ts'
import { type EngineParts, storeFailed } from './parts.ts'

/** True when the store knows every tag time of `entry` in memory and none voids it. */
export function validLocally(parts: EngineParts, entry: Entry): boolean {
  const times = parts.store.peekTagTimes?.(parts.storeTags(entry.tags))
  return times?.every((time) => time < entry.createdAtUs) ?? false
}

/**
 * A tag-invalidated entry is a miss; with `invalidateAsStale` it is a stale value instead (served
 * within its grace while one refresh runs), since users disagree on this (bentocache#71).
 */
export function afterInvalidation(parts: EngineParts, entry: Entry): Entry | undefined {
  return parts.invalidateAsStale ? entryWith(entry, { freshUntilMs: 0, failSafe: false }) : undefined
}

/** For each entry, whether a tag it carries was invalidated at or after the load that made it began. */
export async function voidedByTags(parts: EngineParts, entries: readonly (Entry | undefined)[]): Promise<boolean[]> {
  const only = entries.length === 1 ? entries[0] : undefined
  if (only) {
    // One entry (every wrap): no bookkeeping beyond the tag times themselves.
    try {
      const times = await parts.store.tagTimes(parts.storeTags(only.tags))
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
    times = await parts.store.tagTimes(parts.storeTags(tags))
  } catch (error) {
    // Tags cannot be checked, so no tagged entry can be trusted.
    storeFailed(parts, 'tagTimes', error)
    return entries.map((e) => (e?.tags.length ?? 0) > 0)
  }
  const at = new Map(tags.map((tag, i) => [tag, times[i] ?? 0]))
  return entries.map((e) => !!e && e.tags.some((tag) => (at.get(tag) ?? 0) >= e.createdAtUs))
}

/** No tags: a shared constant, so a call without them allocates nothing. */
export const NO_TAGS: readonly string[] = Object.freeze([])

/**
 * The store's entry for a key, or undefined when absent, unreadable, or voided by a tag. With
 * `tags` (the ones the caller stores it with), their times are read in the same round trip as
 * the entry when the store can; tags the entry carries beyond those cost one more read.
 */
export async function readValid(
  parts: EngineParts,
  storeKey: string,
  tags: readonly string[] = NO_TAGS,
): Promise<Entry | undefined> {
  let entry: Entry | undefined
  let times: readonly number[] | undefined
  try {
    if (tags.length > 0 && parts.store.getWithTagTimes) {
      const read = await parts.store.getWithTagTimes(storeKey, parts.storeTags(tags))
      entry = read.entry
      times = read.tagTimesUs
    } else entry = await parts.store.get(storeKey)
  } catch (error) {
    storeFailed(parts, 'get', error)
    return undefined
  }
  if (!entry || entry.tags.length === 0) return entry
  const voided = voidedByTimes(entry, tags, times) ?? (await voidedByTags(parts, [entry]))[0]
  return voided ? afterInvalidation(parts, entry) : entry
}

/**
 * Whether `times` (read for `tags`) void `entry`; undefined when the entry carries a tag that was
 * not asked for (or no times were read), so its times must be read apart.
 */
export function voidedByTimes(
  entry: Entry,
  tags: readonly string[],
  times: readonly number[] | undefined,
): boolean | undefined {
  if (!times) return undefined
  let voided = false
  // Indexed: a for-of over the entry's (frozen) tags allocated an iterator on every tagged hit.
  const own = entry.tags
  for (let t = 0; t < own.length; t++) {
    const i = tags.indexOf(own[t] as string)
    if (i < 0) return undefined
    if ((times[i] ?? 0) >= entry.createdAtUs) voided = true
  }
  return voided
}

/**
 * Begun reads with each entry checked against its tags: voided entries read as absent (or stale).
 * `tags`: those a single begin was asked to read with the entry (their times are in `tagTimesUs`).
 */
export async function validBegun(
  parts: EngineParts,
  begun: readonly Begun[],
  tags: readonly string[] = NO_TAGS,
): Promise<Begun[]> {
  const entries = begun.map((b) => b.entry)
  if (!entries.some((e) => e && e.tags.length > 0)) return [...begun]
  const only = begun.length === 1 ? begun[0] : undefined
  const known = only?.entry ? voidedByTimes(only.entry, tags, only.tagTimesUs) : undefined
  const voided = known === undefined ? await voidedByTags(parts, entries) : [known]
  return begun.map((b, i) => (voided[i] && b.entry ? { ...b, entry: afterInvalidation(parts, b.entry) } : b))
}
