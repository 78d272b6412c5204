/**
 * What a shared cache may store (RFC 9111 sections 3 and 4.2.2): the rules are pure functions of
 * a response's status and final headers, so every adapter judges the same way.
 */

/** Final response headers, names lower-cased. */
export type HeaderMap = Record<string, string | string[]>

/**
 * Status codes a cache may store without explicit freshness (RFC 9111 4.2.2, "heuristically
 * cacheable"), less 206: a partial response answers one Range request, and ranges are passed through.
 */
export const STORABLE_STATUS: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])

/** Why a response was not stored; `undefined` when it may be. */
export type NotStoredReason =
  | 'status'
  | 'set-cookie'
  | 'private'
  | 'no-store'
  | 'no-cache'
  | 'vary-star'
  | 'too-large'
  | 'streamed'
  | 'encoded-below'
  | 'aborted'

/** The verdict on a response's final headers. */
export interface Verdict {
  reason: NotStoredReason | undefined
  /** Marked `public` or `s-maxage`: may also answer requests that carry credentials (RFC 9111 3.5). */
  shared: boolean
  /** Request headers named by `Vary`, lower-cased, in order. */
  vary: string[]
}

/** Judges a response by its status and the headers actually written. */
export function judgeHeaders(status: number, headers: HeaderMap): Verdict {
  const directives = cacheControl(headers['cache-control'])
  const vary = varyNames(headers.vary)
  const shared = directives.has('public') || directives.has('s-maxage')
  const verdict = (reason: NotStoredReason | undefined): Verdict => ({ reason, shared, vary })
  if (!STORABLE_STATUS.has(status)) return verdict('status')
  if (headers['set-cookie'] !== undefined) return verdict('set-cookie')
  for (const word of ['private', 'no-store', 'no-cache'] as const) if (directives.has(word)) return verdict(word)
  if (vary.includes('*')) return verdict('vary-star')
  return verdict(undefined)
}

/** The directive names of a Cache-Control header, lower-cased (arguments dropped). */
export function cacheControl(value: string | string[] | undefined): Set<string> {
  const names = new Set<string>()
  for (const part of list(value)) {
    const name = part.split('=')[0]?.trim().toLowerCase()
    if (name) names.add(name)
  }
  return names
}

/** The header names of a Vary header, lower-cased; `*` stays `*`. */
export function varyNames(value: string | string[] | undefined): string[] {
  return [...new Set(list(value).map((name) => name.trim().toLowerCase()))].filter((name) => name !== '')
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value.join(',') : String(value)).split(',')
}

/** A request header's value as one string: repeated fields joined as HTTP joins them. */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : (value ?? '')
}

/** Headers as a plain map with lower-cased names and string values (numbers become strings). */
export function normalizeHeaders(headers: Record<string, number | string | string[] | undefined>): HeaderMap {
  const out: HeaderMap = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value)
  }
  return out
}

/**
 * The header block Node actually wrote (`res._header`), parsed: the truth after every writeHead
 * hook has run, whichever way the handler passed its headers. Undefined when it is not there.
 */
export function parseHeaderBlock(block: unknown): HeaderMap | undefined {
  if (typeof block !== 'string') return undefined
  const out: HeaderMap = {}
  for (const line of block.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const prior = out[name]
    out[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value]
  }
  return out
}
