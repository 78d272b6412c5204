import { describe, expect, it } from 'vitest'
import { MAX_TIMER_MS, setLongTimeout, withTimeout } from '../src/timers.ts'

describe('withTimeout', () => {
  it('settles as the work does when it finishes first, value or error', async () => {
    await expect(withTimeout(Promise.resolve('done'), 1_000, () => 'late')).resolves.toBe('done')
    await expect(withTimeout(Promise.reject(new Error('boom')), 1_000, () => 'late')).rejects.toThrow('boom')
  })

  it("settles with onTimeout's value when the work is too slow, and rejects when onTimeout throws", async () => {
    const never = new Promise<string>(() => {})
    await expect(withTimeout(never, 5, () => 'late')).resolves.toBe('late')
    await expect(
      withTimeout(never, 5, () => {
        throw new RangeError('too slow')
      }),
    ).rejects.toBeInstanceOf(RangeError)
  })

  it('a late rejection of the work is handled, not left unhandled', async () => {
    let fail!: (error: Error) => void
    const work = new Promise<string>((_, reject) => (fail = reject))
    await expect(withTimeout(work, 5, () => 'late')).resolves.toBe('late')
    fail(new Error('after the timeout'))
    await new Promise((resolve) => setImmediate(resolve))
  })
})

describe('setLongTimeout', () => {
  it('never fires for Infinity, and can be cleared', async () => {
    let fired = false
    const timer = setLongTimeout(() => (fired = true), Number.POSITIVE_INFINITY)
    timer.clear()
    const past = setLongTimeout(() => (fired = true), MAX_TIMER_MS * 2)
    past.clear()
    const soon = await new Promise<boolean>((resolve) => setLongTimeout(() => resolve(true), 1))
    expect(soon).toBe(true)
    expect(fired).toBe(false)
  })
})
