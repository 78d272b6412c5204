import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http'
import type { AddressInfo } from 'node:net'

/** A node:http server on a free port of 127.0.0.1, and its base URL. */
export async function listen(
  listener: RequestListener,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export interface Reply {
  status: number
  xCache: string | null
  headers: Headers
  body: string
}

/** One GET (or other method) and its body, read in full. */
export async function request(url: string, init?: RequestInit): Promise<Reply> {
  const res = await fetch(url, init)
  return { status: res.status, xCache: res.headers.get('x-cache'), headers: res.headers, body: await res.text() }
}

/** `n` requests at once. */
export function burst(n: number, url: string | ((i: number) => string), init?: RequestInit): Promise<Reply[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => request(typeof url === 'string' ? url : url(i), init)))
}

/** How many replies carry each x-cache label. */
export function labels(replies: Reply[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of replies) counts[r.xCache ?? 'none'] = (counts[r.xCache ?? 'none'] ?? 0) + 1
  return counts
}

export interface RawReply {
  status: number
  xCache: string | undefined
  headers: IncomingHttpHeaders
  /** Every Set-Cookie, as name=value (attributes dropped). */
  cookies: string[]
  body: string
  /** The body as received (not decoded). */
  bytes: Buffer
}

/** One request through node:http, which (unlike fetch) lets a test set `Host`. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          xCache: res.headers['x-cache'] as string | undefined,
          headers: res.headers,
          cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0] as string),
          body: Buffer.concat(chunks).toString('utf8'),
          bytes: Buffer.concat(chunks),
        }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
