import { Packr } from 'msgpackr'
import { SerializationError } from './errors.ts'
import type { Serializer } from './serializer.ts'

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
  // Record structures are written into each message, so any process can read what another wrote.
  const packr = new Packr({
    structuredClone: true,
    moreTypes: true,
    writeFunction: () => {
      throw new SerializationError('MessagePack cannot represent a function')
    },
  })
  const serializer: Serializer = {
    serialize: (value) => packr.pack(value),
    deserialize: (raw) => {
      // Our payloads are always bytes; text is another serializer's (JSON, the default before
      // msgpack): refused, so the entry reads as a miss instead of as a wrong value.
      if (typeof raw === 'string') throw new SerializationError('a MessagePack payload must be bytes, got text')
      return packr.unpack(raw)
    },
  }
  msgpackFormat.add(serializer)
  return serializer
}

/**
 * The serializers this module made: their payloads are msgpackr's records, which a store may
 * read through a faster path for plain data (src/redis/batch-msgpack.ts) with the same result.
 */
export const msgpackFormat = new WeakSet<Serializer>()
