import { describe, expect, it } from 'vitest'
import { classify, counterEntry, decodeEntry, type Entry, encodeEntry } from '../src/entry.ts'
import { jsonSerializer } from '../src/serializer.ts'
import { msgpackSerializer } from '../src/serializer-msgpack.ts'

function entryOf(value: unknown, overrides: Partial<Entry> = {}): Entry {
  return {
    value,
    negative: value === null || value === undefined,
    freshUntilMs: 1_700_000_060_000,
    staleUntilMs: 1_700_000_120_000,
    deltaMs: 12.4,
    createdAtUs: 1_700_000_000_000_123,
    tags: ['users', 'team:7'],
    failSafe: false,
    ...overrides,
  }
}

/** An entry's fields as a plain object (entries read from bytes answer through getters). */
function fieldsOf(entry: Entry | undefined): Entry | undefined {
  if (!entry) return entry
  const { value, negative, freshUntilMs, staleUntilMs, deltaMs, createdAtUs, tags, failSafe } = entry
  return { value, negative, freshUntilMs, staleUntilMs, deltaMs, createdAtUs, tags: [...tags], failSafe }
}

const bytes = (encoded: string | Buffer) => (typeof encoded === 'string' ? Buffer.from(encoded) : encoded)

describe('entry encoding', () => {
  it('round-trips every field; deltaMs is stored in whole milliseconds', () => {
    const entry = entryOf({ id: 1, name: 'Zoë' }, { failSafe: true })
    const decoded = decodeEntry(bytes(encodeEntry(entry, jsonSerializer.serialize(entry.value))), jsonSerializer)
    expect(fieldsOf(decoded)).toEqual({ ...entry, deltaMs: 12 })
  })

  it('writes the header the wire format names: C1, [freshUntilMs, staleUntilMs, deltaMs, createdAtUs, tags, flags], newline, payload', () => {
    const entry = entryOf('v')
    expect(encodeEntry(entry, '"v"')).toBe(
      'C1[1700000060000,1700000120000,12,1700000000000123,["users","team:7"],0]\n"v"',
    )
  })

  it('keeps "never" as null on the wire and Infinity in memory', () => {
    const entry = entryOf('v', { freshUntilMs: Number.POSITIVE_INFINITY, staleUntilMs: Number.POSITIVE_INFINITY })
    const encoded = encodeEntry(entry, '"v"')
    expect(String(encoded).startsWith('C1[null,null,')).toBe(true)
    expect(decodeEntry(bytes(encoded), jsonSerializer)).toMatchObject({
      freshUntilMs: Number.POSITIVE_INFINITY,
      staleUntilMs: Number.POSITIVE_INFINITY,
    })
  })

  it('negative entries carry no payload and keep null apart from undefined', () => {
    const asNull = decodeEntry(bytes(encodeEntry(entryOf(null), '')), jsonSerializer)
    const asUndefined = decodeEntry(bytes(encodeEntry(entryOf(undefined), '')), jsonSerializer)
    expect(asNull).toMatchObject({ negative: true, value: null })
    expect(asUndefined?.negative).toBe(true)
    expect(asUndefined && 'value' in asUndefined && asUndefined.value).toBeUndefined()
    expect(String(encodeEntry(entryOf(null), '')).endsWith('\n')).toBe(true)
  })

  it('binary payloads pass through untouched', () => {
    const serializer = msgpackSerializer()
    const value = { at: new Date(0), big: 10n, raw: Buffer.from([0, 10, 255]) }
    const payload = serializer.serialize(value)
    const encoded = encodeEntry(entryOf(value), payload)
    expect(Buffer.isBuffer(encoded)).toBe(true)
    expect(decodeEntry(bytes(encoded), serializer)?.value).toEqual(value)
  })

  it('reads a MessagePack payload where it lies inside a larger buffer, as a reply packs entries', () => {
    const msgpack = msgpackSerializer()
    const values = [{ id: 'a', at: new Date(5), tags: new Set(['x']) }, Buffer.from([1, 2, 3]), new Map([[1, 'one']])]
    const encoded = values.map((value) => bytes(encodeEntry(entryOf(value, { tags: [] }), msgpack.serialize(value))))
    // Views into one shared memory, each after bytes that belong to another entry.
    const whole = Buffer.concat([Buffer.from('junk'), ...encoded, Buffer.from('tail')])
    let offset = 4
    for (const [i, one] of encoded.entries()) {
      const view = whole.subarray(offset, offset + one.length)
      offset += one.length
      expect(decodeEntry(view, msgpack)?.value).toEqual(values[i])
      expect(decodeEntry(view, msgpack)?.value).toEqual(decodeEntry(Buffer.from(one), msgpack)?.value)
    }
    // Cut short inside the payload: a miss, not a value read from the next entry's bytes.
    const first = encoded[0] as Buffer
    expect(decodeEntry(whole.subarray(4, 4 + first.length - 1), msgpack)).toBeUndefined()
  })

  it('an integer written by set with no load time, grace or tags is stored bare, and reads as a counter', () => {
    const counter = counterEntry(41)
    expect(encodeEntry(counter, '41')).toBe('41')
    expect(decodeEntry(Buffer.from('41'), jsonSerializer)).toEqual(counter)
    expect(decodeEntry(Buffer.from('-7'), jsonSerializer)?.value).toBe(-7)
    // A loaded integer keeps its header: XFetch needs its delta.
    expect(String(encodeEntry(entryOf(41), '41')).startsWith('C1[')).toBe(true)
  })

  it('reads an untagged header of whole numbers straight from the bytes, and every other header as JSON does', () => {
    const read = (header: string) => decodeEntry(Buffer.from(`C1${header}\n"v"`), jsonSerializer)
    expect(read('[1700000060000,null,0,1700000000000123,[],0]')).toMatchObject({
      freshUntilMs: 1_700_000_060_000,
      staleUntilMs: Number.POSITIVE_INFINITY,
      deltaMs: 0,
      createdAtUs: 1_700_000_000_000_123,
      tags: [],
      failSafe: false,
      value: 'v',
    })
    expect(read('[null,null,5,7,[],4]')).toMatchObject({ freshUntilMs: Number.POSITIVE_INFINITY, failSafe: true })
    // What the quick reader leaves to JSON.parse reads as JSON reads it.
    expect(read('[1.5,2e3,3,4,[],0]')).toMatchObject({ freshUntilMs: 1.5, staleUntilMs: 2_000, deltaMs: 3 })
    expect(read('[1,2,3,4,["a,b"],0]')?.tags).toEqual(['a,b'])
    expect(read('[ 1,2,3,4,[],0]')?.freshUntilMs).toBe(1)
    expect(read('[1,2,3,99999999999999999,[],0]')?.createdAtUs).toBe(JSON.parse('99999999999999999'))
    expect(read('[-1,2,3,4,[],0]')?.freshUntilMs).toBe(-1)
    // ... and what JSON refuses stays a miss.
    for (const header of [
      '[01,2,3,4,[],0]',
      '[1,2,null,4,[],0]',
      '[1,2,3,4,[],0,]',
      '[1,2,3,4,[]]',
      '[nul,2,3,4,[],0]',
    ]) {
      expect(read(header), header).toBeUndefined()
    }
  })

  it('reads tags of plain ASCII straight from the bytes, and any other tags as JSON does', () => {
    const read = (tags: string) => decodeEntry(Buffer.from(`C1[1,2,3,4,${tags},4]\n"v"`), jsonSerializer)
    for (const tags of [
      '["users"]',
      '["users","team:7"]',
      '["a,b","]"]',
      '["é"]',
      '["a\\"b"]',
      '["\\u0041"]',
      '[ "a" ]',
      '["a" ,"b"]',
    ]) {
      const entry = read(tags)
      expect(entry?.tags, tags).toEqual(JSON.parse(tags))
      expect(entry, tags).toMatchObject({
        freshUntilMs: 1,
        staleUntilMs: 2,
        deltaMs: 3,
        createdAtUs: 4,
        failSafe: true,
        value: 'v',
      })
    }
    // A tagged entry after an untagged one with the same times keeps its own tags, and the reverse.
    expect(read('[]')?.tags).toEqual([])
    expect(read('["x"]')?.tags).toEqual(['x'])
    expect(read('[]')?.tags).toEqual([])
    for (const tags of ['["a",]', '["a"', '["a"]]', '[1]', '["a\nb"]', '[["a"]]'])
      expect(read(tags), tags).toBeUndefined()
    // Equal tag lists are one frozen array; thousands of distinct lists each still read as written.
    expect(read('["users","team:7"]')?.tags).toBe(read('["users","team:7"]')?.tags)
    expect(Object.isFrozen(read('["users"]')?.tags)).toBe(true)
    for (let i = 0; i < 3_000; i++) expect(read(`["t${i}","u"]`)?.tags).toEqual([`t${i}`, 'u'])
  })

  it('reads each of a run of entries with its own times and flags, whether its header equals the one before or not', () => {
    const msgpack = msgpackSerializer()
    const at = {
      freshUntilMs: 1_700_000_060_000,
      staleUntilMs: 1_700_000_120_000,
      deltaMs: 12,
      createdAtUs: 1_700_000_000_000_123,
    }
    const written: Entry[] = [
      entryOf({ n: 1 }, { ...at, tags: [] }),
      entryOf({ n: 2 }, { ...at, tags: [] }),
      entryOf({ n: 3 }, { ...at, tags: [], createdAtUs: 1_700_000_000_000_124 }),
      entryOf(null, { ...at, tags: [] }),
      entryOf({ n: 5 }, { ...at, tags: [], failSafe: true }),
      entryOf({ n: 6 }, { ...at, tags: [], freshUntilMs: Number.POSITIVE_INFINITY }),
      entryOf({ n: 7 }, { ...at, tags: ['t'] }),
      entryOf({ n: 8 }, { ...at, tags: [] }),
    ]
    const read = written.map((e) =>
      decodeEntry(bytes(encodeEntry(e, e.negative ? '' : msgpack.serialize(e.value))), msgpack),
    )
    read.forEach((got, i) => {
      const e = written[i] as Entry
      expect(got, `entry ${i}`).toMatchObject({
        value: e.value,
        negative: e.negative,
        freshUntilMs: e.freshUntilMs,
        staleUntilMs: e.staleUntilMs,
        deltaMs: e.deltaMs,
        createdAtUs: e.createdAtUs,
        tags: e.tags,
        failSafe: e.failSafe,
      })
    })
  })

  it('reads anything else as a miss: foreign, corrupt, truncated, another version', () => {
    const good = String(encodeEntry(entryOf('v'), '"v"'))
    for (const raw of [
      '',
      'hello',
      '007',
      '-0',
      good.replace('C1', 'C2'),
      good.slice(0, 20),
      'C1[1,2,3]\n"v"',
      'C1["a",2,3,4,[],0]\n"v"',
      'C1[1,2,3,4,[1],0]\n"v"',
      'C1[1,2,3,4,[],0]\n{not json',
      'C1{"freshUntilMs":1}\n"v"',
    ]) {
      expect(decodeEntry(Buffer.from(raw), jsonSerializer), raw).toBeUndefined()
    }
  })
})

describe('classify', () => {
  const entry = entryOf('v', { freshUntilMs: 1_000, staleUntilMs: 2_000, deltaMs: 0 })

  it('fresh before freshUntilMs, stale within grace, expired after', () => {
    expect(classify(entry, 999, 1)).toBe('fresh')
    expect(classify(entry, 1_000, 1)).toBe('stale')
    expect(classify(entry, 1_999, 1)).toBe('stale')
    expect(classify(entry, 2_000, 1)).toBe('expired')
  })

  it('early (XFetch) only when the load took time and beta is on', () => {
    const slow = { ...entry, deltaMs: 1_000_000 }
    expect(classify(slow, 999, 1)).toBe('early')
    expect(classify(slow, 999, 0)).toBe('fresh')
    expect(classify(entry, 999, 1)).toBe('fresh')
  })
})
