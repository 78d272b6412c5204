import { serialize } from 'node:v8'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codeUnits, jsonish } from '../harness/generators.ts'
import { decodeEntry, type Entry, encodeEntry } from '../src/entry.ts'
import { decodePlain, NOT_PLAIN } from '../src/msgpack-plain.ts'
import { decodeBatchEntry, packEntries } from '../src/redis/batch-entries.ts'
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

describe('the batch envelope codec', () => {
  it('reads every entry exactly as decodeEntry does', () => {
    fc.assert(
      fc.property(entryArb, serializerArb, (entry, [, serializer]) => {
        const payload = payloadOf(entry, serializer)
        fc.pre(payload !== undefined)
        const raw = bytes(encodeEntry(entry, payload as string | Buffer))
        expect(decodeBatchEntry(raw, serializer)).toEqual(decodeEntry(raw, serializer))
      }),
      { numRuns: 2_000 },
    )
  })

  it('reads what is not an entry (corrupt, cut short, foreign, a counter) as decodeEntry does', () => {
    const samples = [
      'C1[1,2,3,4,[],0]',
      'C1[1,2,3,4,[],0',
      'C1[01,2,3,4,[],0]\nx',
      'C1[1,2,3,4,[],8]\n\xc1',
      'C1[1,2,3,4,[],0]\n{"a":',
      'C1[null,null,null,4,[],0]\n1',
      'C1[1e3,2,3,4,[],0]\n1',
      'C1[-1,2,3,4,[],0]\n1',
      'C1[1,2,3,4,[1],0]\n1',
      'C1[1,2,3,4,[],0,7]\n1',
      'C1[99999999999999999999,2,3,4,[],0]\n1',
      'C2[1,2,3,4,[],0]\n1',
      '42',
      '',
      'C',
      'C1[',
    ]
    for (const sample of samples) {
      for (const serializer of [jsonSerializer, msgpack]) {
        const raw = Buffer.from(sample, 'latin1')
        expect(decodeBatchEntry(raw, serializer)).toEqual(decodeEntry(raw, serializer))
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (tail, head) => {
        const raw = Buffer.concat([Buffer.from(head ? 'C1[' : ''), tail])
        expect(decodeBatchEntry(raw, msgpack)).toEqual(decodeEntry(raw, msgpack))
      }),
    )
  })

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
})

describe('the batch fast path for the default serializer', () => {
  const plainish = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(null, true, false, 0, -0, 63, 64, 127, 128, -32, -33, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32),
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('__proto__', 'x'.repeat(300), 'y'.repeat(70_000)),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor')), tie('value'), {
        maxKeys: 5,
      }),
      fc.array(fc.record({ id: fc.integer(), name: fc.string({ maxLength: 5 }) }), { maxLength: 70 }),
    ),
  })).value
  const anything = fc.oneof(plainish, jsonish, fc.date(), fc.bigInt(), fc.constant(new Map([[1, 'a']])))

  it('reads every payload exactly as msgpackr does: the same value, the same key order, or it steps aside', () => {
    fc.assert(
      fc.property(anything, fc.boolean(), (value, shared) => {
        // Values that share an object are written with the structured clone's references.
        const payload = msgpack.serialize(
          shared && value && typeof value === 'object' ? [value, value] : value,
        ) as Buffer
        const raw = Buffer.concat([Buffer.from('C1[1,2,0,3,[],8]\n'), payload])
        const fast = decodeBatchEntry(raw, msgpack)
        const general = decodeEntry(raw, msgpack)
        expect({ ...fast, value: 0 }).toEqual({ ...general, value: 0 })
        // V8's own encoding tells apart what deep equality may not: key order, -0, holes, types.
        expect(serialize(fast?.value).equals(serialize(general?.value))).toBe(true)
      }),
      { numRuns: 3_000 },
    )
  })

  it('takes the fast path for rows of plain data, and leaves the rest to msgpackr', () => {
    const row = { id: 'row:1', body: 'x'.repeat(80), n: 7, tags: ['a', 'b'], nested: { ok: true, at: null } }
    const payload = msgpack.serialize(row) as Buffer
    expect(decodePlain(payload, 0, payload.length)).toStrictEqual(row)
    for (const other of [new Date(0), { when: undefined }, 'Zoë', 10n, new Map(), Buffer.from('x')]) {
      const bytes = msgpack.serialize(other) as Buffer
      expect(decodePlain(bytes, 0, bytes.length)).toBe(NOT_PLAIN)
    }
    // A custom serializer's bytes are never read as msgpack, even when they look like it.
    const custom = { serialize: msgpack.serialize, deserialize: () => 'custom' }
    expect(decodeBatchEntry(Buffer.concat([Buffer.from('C1[1,2,0,3,[],8]\n'), payload]), custom)?.value).toBe('custom')
  })
})
