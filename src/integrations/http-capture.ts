import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Produced } from './http-core.ts'

type Callback = (error?: Error | null) => void

/**
 * Holds back what a handler writes to `res` (status, headers, body) so the cache can store it
 * first; `flush` then sends it for real. Headers stay in `res`'s own header map, so whatever
 * the handler set (cookies included) reaches its own client; only the cache copy is filtered.
 */
export function captureResponse(res: ServerResponse, onDone: (produced: Produced) => void): { flush(): void } {
  const names = ['writeHead', 'write', 'end', 'flushHeaders'] as const
  // Own properties (some frameworks set them) are put back; prototype methods are uncovered again.
  const own = new Map(names.filter((n) => Object.hasOwn(res, n)).map((n) => [n, res[n]]))
  const chunks: Buffer[] = []
  let statusMessage: string | undefined
  let ended = false

  const toBuffer = (chunk: unknown, encoding?: unknown): Buffer =>
    Buffer.isBuffer(chunk)
      ? chunk
      : typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array)

  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    res.statusCode = status
    if (typeof rest[0] === 'string') statusMessage = rest.shift() as string
    setAll(res, rest[0] as OutgoingHttpHeaders | unknown[] | undefined)
    return this
  } as ServerResponse['writeHead']
  res.flushHeaders = () => {}
  res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    chunks.push(toBuffer(chunk, encoding))
    const done = (typeof encoding === 'function' ? encoding : cb) as Callback | undefined
    if (done) process.nextTick(done)
    return true
  } as ServerResponse['write']
  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (ended) return this
    ended = true
    const args = [chunk, encoding, cb]
    const done = args.find((a) => typeof a === 'function') as Callback | undefined
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') chunks.push(toBuffer(chunk, encoding))
    if (done) res.once('finish', () => done())
    onDone({ status: res.statusCode, headers: res.getHeaders(), body: Buffer.concat(chunks) })
    return this
  } as ServerResponse['end']

  return {
    flush() {
      for (const name of names) {
        if (own.has(name)) Object.assign(res, { [name]: own.get(name) })
        else delete (res as unknown as Record<string, unknown>)[name]
      }
      if (res.writableEnded) return
      const body = Buffer.concat(chunks)
      if (statusMessage === undefined) res.writeHead(res.statusCode)
      else res.writeHead(res.statusCode, statusMessage)
      res.end(body)
    },
  }
}

/** writeHead's headers as an object, a flat raw list or a list of pairs, moved into `res`'s header map. */
function setAll(res: ServerResponse, headers: OutgoingHttpHeaders | unknown[] | undefined): void {
  if (!headers) return
  if (!Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value)
    return
  }
  const pairs: unknown[][] = Array.isArray(headers[0])
    ? (headers as unknown[][])
    : headers.flatMap((_, i) => (i % 2 === 0 ? [[headers[i], headers[i + 1]]] : []))
  for (const [name, value] of pairs) res.setHeader(String(name), value as string)
}
