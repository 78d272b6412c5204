import { InvalidKeyError } from './errors.ts'

const MAX_KEY_BYTES = 1_024

/** Throws InvalidKeyError unless `key` is a non-empty string of at most 1,024 UTF-8 bytes. */
export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string')
    throw new InvalidKeyError(key, `must be a string, got ${key === null ? 'null' : typeof key}`)
  if (key.length === 0) throw new InvalidKeyError(key, 'must not be empty')
  // A lone surrogate has no UTF-8 form: Redis would store U+FFFD, and two keys would share an entry.
  if (!key.isWellFormed()) throw new InvalidKeyError(key, 'must be well-formed Unicode (it holds a lone surrogate)')
  // A UTF-16 unit never takes more than 3 UTF-8 bytes, so short keys need no byte count.
  if (key.length > 341 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new InvalidKeyError(key, `is ${Buffer.byteLength(key)} bytes, more than ${MAX_KEY_BYTES}`)
  }
}

/** Throws InvalidKeyError unless `tags` is an array of valid keys. */
export function assertTags(tags: unknown): asserts tags is string[] {
  if (!Array.isArray(tags)) throw new InvalidKeyError(tags, 'tags must be an array of strings')
  for (const tag of tags) assertKey(tag)
}

/** The name a key has in the store: its namespace, a colon, the key. */
export function namespaced(namespace: string, key: string): string {
  return namespace ? `${namespace}:${key}` : key
}
