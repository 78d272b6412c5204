import { Packr, RESERVE_START_SPACE } from 'msgpackr'
import { SerializationError } from './errors.ts'
import { fitsPlainMaps } from './msgpack-plain-maps.ts'
import type { Serializer } from './serializer.ts'

/** Reads a payload that ends a larger buffer (an entry after its header), for the serializers made here. */
export type PayloadReader = (bytes: Buffer, start: number) => unknown

/** The serializers made here (their round trip of plain data is known: stores/plain-copy.ts), each with its range reader. */
const readers = new WeakMap<Serializer, PayloadReader>()

/**
 * MessagePack through msgpackr, with structured cloning and extended types: Date, Map, Set,
 * BigInt, Buffer/typed arrays, RegExp, Error, `undefined` in objects, NaN and cyclic references
 * round-trip, which JSON turns into strings, `{}`, `null` or refuses. The default serializer.
 * Chosen over node's `v8` serializer and JSON by `npm run bench:serializers` (BENCHMARKS.md).
 * A function anywhere in the value is a SerializationError (msgpackr would store `undefined`);
 * class instances come back as plain objects; a `__proto__` key comes back renamed, never as a
 * prototype.
 */
export function msgpackSerializer(): Serializer {
  const writeFunction = () => {
    throw new SerializationError('MessagePack cannot represent a function')
  }
  // Record structures are written into each message, so any process can read what another wrote.
  // copyBuffers: a Buffer in a value is its own copy, never a view of the bytes it was read from
  // (a reply's whole socket chunk, or the scratch a small payload is read from: payloadReader).
  const records = new Packr({ structuredClone: true, moreTypes: true, writeFunction, copyBuffers: true })
  const plain = new Packr({
    structuredClone: true,
    moreTypes: true,
    writeFunction,
    useRecords: false,
    copyBuffers: true,
  })
  const made: Serializer = {
    serialize: (value) => {
      // A value without objects is the same either way: written without the mark.
      if (typeof value !== 'object' || value === null || !fitsPlainMaps(value)) return records.pack(value)
      const bytes = plain.pack(value, RESERVE_START_SPACE | 1)
      bytes[0] = PLAIN_MAPS
      return bytes
    },
    deserialize: (raw) => {
      // Our payloads are always bytes; text is another serializer's (JSON, the default before
      // msgpack): refused, so the entry reads as a miss instead of as a wrong value.
      if (typeof raw === 'string') throw new SerializationError('a MessagePack payload must be bytes, got text')
      if (raw[0] !== PLAIN_MAPS) return records.unpack(raw)
      return plain.unpack(raw, { start: 1, end: raw.length })
    },
  }
  readers.set(made, payloadReader(records, plain))
  return made
}

/**
 * The first byte of a payload whose objects are plain MessagePack maps (small values without a
 * Map: `fitsPlainMaps`), read with maps as objects. 0xc1 is the one byte MessagePack never uses,
 * so no records payload starts with it, and a reader that does not know it fails (a miss).
 */
const PLAIN_MAPS = 0xc1

/**
 * Payloads shorter than this are read from a copy: msgpackr decodes the strings of a source that
 * ends before byte 140 in JavaScript, and past it through its native extractor, which returns
 * each message's strings as slices of one string (the keys too, not shared from its key cache).
 * Read in place, every payload ends far into the reply's memory, so every small value took the
 * extractor's path: a warm batch read of 20,000 rows of 100 B spent about a tenth more time in
 * the garbage collector for it.
 */
const SMALL = 140

/**
 * msgpackr's unpack of a range (`{ start, end }`) of the memory the reply arrived in: no Buffer
 * view per entry, and msgpackr's DataView (which it caches on the source) made once per reply
 * chunk instead of once per entry. A small payload is copied to a scratch buffer first (see
 * SMALL); nothing read keeps a view of it (copyBuffers). The value read is that of
 * `deserialize(bytes.subarray(start))`.
 */
function payloadReader(records: Packr, plain: Packr): PayloadReader {
  const range = { start: 0, end: 0 }
  const scratch = Buffer.allocUnsafe(SMALL)
  // Weak: a reply's memory is held no longer than its buffers are.
  const views = new WeakMap<ArrayBufferLike, Buffer>()
  return (bytes, start) => {
    let source: Buffer
    if (bytes.length - start < SMALL) {
      source = scratch
      range.start = 0
      range.end = bytes.copy(scratch, 0, start)
    } else {
      const memory = bytes.buffer
      let whole = views.get(memory)
      if (!whole) {
        whole = Buffer.from(memory)
        views.set(memory, whole)
      }
      source = whole
      range.start = bytes.byteOffset + start
      range.end = bytes.byteOffset + bytes.length
    }
    if (source[range.start] !== PLAIN_MAPS) return records.unpack(source, range)
    range.start++
    return plain.unpack(source, range)
  }
}

/** The range reader of a serializer made here; undefined for any other serializer. */
export function payloadReaderOf(serializer: Serializer): PayloadReader | undefined {
  return readers.get(serializer)
}

/** Whether `serializer` came from `msgpackSerializer()`. */
export function isMsgpackSerializer(serializer: Serializer): boolean {
  return readers.has(serializer)
}
