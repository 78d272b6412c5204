/**
 * The Redis keys for one cache key. The whole name sits in a hash tag so the entry, its fence and
 * its lock share one Cluster slot: the first `}` after the opening `{` lies at the same offset in
 * each of them, whatever braces the key itself holds.
 */
export function redisKeys(key: string): { entry: string; fence: string; lock: string } {
  const tag = entryKey(key)
  return { entry: tag, fence: fenceKey(tag), lock: `${tag}:l` }
}

/** A key's entry name alone (batches name thousands of keys and need no fence or lock names for most). */
export function entryKey(key: string): string {
  return `{${key}}`
}

/** The fence's name beside the entry named `entry` (see redisKeys). */
export function fenceKey(entry: string): string {
  return `${entry}:f`
}

/** A tag's invalidation time lives in its own slot; its suffix keeps it apart from every entry key. */
export function tagKey(tag: string): string {
  return `{${tag}}:tag`
}

/**
 * A namespace's write generation. It starts like the namespace's entry keys (`{ns:`, so an ACL
 * key pattern for the namespace covers it) and no entry key can be `{ns:}`; its suffix keeps it
 * apart from every fence, lock and tag key.
 */
export function generationKey(namespace: string): string {
  return `{${namespace ? `${namespace}:` : ''}}:gen`
}
