import { decodeEntry, type Entry, encodeEntry } from '../entry.ts'
import { decodePlain, NOT_PLAIN } from '../msgpack-plain.ts'
import type { Serializer } from '../serializer.ts'
import { msgpackFormat } from '../serializer-msgpack.ts'

/**
 * The entry envelope (entry.ts) read and written for batches without the general path's per-key
 * costs: a header the loads write ([fresh, stale, delta, birth, [], flags] of whole numbers) is
 * read straight from the reply's bytes instead of through text and JSON.parse, and a batch's
 * encoded entries are written into one buffer for one script argument instead of one buffer
 * (and three copies) each. The bytes are exactly `encodeEntry`'s; anything else in the header
 * (tags, fractions, a bare counter, another version) goes through `decodeEntry`, so both read
 * every entry the same way.
 */

const C = 0x43
const ONE = 0x31
const OPEN = 0x5b
const CLOSE = 0x5d
const COMMA = 0x2c
const NEWLINE = 0x0a
const ZERO = 0x30
const NINE = 0x39
const N = 0x6e
const NEGATIVE_NULL = 1
const NEGATIVE_UNDEFINED = 2
const FAIL_SAFE = 4
const BINARY = 8

const NO_TAGS: readonly string[] = Object.freeze([])

/** Where the header scan stands: the number just read and the byte after it (-1: not the fast shape). */
let at = 0
let read = 0

/** A whole non-negative number (or `null`, read as Infinity) at `at`, followed by `end`; sets `at` past `end`. */
function wholeNumber(raw: Buffer, end: number): boolean {
  let i = at
  if (raw[i] === N) {
    if (raw[i + 1] !== 0x75 || raw[i + 2] !== 0x6c || raw[i + 3] !== 0x6c || raw[i + 4] !== end) return false
    read = Number.POSITIVE_INFINITY
    at = i + 5
    return true
  }
  const first = i
  let n = 0
  for (let c = raw[i] as number; c >= ZERO && c <= NINE; c = raw[++i] as number) n = n * 10 + (c - ZERO)
  // No digits, a leading zero before more digits (not JSON's), past exact integers, or not followed by `end`.
  if (i === first || (raw[first] === ZERO && i > first + 1) || n > Number.MAX_SAFE_INTEGER || raw[i] !== end) {
    return false
  }
  read = n
  at = i + 1
  return true
}

/** An entry as `decodeEntry` reads it, faster for the headers loads write. */
export function decodeBatchEntry(raw: Buffer, serializer: Serializer): Entry | undefined {
  if (raw[0] !== C || raw[1] !== ONE || raw[2] !== OPEN) return decodeEntry(raw, serializer)
  at = 3
  if (!wholeNumber(raw, COMMA)) return decodeEntry(raw, serializer)
  const freshUntilMs = read
  if (!wholeNumber(raw, COMMA)) return decodeEntry(raw, serializer)
  const staleUntilMs = read
  if (!wholeNumber(raw, COMMA) || read === Number.POSITIVE_INFINITY) return decodeEntry(raw, serializer)
  const deltaMs = read
  if (!wholeNumber(raw, COMMA) || read === Number.POSITIVE_INFINITY) return decodeEntry(raw, serializer)
  const createdAtUs = read
  if (raw[at] !== OPEN || raw[at + 1] !== CLOSE || raw[at + 2] !== COMMA) return decodeEntry(raw, serializer)
  at += 3
  if (!wholeNumber(raw, CLOSE) || read === Number.POSITIVE_INFINITY || raw[at] !== NEWLINE) {
    return decodeEntry(raw, serializer)
  }
  const flags = read
  const negative = (flags & (NEGATIVE_NULL | NEGATIVE_UNDEFINED)) !== 0
  let value: unknown
  if (negative) value = flags & NEGATIVE_NULL ? null : undefined
  else {
    value = flags & BINARY && msgpackFormat.has(serializer) ? decodePlain(raw, at + 1, raw.length) : NOT_PLAIN
    if (value === NOT_PLAIN) {
      try {
        value = serializer.deserialize(flags & BINARY ? raw.subarray(at + 1) : raw.toString('utf8', at + 1))
      } catch {
        return undefined // unreadable: a miss, as in decodeEntry
      }
    }
  }
  return {
    value,
    negative,
    freshUntilMs,
    staleUntilMs,
    deltaMs,
    createdAtUs,
    tags: NO_TAGS,
    failSafe: (flags & FAIL_SAFE) !== 0,
  }
}

/** A finite number as JSON.stringify writes it, else `null`. */
function json(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}

/**
 * `encodeEntry`'s header for an entry it would not store bare (a number may be a bare counter:
 * those go through `encodeEntry` itself), or undefined.
 */
function header(entry: Entry, binary: boolean): string | undefined {
  if (typeof entry.value === 'number') return undefined
  let flags = entry.failSafe ? FAIL_SAFE : 0
  if (entry.negative) flags |= entry.value === null ? NEGATIVE_NULL : NEGATIVE_UNDEFINED
  if (binary) flags |= BINARY
  const tags = entry.tags.length === 0 ? '[]' : JSON.stringify(entry.tags)
  return `C1[${json(entry.freshUntilMs)},${json(entry.staleUntilMs)},${json(Math.round(entry.deltaMs))},${json(entry.createdAtUs)},${tags},${flags}]\n`
}

/** What a batch write sends: every entry's bytes back to back, and each one's length. */
export interface PackedEntries {
  bytes: Buffer
  lengths: number[]
}

/** The encoded entries of a batch of writes in one buffer: `encodeEntry(entry, payload)` of each, back to back. */
export function packEntries(writes: readonly { entry: Entry; payload: string | Buffer }[]): PackedEntries {
  // Per write: its header (then its payload follows), or its whole encoding where the fast header does not apply.
  const parts = new Array<string | Buffer>(writes.length)
  const whole = new Array<boolean>(writes.length)
  const lengths = new Array<number>(writes.length)
  let total = 0
  for (let i = 0; i < writes.length; i++) {
    const { entry, payload } = writes[i] as { entry: Entry; payload: string | Buffer }
    const binary = typeof payload !== 'string'
    const head = header(entry, binary)
    let length: number
    if (head === undefined) {
      const encoded = encodeEntry(entry, payload)
      parts[i] = encoded
      whole[i] = true
      length = typeof encoded === 'string' ? Buffer.byteLength(encoded) : encoded.length
    } else {
      parts[i] = head
      whole[i] = false
      // Without tags a header is ASCII; a negative entry has no payload.
      length = entry.tags.length === 0 ? head.length : Buffer.byteLength(head)
      if (!entry.negative) length += binary ? payload.length : Buffer.byteLength(payload)
    }
    lengths[i] = length
    total += length
  }
  const bytes = Buffer.allocUnsafe(total)
  let offset = 0
  for (let i = 0; i < writes.length; i++) {
    const part = parts[i] as string | Buffer
    if (typeof part !== 'string') part.copy(bytes, offset)
    else if (whole[i]) bytes.write(part, offset, 'utf8')
    else {
      const { entry, payload } = writes[i] as { entry: Entry; payload: string | Buffer }
      const at = offset + bytes.write(part, offset, entry.tags.length === 0 ? 'latin1' : 'utf8')
      if (!entry.negative) {
        if (typeof payload === 'string') bytes.write(payload, at, 'utf8')
        else payload.copy(bytes, at)
      }
    }
    offset += lengths[i] as number
  }
  return { bytes, lengths }
}
