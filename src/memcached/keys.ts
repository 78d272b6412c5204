import { createHash } from 'node:crypto'

/** What a Memcached item holds for one cache key: the entry, its load lock, a failed load's error, a tag's time. */
export type ItemKind = 'entry' | 'lock' | 'error' | 'tag'

const PREFIX: Record<ItemKind, string> = { entry: 'v:', lock: 'l:', error: 'e:', tag: 't:' }

/** The item holding the store's tag clock (see clock.ts); no cache key maps to it. */
export const CLOCK_KEY = 'k:clock'

/** Memcached keys are at most 250 bytes; the longest kind prefix takes 2 of them. */
const MAX_PLAIN_BYTES = 240

/** Printable ASCII without space: what the text protocol carries unchanged. `#` marks a hashed name. */
const PLAIN = /^[\x21-\x22\x24-\x7e][\x21-\x7e]*$/

/**
 * The Memcached key of one cache key's item. Keys the text protocol can carry as they are (printable
 * ASCII, no space, at most 240 bytes) keep their name, so they can be read with any client; the
 * rest (longer, spaces, control characters, non-ASCII) become `#` and the SHA-256 of the key, which
 * no plain key can start with. Each kind has its own prefix, so an entry never meets a lock.
 */
export function itemKey(kind: ItemKind, key: string): string {
  const name =
    key.length <= MAX_PLAIN_BYTES && PLAIN.test(key) ? key : `#${createHash('sha256').update(key).digest('base64url')}`
  return PREFIX[kind] + name
}
