import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { anyValue } from '../harness/generators.ts'
import { entryWith } from '../src/entry.ts'
import {
  createCache,
  type Entry,
  jsonSerializer,
  memoryStore,
  msgpackSerializer,
  SerializationError,
} from '../src/index.ts'
import { silentLogger } from '../src/logger.ts'
import { heldEntry } from '../src/stores/memory-entry.ts'
import { MemoryFences } from '../src/stores/memory-fences.ts'
import { copyPlain, NOT_PLAIN } from '../src/stores/plain-copy.ts'
import type { Store } from '../src/stores/store.ts'

const storeWith = (serializer = jsonSerializer): Store =>
  memoryStore({ maxEntries: 100 }).create({ serializer, logger: silentLogger, channelName: 'test' })

function entry(value: unknown, overrides: Partial<Entry> = {}): Entry {
  const now = Date.now()
  return {
    value,
    negative: value === null || value === undefined,
    freshUntilMs: now + 60_000,
    staleUntilMs: now + 120_000,
    deltaMs: 3.7,
    createdAtUs: now * 1000,
    tags: [],
    failSafe: false,
    ...overrides,
  }
}

/** Every object reachable from `value`. */
function objectsIn(value: unknown, into = new Set<object>()): Set<object> {
  if (typeof value === 'object' && value !== null) {
    into.add(value)
    for (const item of Object.values(value)) objectsIn(item, into)
  }
  return into
}

describe('memory store: what it holds', () => {
  it('a loader that changes its object after returning it does not change the cache', async () => {
    const cache = createCache({ logger: false })
    const row = { id: 1, name: 'Ada', roles: ['admin'], address: { city: 'London' } }
    // The caller whose loader ran gets the serializer's round trip too, as every later hit does.
    expect(await cache.wrap('u:1', async () => row)).toEqual(row)
    row.name = 'Changed'
    row.roles.push('root')
    row.address.city = 'Paris'
    expect(await cache.wrap('u:1', async () => ({ id: 0 }))).toEqual({
      id: 1,
      name: 'Ada',
      roles: ['admin'],
      address: { city: 'London' },
    })
    await cache.close()
  })

  it('with the JSON serializer, holds what a Redis store would return: the JSON round trip, also for values JSON changes', async () => {
    const cache = createCache({ logger: false, serializer: 'json' })
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const value = { at: new Date(0), point: new Point(1, 2), gone: undefined, list: [1, undefined], zero: -0 }
    await cache.wrap('odd', async () => value)
    const held: unknown = await cache.wrap('odd', async () => null)
    expect(held).toEqual(JSON.parse(JSON.stringify(value)))
    expect(Object.getPrototypeOf((held as { point: object }).point)).toBe(Object.prototype)
    await cache.close()
  })

  it('with msgpack, holds its round trip (a Map stays a Map, and is not the writer’s)', async () => {
    const cache = createCache({ logger: false })
    const map = new Map([['a', { n: 1 }]])
    await cache.set('m', map)
    map.set('b', { n: 2 })
    ;(map.get('a') as { n: number }).n = 9
    const held = (await cache.get('m')) as Map<string, { n: number }>
    expect(held).toBeInstanceOf(Map)
    expect(held).not.toBe(map)
    expect([...held]).toEqual([['a', { n: 1 }]])
    await cache.close()
  })

  it('the loader’s caller gets the very object later hits get, and a loader that changes its object later changes nothing', async () => {
    for (const serializer of ['msgpack', 'json'] as const) {
      const cache = createCache({ logger: false, serializer })
      const row = { id: 1, name: 'Ada', roles: ['admin'] }
      const first = await cache.wrap('u', async () => row)
      expect(first).not.toBe(row)
      row.roles.push('root')
      const hit = await cache.wrap('u', async () => ({ id: 0 }))
      expect(hit).toBe(first)
      expect(hit).toEqual({ id: 1, name: 'Ada', roles: ['admin'] })
      await cache.close()
    }
  })

  it('serializes plain data only when a store needs bytes (bounded by maxBytes)', async () => {
    const stringify = vi.spyOn(JSON, 'stringify')
    try {
      const byCount = createCache({ logger: false, serializer: 'json' })
      await byCount.wrap('a', async () => ({ id: 1, tags: ['x'] }))
      await byCount.set('b', { id: 2 })
      expect(stringify).not.toHaveBeenCalled()
      await byCount.close()
      const byBytes = createCache({ logger: false, serializer: 'json', store: memoryStore({ maxBytes: 10_000 }) })
      await byBytes.wrap('a', async () => ({ id: 1, tags: ['x'] }))
      expect(stringify).toHaveBeenCalledTimes(1)
      await byBytes.close()
    } finally {
      stringify.mockRestore()
    }
  })

  it('a value the serializer refuses is a SerializationError and nothing is held, though no bytes are needed', async () => {
    const cache = createCache({ logger: false })
    await expect(cache.wrap('f', async () => ({ id: 1, run: () => 1 }))).rejects.toBeInstanceOf(SerializationError)
    await expect(cache.set('f', { run: () => 1 })).rejects.toBeInstanceOf(SerializationError)
    expect(await cache.get('f')).toBeUndefined()
    await cache.close()
  })

  it('copyPlain gives what the JSON round trip gives, or NOT_PLAIN, and shares no object with its input', () => {
    const check = (value: unknown) => {
      const copy = copyPlain(value)
      if (copy === NOT_PLAIN) return
      expect(copy).toStrictEqual(jsonSerializer.deserialize(jsonSerializer.serialize(value)))
      const mine = objectsIn(value)
      for (const object of objectsIn(copy)) expect(mine.has(object)).toBe(false)
    }
    fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 500 })
    fc.assert(
      fc.property(
        fc.anything({ withDate: true, withMap: true, withNullPrototype: true, withSparseArray: true }),
        (value) => {
          try {
            jsonSerializer.serialize(value)
          } catch {
            return // what JSON refuses never reaches a store
          }
          check(value)
        },
      ),
      { numRuns: 500 },
    )
    // Plain rows are copied, not left to the serializer.
    expect(copyPlain({ id: 1, tags: ['a'], nested: { ok: true, none: null } })).not.toBe(NOT_PLAIN)
  })

  it('copyPlain with MessagePack rules gives what msgpack’s round trip gives (types and sharing included), or NOT_PLAIN', () => {
    const msgpack = msgpackSerializer()
    const check = (value: unknown) => {
      let back: unknown
      try {
        back = msgpack.deserialize(msgpack.serialize(value))
      } catch {
        return // what msgpack refuses never reaches a store
      }
      const copy = copyPlain(value, 'msgpack')
      if (copy === NOT_PLAIN) return
      expect(isDeepStrictEqual(copy, back)).toBe(true)
      const mine = objectsIn(value)
      for (const object of objectsIn(copy)) expect(mine.has(object)).toBe(false)
    }
    fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 500 })
    fc.assert(fc.property(anyValue, check), { numRuns: 600 })
    fc.assert(fc.property(fc.string({ unit: 'binary' }), check), { numRuns: 500 })
    const shared = { n: 1 }
    for (const odd of [
      { lone: '\ud800' },
      { '\udfff': 1 },
      { constructor: 1 },
      [shared, shared],
      { a: shared, b: shared },
      { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, big: 2 ** 60, half: 0.5 },
      Object.assign(Object.create(null), { a: 1 }),
    ]) {
      check(odd)
    }
    // Sharing is kept by msgpack's structured clone, so a value with it is left to the serializer.
    expect(copyPlain([shared, shared], 'msgpack')).toBe(NOT_PLAIN)
    expect(copyPlain({ lone: '\ud800' }, 'msgpack')).toBe(NOT_PLAIN)
    expect(copyPlain({ id: 1, tags: ['a'], nested: { ok: true, none: null } }, 'msgpack')).not.toBe(NOT_PLAIN)
  })

  it('a begin after a peek that found nothing sees what was written in between', async () => {
    const store = storeWith()
    expect(store.peek?.('k')).toBeUndefined()
    await store.set('k', entry('v'), '"v"', 60_000)
    expect((await store.begin('k')).entry?.value).toBe('v')
    expect(store.peek?.('c')).toBeUndefined()
    await store.increment('c', 1, 60_000)
    expect((await store.begin('c')).entry?.value).toBe(1)
    expect(store.peek?.('l')).toBeUndefined()
    const load = await store.begin('l')
    await store.commit('l', entry('loaded'), '"loaded"', 60_000, load.token as number)
    expect((await store.begin('l')).entry?.value).toBe('loaded')
  })

  it('drops an entry past its grace when it is read', async () => {
    const store = storeWith()
    const now = Date.now()
    await store.set('old', entry('v', { freshUntilMs: now - 2, staleUntilMs: now - 1 }), '"v"', 1)
    expect(await store.get('old')).toBeUndefined()
    expect((await store.begin('old')).entry).toBeUndefined()
  })

  it('a counter keeps the life it was created with', async () => {
    const store = storeWith()
    expect(await store.increment('c', 2, 60_000)).toBe(2)
    const until = (await store.get('c'))?.staleUntilMs as number
    expect(until).toBeGreaterThan(Date.now())
    expect(await store.increment('c', 3, 1)).toBe(5)
    expect((await store.get('c'))?.staleUntilMs).toBe(until)
  })
})

describe('memory store: its entries', () => {
  const fields = (e: Entry) => entryWith(e, {})

  it('reads back every field exactly as written, compact or not (deltaMs rounded)', () => {
    const now = Date.now()
    const time = fc.oneof(
      fc.integer({ min: now - 10 * 86_400_000, max: now + 10 * 86_400_000 }),
      fc.double({ min: now - 1e9, max: now + 1e9, noNaN: true }),
      fc.constantFrom(0, Number.POSITIVE_INFINITY, now),
    )
    fc.assert(
      fc.property(
        fc.record({
          value: fc.anything(),
          negative: fc.boolean(),
          freshUntilMs: time,
          staleUntilMs: time,
          deltaMs: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.double({ min: 0, max: 1e6, noNaN: true })),
          createdAtUs: fc.oneof(fc.integer({ min: (now - 1e6) * 1000, max: (now + 1e6) * 1000 }), fc.constant(0)),
          tags: fc.array(fc.string(), { maxLength: 2 }),
          failSafe: fc.boolean(),
        }),
        (entry) => {
          const held = heldEntry(entry)
          expect(held.value).toBe(entry.value)
          expect(fields(held)).toEqual({ ...entry, deltaMs: Math.round(entry.deltaMs) })
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('keeps a usual untagged entry in five slots with no heap number per time (no own enumerable fields but its value)', () => {
    const now = Date.now()
    const usual = {
      value: { id: 1 },
      negative: false,
      freshUntilMs: now + 3_600_000,
      staleUntilMs: now + 3_600_000,
      deltaMs: 0.4,
      createdAtUs: now * 1000 + 321,
      tags: [],
      failSafe: false,
    }
    expect(Object.keys(heldEntry(usual))).toEqual(['value'])
    expect(Object.keys(heldEntry({ ...usual, tags: ['t'] }))).toContain('freshUntilMs')
  })
})

describe('memory store: fences', () => {
  it('of overlapping loads, the first to commit writes; the others are refused', async () => {
    const store = storeWith()
    const a = await store.begin('k')
    const b = await store.begin('k')
    expect(await store.commit('k', entry('b'), '"b"', 60_000, b.token as number)).toBeDefined()
    expect(await store.commit('k', entry('a'), '"a"', 60_000, a.token as number)).toBeUndefined()
    expect((await store.get('k'))?.value).toBe('b')
  })

  it('a load begun before a set or a delete cannot write after it', async () => {
    const store = storeWith()
    const before = await store.begin('k')
    await store.set('k', entry('set'), '"set"', 60_000)
    expect(await store.commit('k', entry('load'), '"load"', 60_000, before.token as number)).toBeUndefined()
    expect((await store.get('k'))?.value).toBe('set')

    const beforeDelete = await store.begin('k')
    await store.delete('k')
    expect(await store.commit('k', entry('load'), '"load"', 60_000, beforeDelete.token as number)).toBeUndefined()
    expect(await store.get('k')).toBeUndefined()

    // A load begun after them writes.
    const after = await store.begin('k')
    expect(await store.commit('k', entry('load'), '"load"', 60_000, after.token as number)).toBeDefined()
  })

  it('keeps records only for loads in flight, bounded; a load whose record was pushed out is refused', () => {
    const fences = new MemoryFences(2)
    const one = fences.begin('one')
    expect(fences.commit('one', one)).toBe(true)
    expect(fences.size).toBe(0) // a committed load leaves nothing behind
    fences.wrote('unloaded') // a write to a key nobody loads keeps no record
    expect(fences.size).toBe(0)

    const a = fences.begin('a') // never commits (its loader failed)
    fences.begin('b')
    fences.begin('c') // pushes out 'a', the oldest
    expect(fences.size).toBe(2)
    expect(fences.commit('a', a)).toBe(false)
  })
})
