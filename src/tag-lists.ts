/** Whether two tag lists hold the same tags in the same order. */
export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * `tags.map(name)`, remembered for the last tag list asked: every tagged hit maps its tags (to
 * namespaced tags in the engine, to Redis key names in the store), and a busy path asks for the
 * same few lists again and again. The last list's contents are compared, not just its identity,
 * so a caller that reuses one array and changes it gets the names of what it holds now. A hit
 * returns the same frozen array, so a cache of names downstream (keyed the same way) hits too.
 */
export function lastTagList(name: (tag: string) => string): (tags: readonly string[]) => readonly string[] {
  let lastTags: readonly string[] = Object.freeze([])
  let lastNames: readonly string[] = lastTags
  return (tags) => {
    if (sameTags(tags, lastTags)) return lastNames
    lastNames = Object.freeze(tags.map(name))
    // A copy: the caller may change its own array later.
    lastTags = Object.freeze(tags.slice())
    return lastNames
  }
}
