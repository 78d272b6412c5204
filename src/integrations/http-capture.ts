import type { ServerResponse } from 'node:http'
import type { CacheLabel, HandlerRun } from './http-core.ts'
import { type HeaderMap, normalizeHeaders, parseHeaderBlock } from './http-rules.ts'

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
  let chunks: Buffer[] | undefined = []
  let size = 0
  let judged = false
  let ended = false
  /**
   * The Content-Encoding as the body reaches this wrapper (null until it does). A wrapper installed
   * before this one (compression, say) sits below it and may encode the bytes after they are copied:
   * then the header written differs from this one, and the copy is not what went out.
   */
  let encodingHere: string | null = null
  let written: HeaderMap | undefined

  const stop = () => {
    chunks = undefined
  }
  const noteEncoding = () => {
    if (encodingHere === null) encodingHere = encodingOf(res)
  }
  const take = (chunk: unknown, encoding: unknown) => {
    noteEncoding()
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
    written = writtenHeaders(res)
    if (!run.headers(res.statusCode, written)) stop()
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
    noteEncoding()
    const out = end.apply(this, args)
    judge()
    if (chunks && String(written?.['content-encoding'] ?? '') !== (encodingHere ?? '')) run.fail('encoded-below')
    else if (chunks) run.finish(Buffer.concat(chunks, size))
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

/** The headers Node wrote (its header block), or what `res` holds when there is no block to read. */
function writtenHeaders(res: ServerResponse): HeaderMap {
  return parseHeaderBlock((res as unknown as { _header?: unknown })._header) ?? normalizeHeaders(res.getHeaders())
}

/** The Content-Encoding `res` has now: written already, or set and not yet written. */
function encodingOf(res: ServerResponse): string {
  const value = res.headersSent ? writtenHeaders(res)['content-encoding'] : res.getHeader('content-encoding')
  return value === undefined ? '' : String(value)
}
