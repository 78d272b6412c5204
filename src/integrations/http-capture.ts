import type { ServerResponse } from 'node:http'
import type { CacheLabel, HandlerRun } from './http-core.ts'
import { normalizeHeaders, parseHeaderBlock } from './http-rules.ts'

type Method = (this: ServerResponse, ...args: unknown[]) => unknown

/**
 * Copies what a handler writes to `res` into `run` while it goes out unchanged: each chunk is
 * passed on as it is written, write() returns what Node returns (so the handler sees
 * backpressure), and the copy stops and is freed the moment it passes `run.maxBytes` or the
 * headers say the response cannot be stored.
 *
 * The headers judged are the ones Node actually wrote: this wrapper of writeHead looks only after
 * calling through, so every other writeHead hook (on-headers: express-session, cookie-session,
 * csurf) has run by then, whether it was installed before or after this one.
 */
export function teeResponse(res: ServerResponse, run: HandlerRun, label: CacheLabel | undefined): void {
  const writeHead = res.writeHead as unknown as Method
  const write = res.write as unknown as Method
  const end = res.end as unknown as Method
  // A write or end wrapped before this one (compression, say) may change the bytes after we copy them.
  const wrappedBelow = Object.hasOwn(res, 'write') || Object.hasOwn(res, 'end')
  let chunks: Buffer[] | undefined = []
  let size = 0
  let judged = false
  let ended = false

  const stop = () => {
    chunks = undefined
  }
  const take = (chunk: unknown, encoding: unknown) => {
    if (!chunks || chunk === undefined || chunk === null || typeof chunk === 'function') return
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array) // a copy: the handler may reuse its buffer once written
    size += bytes.length
    if (size > run.maxBytes) {
      stop()
      run.fail('too-large')
      return
    }
    chunks.push(bytes)
  }
  const judge = () => {
    if (judged || !res.headersSent) return
    judged = true
    const headers =
      parseHeaderBlock((res as unknown as { _header?: unknown })._header) ?? normalizeHeaders(res.getHeaders())
    if (wrappedBelow && headers['content-encoding'] !== undefined) {
      stop()
      run.fail('encoded-below')
    } else if (!run.headers(res.statusCode, headers)) stop()
  }

  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (label && !this.headersSent) this.setHeader('x-cache', label)
    const out = writeHead.apply(this, args)
    judge()
    return out
  } as ServerResponse['writeHead']
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    take(args[0], args[1])
    const out = write.apply(this, args)
    judge()
    return out
  } as ServerResponse['write']
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (ended) return end.apply(this, args)
    ended = true
    take(args[0], args[1])
    const out = end.apply(this, args)
    judge()
    if (chunks) run.finish(Buffer.concat(chunks, size))
    else run.fail('too-large')
    stop()
    return out
  } as ServerResponse['end']
  // The client left (or the handler failed) before the response was complete.
  res.once('close', () => {
    if (!ended) run.fail('aborted')
    stop()
  })
}
