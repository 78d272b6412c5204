/**
 * Plain data in the default serializer's MessagePack (msgpackr with records), decoded straight
 * from the bytes for batches (reads of thousands of entries, and the round trip of thousands of
 * loaded values): per-message record definitions make msgpackr build a structure reader for
 * every entry, which costs a batch of small values more than the rest of its decoding. Only what msgpackr decodes to plain data is read here: nil, booleans, integers
 * up to 32 bits, doubles, ASCII strings, arrays, and records (objects) defined in the message
 * with ASCII keys. Anything else (maps, binary, 64-bit integers, float32, other extensions such
 * as Date, undefined or the structured clone's references, non-ASCII text, trailing bytes) is
 * NOT_PLAIN, and the caller asks the serializer itself, so every value reads exactly as
 * msgpackr reads it.
 */

import type { Serializer } from './serializer.ts'
import { msgpackFormat } from './serializer-msgpack.ts'

/** What `decodePlain` answers when the message holds something only msgpackr should read. */
export const NOT_PLAIN: unique symbol = Symbol('not plain')

let src: Buffer
let pos = 0
let end = 0
let plain = true
/** Record structures defined in the current message, by id (0..63). */
let structures: (string[] | undefined)[] = []

/** The message in `raw` from `start` to `end`, or NOT_PLAIN. */
export function decodePlain(raw: Buffer, start: number, stop: number): unknown {
  src = raw
  pos = start
  end = stop
  plain = true
  if (structures.length > 0) structures = []
  const value = read()
  return plain && pos === end ? value : NOT_PLAIN
}

function fail(): undefined {
  plain = false
  pos = end
  return undefined
}

function read(): unknown {
  if (pos >= end) return fail()
  const token = src[pos++] as number
  if (token < 0x40) return token
  if (token < 0x80) {
    const structure = structures[token & 0x3f]
    return structure ? readRecord(structure) : token
  }
  if (token < 0x90) return fail() // fixmap
  if (token < 0xa0) return readArray(token & 0x0f)
  if (token < 0xc0) return readString(token & 0x1f)
  if (token >= 0xe0) return token - 0x100
  switch (token) {
    case 0xc0:
      return null
    case 0xc2:
      return false
    case 0xc3:
      return true
    case 0xcb: {
      if (pos + 8 > end) return fail()
      const n = src.readDoubleBE(pos)
      pos += 8
      return n
    }
    case 0xcc:
      return pos < end ? (src[pos++] as number) : fail()
    case 0xcd: {
      if (pos + 2 > end) return fail()
      const n = src.readUInt16BE(pos)
      pos += 2
      return n
    }
    case 0xce: {
      if (pos + 4 > end) return fail()
      const n = src.readUInt32BE(pos)
      pos += 4
      return n
    }
    case 0xd0:
      return pos < end ? src.readInt8(pos++) : fail()
    case 0xd1: {
      if (pos + 2 > end) return fail()
      const n = src.readInt16BE(pos)
      pos += 2
      return n
    }
    case 0xd2: {
      if (pos + 4 > end) return fail()
      const n = src.readInt32BE(pos)
      pos += 4
      return n
    }
    case 0xd4:
      // fixext 1 of type "r": a record definition with a one-byte id, then the record's values.
      if (pos + 2 > end || src[pos] !== 0x72) return fail()
      pos += 2
      return defineRecord((src[pos - 1] as number) & 0x3f)
    case 0xd9:
      return pos < end ? readString(src[pos++] as number) : fail()
    case 0xda: {
      if (pos + 2 > end) return fail()
      const length = src.readUInt16BE(pos)
      pos += 2
      return readString(length)
    }
    case 0xdb: {
      if (pos + 4 > end) return fail()
      const length = src.readUInt32BE(pos)
      pos += 4
      return readString(length)
    }
    case 0xdc: {
      if (pos + 2 > end) return fail()
      const length = src.readUInt16BE(pos)
      pos += 2
      return readArray(length)
    }
    case 0xdd: {
      if (pos + 4 > end) return fail()
      const length = src.readUInt32BE(pos)
      pos += 4
      return readArray(length)
    }
    default:
      return fail()
  }
}

function readString(length: number): string | undefined {
  const stop = pos + length
  if (stop > end) return fail()
  for (let i = pos; i < stop; i++) if ((src[i] as number) >= 0x80) return fail()
  let text: string
  if (length <= 16) {
    text = ''
    for (let i = pos; i < stop; i++) text += String.fromCharCode(src[i] as number)
  } else text = (src as LatinSlice).latin1Slice(pos, stop)
  pos = stop
  return text
}

function readArray(length: number): unknown[] | undefined {
  if (length > end - pos) return fail() // every element takes a byte at least
  const array = new Array<unknown>(length)
  for (let i = 0; i < length && plain; i++) array[i] = read()
  return plain ? array : undefined
}

/** The last definition read: its bytes, keys and reader (rows of a batch mostly repeat it). */
let lastDefinition = Buffer.alloc(0)
let lastKeys: string[] = []

/** The keys (an array of strings), kept under `id` for later records, then this record's values. */
function defineRecord(id: number): unknown {
  const start = pos
  const known = lastDefinition.length
  let same = known > 0 && start + known <= end
  for (let i = 0; same && i < known; i++) same = src[start + i] === lastDefinition[i]
  if (same) {
    pos += known
    structures[id] = lastKeys
    return readRecord(lastKeys)
  }
  const keys = read()
  if (!plain || !Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) return fail()
  lastDefinition = Buffer.from(src.subarray(start, pos))
  lastKeys = keys as string[]
  structures[id] = lastKeys
  return readRecord(lastKeys)
}

function readRecord(keys: string[]): Record<string, unknown> | undefined {
  const object = readerOf(keys)(read)
  return plain ? object : undefined
}

/** Buffer's own latin1 decoder, without `toString`'s argument handling in front of it. */
type LatinSlice = Buffer & { latin1Slice(start: number, end: number): string }

type RecordReader = (read: () => unknown) => Record<string, unknown>

/** Readers by their keys, so rows of one shape share one (the cache starts over when full). */
let readers = new Map<string, RecordReader>()
const MAX_READERS = 1_000
let lastReaderKeys: string[] | undefined
let lastReader: RecordReader = () => ({})
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/**
 * A function that builds a record from its values as one object literal, keys in order: V8 then
 * makes every row of a shape with one hidden class, where adding keys one by one costs several
 * times more. Keys are ASCII (readString refuses the rest) and written as JSON string literals;
 * msgpackr renames a `__proto__` key to `__proto_`, and so does this (a literal `__proto__`
 * would set the prototype).
 */
function readerOf(keys: string[]): RecordReader {
  if (keys === lastReaderKeys) return lastReader
  const signature = keys.join('\u0000')
  let reader = readers.get(signature)
  if (!reader) {
    const fields = keys.map((key) => {
      const name = key === '__proto__' ? '__proto_' : key
      return `${IDENTIFIER.test(name) ? name : JSON.stringify(name)}: r()`
    })
    reader = new Function('r', `return { ${fields.join(', ')} }`) as RecordReader
    if (readers.size >= MAX_READERS) readers = new Map()
    readers.set(signature, reader)
  }
  lastReaderKeys = keys
  lastReader = reader
  return reader
}

/**
 * What `serializer.deserialize(payload)` returns, read through `decodePlain` where the payload is
 * the default serializer's plain data; NOT_PLAIN where the serializer itself must read it.
 */
export function readPlain(serializer: Serializer, payload: string | Buffer): unknown {
  if (typeof payload === 'string' || !msgpackFormat.has(serializer)) return NOT_PLAIN
  return decodePlain(payload, 0, payload.length)
}
