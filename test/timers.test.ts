import { describe, expect, it } from 'vitest'
import { useRedis } from '../harness/use-redis.ts'
import { MAX_TIMER_MS, setLongTimeout, withStoreTimeout, withTimeout } from '../src/timers.ts'

/** Holds the event loop for `ms` of wall time: the process can neither read a socket nor fire a timer meanwhile. */
function blockLoop(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

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

describe('withStoreTimeout: a stall of this process is not the store being slow', () => {
  const redis = useRedis()

  it('a reply that arrived while the loop was blocked wins over a timer that expired meanwhile', async () => {
    await redis.raw.ping() // connected: the next command is written at once, not queued
    // ioredis writes the PING at once; Redis answers while this process is busy. When the loop
    // comes back the expired timer runs before the socket is read: the verdict must wait for it.
    const reply = redis.raw.ping()
    const raced = withStoreTimeout(reply, 200, () => 'timed out')
    blockLoop(280) // 80 ms late: less than half the timeout, so no second wait is given
    expect(await raced).toBe('PONG')
  })

  it('a timer that fired half the timeout late or more gives the work the whole timeout again', async () => {
    const work = new Promise<string>((resolve) => setTimeout(() => resolve('done'), 60))
    const raced = withStoreTimeout(work, 50, () => 'timed out')
    blockLoop(150) // both timers are due when the loop comes back; the timeout's comes first
    expect(await raced).toBe('done')
  })

  it('withTimeout, a latency budget, keeps the wall clock through a stall', async () => {
    const work = new Promise<string>((resolve) => setTimeout(() => resolve('done'), 60))
    const raced = withTimeout(work, 50, () => 'timed out')
    blockLoop(150)
    expect(await raced).toBe('timed out')
  })

  it('work that never answers still times out after a stall, within the second wait', async () => {
    const started = performance.now()
    const raced = withStoreTimeout(new Promise<string>(() => {}), 50, () => 'timed out')
    blockLoop(150)
    expect(await raced).toBe('timed out')
    // The stall (150) plus one more timeout (50), and scheduling.
    expect(performance.now() - started).toBeLessThan(150 + 50 + 500)
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
