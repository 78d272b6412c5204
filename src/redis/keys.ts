/**
 * The Redis keys for one cache key. The whole name sits in a hash tag so the entry, its fence and
 * its lock share one Cluster slot: the first `}` after the opening `{` lies at the same offset in
 * each of them, whatever braces the key itself holds.
 */
export function redisKeys(key: string): { entry: string; fence: string; lock: string } {
  const tag = `{${key}}`
  return { entry: tag, fence: `${tag}:f`, lock: `${tag}:l` }
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
