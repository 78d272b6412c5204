import { createHash } from 'node:crypto'
import { headerValue } from './http-rules.ts'

/** The parts of a request the cache looks at; node:http, Express and Fastify requests all fit. */
export interface RequestLike {
  method?: string
  url?: string
  headers: Record<string, string | string[] | undefined>
  /** 'http' or 'https' where the framework knows it (Express, Fastify). */
  protocol?: string
  socket?: unknown
}

/** `http` or `https`: the framework's word for it, else whether the socket is TLS. */
export function schemeOf(req: RequestLike): string {
  if (req.protocol === 'https' || req.protocol === 'http') return req.protocol
  return (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http'
}

/** `http:METHOD scheme://host/path?query`: the host is part of the key, so tenants never share an entry. */
export function defaultKey(req: RequestLike, url = req.url ?? '/'): string {
  const host = headerValue(req.headers, 'host').toLowerCase()
  return `http:${(req.method ?? 'GET').toUpperCase()} ${schemeOf(req)}://${host}${url}`
}

/** A request that carries credentials: its response may be personal (RFC 9111 3.5; Varnish's built-in VCL). */
export function hasCredentials(req: RequestLike): boolean {
  return req.headers.authorization !== undefined || req.headers.cookie !== undefined
}

/** The key of one Vary variant of `key`: the varying request headers' values, hashed. */
export function variantKey(key: string, names: readonly string[], req: RequestLike): string {
  const values = names.map((name) => [name, headerValue(req.headers, name)])
  return `${key} vary:${createHash('sha256').update(JSON.stringify(values)).digest('base64url')}`
}

/** corral refuses keys over 1,024 bytes; a long URL still gets a stable key. */
export function boundedKey(key: string): string {
  return Buffer.byteLength(key) > 512 ? `http:#${createHash('sha256').update(key).digest('base64url')}` : key
}
