import { describe, expect, it } from 'vitest'
import { BatchFlight } from '../src/engine/batch-flight.ts'
import { Flight } from '../src/flight.ts'

describe('Flight (in-process singleflight)', () => {
  it('runs one call per key and shares its value', async () => {
    const flight = new Flight<number>()
    let calls = 0
    const fn = async () => {
      calls += 1
      await new Promise((r) => setTimeout(r, 20))
      return 42
    }
    const runs = Array.from({ length: 100 }, () => flight.do('k', fn))
    expect(runs.filter((r) => r.shared)).toHaveLength(99)
    expect(await Promise.all(runs.map((r) => r.promise))).toEqual(Array(100).fill(42))
    expect(calls).toBe(1)
    expect(flight.size).toBe(0)
  })

  it('shares errors with every waiter, and a later call starts afresh', async () => {
    const flight = new Flight<number>()
    let calls = 0
    const failing = async () => {
      calls += 1
      throw new Error('boom')
    }
    const a = flight.do('k', failing)
    const b = flight.do('k', failing)
    await expect(a.promise).rejects.toThrow('boom')
    await expect(b.promise).rejects.toBe(await a.promise.catch((e) => e))
    expect(calls).toBe(1)
    await expect(flight.do('k', failing).promise).rejects.toThrow('boom')
    expect(calls).toBe(2)
  })

  it('turns a synchronous throw into a rejection', async () => {
    const flight = new Flight<number>()
    const run = flight.do('k', () => {
      throw new Error('sync')
    })
    await expect(run.promise).rejects.toThrow('sync')
    expect(flight.size).toBe(0)
  })

  it('a batch flight makes no promise until joined, is joined by do and claim, and leaves the table when it settles', async () => {
    const flights = new Flight<{ value: unknown }>()
    const first = new BatchFlight()
    const quiet = new BatchFlight()
    expect(first.claimIn(flights, 'a')).toBeUndefined()
    expect(quiet.claimIn(flights, 'q')).toBeUndefined()
    expect(flights.size).toBe(2)
    // A wrap of the key joins it; a second batch flight of the key follows it.
    let ran = false
    const joined = flights.do('a', async () => {
      ran = true
      return { value: 'own' }
    })
    expect(joined.shared).toBe(true)
    const second = new BatchFlight()
    const followed = second.claimIn(flights, 'a')
    expect(followed).toBe(joined.promise)
    first.resolve({ value: 'batch' })
    expect(await joined.promise).toEqual({ value: 'batch' })
    expect(ran).toBe(false)
    expect(flights.has('a')).toBe(false)
    // A rejection nobody joined leaves the table with no unhandled promise behind it.
    quiet.reject(new Error('origin down'))
    expect(flights.size).toBe(0)
    expect(quiet.state).toBe(2)
    // Once settled, the key starts afresh.
    expect(flights.do('a', async () => ({ value: 'next' })).shared).toBe(false)
  })
})
