import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codeUnits, jsonish } from '../harness/generators.ts'
import { decodeEntry, type Entry, encodeEntry, entryHeader } from '../src/entry.ts'
import { packEntries } from '../src/redis/batch-entries.ts'
import { jsonSerializer, type Serializer } from '../src/serializer.ts'
import { msgpackSerializer } from '../src/serializer-msgpack.ts'

const msgpack = msgpackSerializer()

/** Times as loads, `set`, fail-safe writes and other versions leave them: whole, fractional, never, negative, huge. */
const time = fc.oneof(
  fc.integer({ min: 0, max: 4_000_000_000_000 }),
  fc.constant(Number.POSITIVE_INFINITY),
  fc.double({ min: 0, max: 4e12, noNaN: true }),
  fc.integer({ min: -5, max: 5 }),
  fc.constant(2 ** 60),
)

const entryArb = fc
  .record({
    value: fc.oneof(jsonish, fc.constant(null), fc.constant(undefined), fc.integer(), fc.double()),
    freshUntilMs: time,
    staleUntilMs: time,
    deltaMs: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1e5, noNaN: true })),
    createdAtUs: fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constant(0)),
    tags: fc.oneof(fc.constant([] as string[]), fc.array(codeUnits(8), { maxLength: 3 })),
    failSafe: fc.boolean(),
  })
  .map((e): Entry => ({ ...e, negative: e.value === null || e.value === undefined }))

const serializerArb = fc.constantFrom<[string, Serializer]>(['json', jsonSerializer], ['msgpack', msgpack])

function payloadOf(entry: Entry, serializer: Serializer): string | Buffer | undefined {
  if (entry.negative) return ''
  try {
    return serializer.serialize(entry.value)
  } catch {
    return undefined // JSON refuses some values; the cache never stores those
  }
}

const bytes = (encoded: string | Buffer) => (typeof encoded === 'string' ? Buffer.from(encoded) : encoded)

describe('the batch write packer', () => {
  it('packs a batch of writes as the encodeEntry bytes of each, back to back, with their lengths', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(entryArb, serializerArb), { maxLength: 12 }), (cases) => {
        const writes = cases.flatMap(([entry, [, serializer]]) => {
          const payload = payloadOf(entry, serializer)
          return payload === undefined ? [] : [{ entry, payload }]
        })
        const encoded = writes.map((w) => bytes(encodeEntry(w.entry, w.payload)))
        const packed = packEntries(writes)
        expect(packed.lengths).toEqual(encoded.map((b) => b.length))
        expect(packed.bytes.equals(Buffer.concat(encoded))).toBe(true)
      }),
      { numRuns: 1_000 },
    )
  })

  it('entries of one header share its text; a tags array changed in between is written as it holds then', () => {
    const tags = ['a']
    const base = {
      value: 1,
      negative: false,
      freshUntilMs: 10,
      staleUntilMs: 20,
      deltaMs: 3,
      createdAtUs: 5,
      failSafe: false,
    }
    const first = entryHeader({ ...base, tags }, true)
    expect(entryHeader({ ...base, tags: ['a'] }, true)).toBe(first)
    tags[0] = 'b'
    const payload = msgpack.serialize({ id: 1 }) as Buffer
    const packed = packEntries([
      { entry: { ...base, tags }, payload },
      { entry: { ...base, tags: ['a'] }, payload },
      { entry: { ...base, createdAtUs: 6, tags: [] }, payload },
    ])
    let at = 0
    const read = packed.lengths.map((length) => {
      const entry = decodeEntry(packed.bytes.subarray(at, at + length), msgpack)
      at += length
      return entry
    })
    expect(read.map((e) => [e?.tags, e?.createdAtUs, e?.value])).toEqual([
      [['b'], 5, { id: 1 }],
      [['a'], 5, { id: 1 }],
      [[], 6, { id: 1 }],
    ])
  })
})
