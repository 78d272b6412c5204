import { describe, expect, it } from 'vitest'
import { Flight } from '../src/flight.ts'
import { PendingKeys } from '../src/pending-keys.ts'

describe('PendingKeys (the flights’ table)', () => {
  it('counts only keys with work in flight, and a finished key reads as absent', () => {
    const table = new PendingKeys<string>()
    table.set('a', 'first')
    table.set('b', 'second')
    table.set('a', 'again') // replacing a live key is not a new key
    expect(table.size).toBe(2)
    expect(table.delete('a')).toBe(true)
    expect(table.delete('a')).toBe(false)
    expect(table.has('a')).toBe(false)
    expect(table.get('a')).toBeUndefined()
    expect(table.size).toBe(1)
    expect([...table.live()]).toEqual(['b'])
  })

  it('clears a key only for the call that holds it', () => {
    const table = new PendingKeys<string>()
    table.set('k', 'old')
    table.set('k', 'new') // a newer call took the key
    table.deleteIf('k', 'old')
    expect(table.get('k')).toBe('new')
    table.deleteIf('k', 'new')
    expect(table.has('k')).toBe(false)
  })

  it('keeps every live key through the sweeps of a long stream of finished ones', () => {
    const table = new PendingKeys<number>()
    const live = Array.from({ length: 50 }, (_, i) => `live:${i}`)
    for (const [i, key] of live.entries()) table.set(key, i)
    // 20,000 keys come and go: the finished slots are swept many times over.
    for (let i = 0; i < 20_000; i++) {
      table.set(`gone:${i}`, i)
      if (i % 7 === 3) table.set(`live:${i % 50}`, i % 50) // a live key written again in between
      table.delete(`gone:${i}`)
    }
    expect(table.size).toBe(50)
    for (const [i, key] of live.entries()) expect(table.get(key)).toBe(i)
    expect([...table.live()].sort()).toEqual([...live].sort())
    expect(table.has('gone:19999')).toBe(false)
  })

  it('a batch-sized table (thousands live at once) empties and fills again', () => {
    const table = new PendingKeys<number>()
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5_000; i++) table.set(`k${i}`, i + round)
      expect(table.size).toBe(5_000)
      for (let i = 0; i < 5_000; i += 2) table.deleteIf(`k${i}`, i + round)
      table.deleteIf('k1', -1) // not its value: stays
      expect(table.size).toBe(2_500)
      expect(table.get('k1')).toBe(1 + round)
      expect(table.has('k2')).toBe(false)
      for (let i = 1; i < 5_000; i += 2) expect(table.delete(`k${i}`)).toBe(true)
      expect(table.size).toBe(0)
      expect([...table.live()]).toEqual([])
    }
  })

  it('lets a flight take a key again after its call finished, across many keys', async () => {
    const flight = new Flight<number>()
    for (let round = 0; round < 3; round++) {
      const calls = Array.from({ length: 3_000 }, (_, i) => flight.do(`k${i}`, async () => i + round))
      expect(calls.every((c) => !c.shared)).toBe(true)
      expect(await Promise.all(calls.map((c) => c.promise))).toEqual(Array.from({ length: 3_000 }, (_, i) => i + round))
      expect(flight.size).toBe(0)
    }
  })
})
