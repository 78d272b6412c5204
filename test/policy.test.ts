import { describe, expect, it } from 'vitest'
import { CorralConfigError } from '../src/errors.ts'
import { checkLruBounds, MAX_LRU_ENTRIES } from '../src/lru.ts'
import { type Policy, resolvePolicy, touchesPolicy } from '../src/options.ts'

const base: Policy = resolvePolicy(
  {
    ttl: '10s',
    grace: '1m',
    negativeTtl: '2s',
    jitter: 0.1,
    earlyRefresh: { beta: 2 },
    timeout: { soft: '100ms', hard: '3s' },
    failSafeThrottle: '7s',
    errorTtl: '1s',
  },
  undefined,
  'option',
)

describe('per-call policy merge', () => {
  it('the cache policy resolves every duration to milliseconds', () => {
    expect(base).toEqual({
      ttlMs: 10_000,
      graceMs: 60_000,
      negativeTtlMs: 2_000,
      jitter: 0.1,
      beta: 2,
      softMs: 100,
      hardMs: 3_000,
      failSafeThrottleMs: 7_000,
      errorTtlMs: 1_000,
    })
  })

  it('defaults when nothing is given', () => {
    expect(resolvePolicy({}, undefined, 'option')).toEqual({
      ttlMs: 60_000,
      graceMs: 0,
      negativeTtlMs: 60_000,
      jitter: 0,
      beta: 1,
      softMs: 0,
      hardMs: Number.POSITIVE_INFINITY,
      failSafeThrottleMs: 5_000,
      errorTtlMs: 0,
    })
  })

  it('a per-call option replaces only its own field', () => {
    expect(resolvePolicy({ grace: '5s' }, base, 'wrap')).toEqual({ ...base, graceMs: 5_000 })
    expect(resolvePolicy({ jitter: 0 }, base, 'wrap')).toEqual({ ...base, jitter: 0 })
    expect(resolvePolicy({ timeout: { hard: '10s' } }, base, 'wrap')).toEqual({ ...base, hardMs: 10_000 })
    expect(resolvePolicy({ errorTtl: 0 }, base, 'wrap')).toEqual({ ...base, errorTtlMs: 0 })
  })

  it('a per-call ttl leaves the cache negativeTtl alone; a per-call negativeTtl overrides it', () => {
    expect(resolvePolicy({ ttl: '30s' }, base, 'wrap')).toMatchObject({ ttlMs: 30_000, negativeTtlMs: 2_000 })
    expect(resolvePolicy({ ttl: '30s', negativeTtl: 0 }, base, 'wrap')).toMatchObject({
      ttlMs: 30_000,
      negativeTtlMs: 0,
    })
    // Without a per-call ttl, the cache's negativeTtl stands.
    expect(resolvePolicy({ grace: 0 }, base, 'wrap').negativeTtlMs).toBe(2_000)
  })

  it('earlyRefresh: false turns XFetch off for the call, true restores beta 1', () => {
    expect(resolvePolicy({ earlyRefresh: false }, base, 'wrap').beta).toBe(0)
    expect(resolvePolicy({ earlyRefresh: true }, base, 'wrap').beta).toBe(1)
    expect(resolvePolicy({ earlyRefresh: {} }, base, 'wrap').beta).toBe(1)
  })

  it('a soft timeout longer than the merged hard one is refused, naming the call', () => {
    const error = (() => {
      try {
        resolvePolicy({ timeout: { soft: '5s' } }, base, 'wrap')
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(CorralConfigError)
    expect((error as CorralConfigError).option).toBe('wrap.timeout.soft')
    expect((error as CorralConfigError).code).toBe('CORRAL_CONFIG')
  })

  it('bad per-call values name the call in the error', () => {
    for (const [options, option] of [
      [{ ttl: -1 }, 'wrap.ttl'],
      [{ grace: '1h30m' }, 'wrap.grace'],
      [{ jitter: 1 }, 'wrap.jitter'],
      [{ earlyRefresh: { beta: -1 } }, 'wrap.earlyRefresh.beta'],
      [{ timeout: 5 }, 'wrap.timeout'],
    ] as const) {
      expect(() => resolvePolicy(options as never, base, 'wrap'), option).toThrow(
        expect.objectContaining({ option }) as unknown as Error,
      )
    }
  })

  it('touchesPolicy: true only when a policy option is present', () => {
    expect(touchesPolicy({})).toBe(false)
    expect(touchesPolicy({ tags: ['a'] })).toBe(false)
    expect(touchesPolicy({ ttl: undefined })).toBe(true)
    expect(touchesPolicy({ timeout: {} })).toBe(true)
  })
})

describe('LRU bounds', () => {
  it('refuses an entry bound lru-cache cannot reserve, as a CorralConfigError naming the option', () => {
    // lru-cache sizes its index when created: this bound used to throw a bare RangeError.
    expect(() => checkLruBounds('l1', { maxEntries: 3_627_087_928_464_409 })).toThrow(CorralConfigError)
    expect(() => checkLruBounds('l1', { maxEntries: MAX_LRU_ENTRIES + 1 })).toThrow(/l1\.maxEntries/)
    expect(checkLruBounds('l1', { maxEntries: MAX_LRU_ENTRIES })).toEqual({ maxEntries: MAX_LRU_ENTRIES })
  })
})
