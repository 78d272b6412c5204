import { describe, expect, it } from 'vitest'
import { toMs } from '../src/duration.ts'
import { CorralConfigError, createCache } from '../src/index.ts'

describe('durations', () => {
  it('reads the ms package syntax: a number and one unit, short or long, any case', () => {
    const cases: [string, number][] = [
      ['250ms', 250],
      ['5s', 5_000],
      ['10m', 600_000],
      ['5 minutes', 300_000],
      ['1.5h', 5_400_000],
      ['2 hours', 7_200_000],
      ['1d', 86_400_000],
      ['2 weeks', 1_209_600_000],
      ['10 Minutes', 600_000],
      ['1y', 31_557_600_000],
      ['100', 100],
      ['  5s ', 5_000],
    ]
    for (const [text, expected] of cases) expect(toMs('ttl', text), text).toBe(expected)
  })

  it('takes milliseconds as numbers, Infinity included', () => {
    expect(toMs('ttl', 0)).toBe(0)
    expect(toMs('ttl', 1234)).toBe(1234)
    expect(toMs('ttl', Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY)
  })

  it('refuses what ms cannot read, negatives and NaN with a CorralConfigError naming the option', () => {
    // '1h30m' is not ms syntax (one number, one unit): refused rather than half-read.
    for (const bad of ['1h30m', '-5s', '', 'soon', '5 lightyears', 'Infinity', -1, Number.NaN]) {
      let error: unknown
      try {
        toMs('grace', bad)
      } catch (e) {
        error = e
      }
      expect(error, String(bad)).toBeInstanceOf(CorralConfigError)
      expect((error as CorralConfigError).option).toBe('grace')
      expect((error as Error).message).toContain('"5 minutes"')
    }
  })

  it('createCache takes durations in words and refuses compound ones', async () => {
    const cache = createCache({ ttl: '5 minutes', grace: '1 hour', logger: false })
    try {
      await cache.wrap('k', () => 'v')
      const entry = await cache.get('k')
      expect(entry).toBe('v')
      expect(() => createCache({ ttl: '1h30m', logger: false })).toThrow(CorralConfigError)
    } finally {
      await cache.close()
    }
  })
})
