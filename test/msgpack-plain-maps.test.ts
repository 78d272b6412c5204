import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { anyValue } from '../harness/generators.ts'
import { fitsPlainMaps } from '../src/msgpack-plain-maps.ts'
import { msgpackSerializer } from '../src/serializer-msgpack.ts'

/** The records-only encoding every payload used before small values got plain maps. */
const records = new Packr({ structuredClone: true, moreTypes: true })

describe('small values without a Map are written as plain MessagePack maps', () => {
  const msgpack = msgpackSerializer()

  it('reads back exactly what the records encoding reads back, for any value', () => {
    const check = (value: unknown) => {
      let expected: unknown
      try {
        expected = records.unpack(records.pack(value))
      } catch {
        expect(() => msgpack.serialize(value)).toThrow()
        return
      }
      const bytes = msgpack.serialize(value) as Buffer
      const back = msgpack.deserialize(bytes)
      // isDeepStrictEqual never equals two Invalid Dates: those values are compared by their records bytes.
      expect(isDeepStrictEqual(back, expected) || records.pack(back).equals(records.pack(expected))).toBe(true)
      // The marked form is used exactly when the value fits it.
      const object = typeof value === 'object' && value !== null
      expect(bytes[0] === 0xc1).toBe(object && fitsPlainMaps(value))
    }
    fc.assert(fc.property(anyValue, check), { numRuns: 1_000 })
    fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 500 })
    const shared = { n: 1 }
    const cyclic: Record<string, unknown> = { id: 1 }
    cyclic.self = cyclic
    for (const odd of [{ constructor: 1 }, { __proto__key: 1, ['__proto__']: 2 }, { a: shared, b: shared }, cyclic]) {
      check(odd)
    }
  })

  it('a row is marked and read as an object; a Map anywhere keeps the records encoding', () => {
    const row = { id: 7, name: 'ada', at: new Date(0), tags: new Set(['a']) }
    const bytes = msgpack.serialize(row) as Buffer
    expect(bytes[0]).toBe(0xc1)
    expect(msgpack.deserialize(bytes)).toEqual(row)
    const withMap = { id: 7, byName: new Map([['a', { n: 1 }]]) }
    const mapBytes = msgpack.serialize(withMap) as Buffer
    expect(mapBytes[0]).not.toBe(0xc1)
    expect((msgpack.deserialize(mapBytes) as typeof withMap).byName).toBeInstanceOf(Map)
    // Many objects read faster as records, so a long list keeps them.
    const rows = Array.from({ length: 100 }, (_, id) => ({ id }))
    expect((msgpack.serialize(rows) as Buffer)[0]).not.toBe(0xc1)
  })

  it('payloads written before the plain form existed (records) still read', () => {
    const value = { id: 1, nested: { list: [1, 2] }, when: new Date(5) }
    expect(msgpack.deserialize(records.pack(value))).toEqual(value)
  })
})
