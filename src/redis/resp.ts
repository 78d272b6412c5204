/**
 * A command's bytes in the Redis protocol (RESP: `*<count>\r\n`, then `$<bytes>\r\n<arg>\r\n` per
 * argument), written straight into one Buffer. ioredis builds a command as a string of about
 * four concatenations per argument (a tree V8 flattens before writing), or, with a Buffer among
 * the arguments, as a string per argument copied into a Buffer at the end; for a batch's chunk
 * (a thousand keys, or a commit's two thousand and its entries) that was the largest allocation
 * of the whole batch. The bytes are exactly what ioredis writes (resp tests hold them to it).
 */

export type RespArg = string | number | Buffer

/** `args[from..to)` are key names: `keyPrefix` goes before each (as ioredis's own keyPrefix does). */
export interface KeyRange {
  from: number
  to: number
  prefix: string
}

const CRLF_0 = 13
const CRLF_1 = 10

/** The RESP bytes of `name` with `args`; numbers are written as their decimal text. */
export function encodeCommand(name: string, args: readonly RespArg[], keys?: KeyRange): Buffer {
  const prefix = keys?.prefix ?? ''
  const prefixBytes = prefix === '' ? 0 : Buffer.byteLength(prefix)
  const from = keys ? keys.from : 0
  const to = keys ? keys.to : 0
  const lengths = new Array<number>(args.length)
  let total = headerBytes(args.length + 1) + argBytes(Buffer.byteLength(name))
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as RespArg
    let length =
      typeof arg === 'string' ? Buffer.byteLength(arg) : typeof arg === 'number' ? decimal(arg).length : arg.length
    if (i >= from && i < to) length += prefixBytes
    lengths[i] = length
    total += argBytes(length)
  }
  const out = Buffer.allocUnsafe(total)
  let at = writeCount(out, 0, 42, args.length + 1)
  at = writeCount(out, at, 36, Buffer.byteLength(name))
  at += out.write(name, at, 'utf8')
  out[at++] = CRLF_0
  out[at++] = CRLF_1
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as RespArg
    at = writeCount(out, at, 36, lengths[i] as number)
    if (prefixBytes > 0 && i >= from && i < to) at += out.write(prefix, at, 'utf8')
    if (typeof arg === 'string') at += out.write(arg, at, 'utf8')
    else if (typeof arg === 'number') at += out.write(decimal(arg), at, 'latin1')
    else at += arg.copy(out, at)
    out[at++] = CRLF_0
    out[at++] = CRLF_1
  }
  return out
}

/** How ioredis writes a number argument (`String(n)`). */
function decimal(n: number): string {
  return String(n)
}

/** `<mark><count>\r\n` at `at`; returns the offset after it. */
function writeCount(out: Buffer, at: number, mark: number, count: number): number {
  out[at++] = mark
  if (count === 0) out[at++] = 48
  else {
    const digits = digitCount(count)
    for (let d = digits - 1, n = count; d >= 0; d--, n = Math.floor(n / 10)) out[at + d] = 48 + (n % 10)
    at += digits
  }
  out[at++] = CRLF_0
  out[at++] = CRLF_1
  return at
}

function digitCount(n: number): number {
  let digits = 1
  while (n >= 10) {
    n = Math.floor(n / 10)
    digits++
  }
  return digits
}

/** Bytes of `*<count>\r\n`. */
function headerBytes(count: number): number {
  return 3 + digitCount(count)
}

/** Bytes of `$<length>\r\n<arg>\r\n`. */
function argBytes(length: number): number {
  return 5 + digitCount(length) + length
}
