import { describe, expect, it } from 'vitest'
import { Breaker } from '../src/breaker.ts'

/** Waits until the breaker's cooldown has passed (its state says so), polling. */
async function untilHalfOpen(breaker: Breaker, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (breaker.state !== 'half-open') {
    if (Date.now() > deadline) throw new Error(`still ${breaker.state}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Opens a closed breaker with `failures` failed commands. */
function trip(breaker: Breaker, failures: number): void {
  for (let i = 0; i < failures; i++) breaker.failure(breaker.allow() as 'closed')
}

describe('circuit breaker', () => {
  it('stays closed below the threshold; a success resets the count', () => {
    const breaker = new Breaker({ failures: 3, cooldownMs: 1_000 })
    expect(breaker.failure('closed')).toBe(false)
    expect(breaker.failure('closed')).toBe(false)
    breaker.success('closed')
    expect(breaker.failure('closed')).toBe(false)
    expect(breaker.failure('closed')).toBe(false)
    expect(breaker.state).toBe('closed')
    expect(breaker.allow()).toBe('closed')
  })

  it('opens at the threshold and then lets nothing through until the cooldown ends', () => {
    const breaker = new Breaker({ failures: 3, cooldownMs: 60_000 })
    breaker.failure('closed')
    breaker.failure('closed')
    expect(breaker.failure('closed')).toBe(true)
    expect(breaker.state).toBe('open')
    expect(breaker.allow()).toBe(false)
    expect(breaker.allow()).toBe(false)
  })

  it('commands sent before it opened do not count again when they fail', () => {
    const breaker = new Breaker({ failures: 2, cooldownMs: 60_000 })
    const passes = [breaker.allow(), breaker.allow(), breaker.allow()] as ('closed' | 'probe')[]
    expect(breaker.failure(passes[0] as 'closed')).toBe(false)
    expect(breaker.failure(passes[1] as 'closed')).toBe(true)
    // The third was in flight: its failure neither reopens nor lengthens the cooldown.
    expect(breaker.failure(passes[2] as 'closed')).toBe(false)
    expect(breaker.state).toBe('open')
  })

  it('after the cooldown, one probe only; its success closes the breaker', async () => {
    const breaker = new Breaker({ failures: 1, cooldownMs: 30 })
    trip(breaker, 1)
    await untilHalfOpen(breaker)
    expect(breaker.allow()).toBe('probe')
    expect(breaker.allow()).toBe(false) // the probe is out: nobody else
    expect(breaker.success('probe')).toBe(true)
    expect(breaker.state).toBe('closed')
    expect(breaker.allow()).toBe('closed')
  })

  it('a failed probe opens it again for twice as long, doubling up to 16x', async () => {
    const cooldownMs = 20
    const breaker = new Breaker({ failures: 1, cooldownMs })
    trip(breaker, 1)
    const cooldowns: number[] = []
    for (let trips = 0; trips < 6; trips++) {
      await untilHalfOpen(breaker, 5_000)
      const pass = breaker.allow()
      expect(pass).toBe('probe')
      const failedAt = Date.now()
      expect(breaker.failure(pass as 'probe')).toBe(true)
      await untilHalfOpen(breaker, 5_000)
      cooldowns.push(Date.now() - failedAt)
    }
    // Each wait lasts at least its cooldown: 2x, 4x, 8x, 16x, then 16x again.
    const expected = [2, 4, 8, 16, 16, 16].map((x) => x * cooldownMs)
    for (const [i, waited] of cooldowns.entries()) expect(waited).toBeGreaterThanOrEqual(expected[i] as number)
    // The cap holds: the last wait is nowhere near 32x or 64x.
    expect(cooldowns[5]).toBeLessThan(32 * cooldownMs)
  })

  it('a success in closed state after a trip and recovery starts the doubling over', async () => {
    const breaker = new Breaker({ failures: 1, cooldownMs: 100 })
    trip(breaker, 1)
    await untilHalfOpen(breaker)
    breaker.failure(breaker.allow() as 'probe') // now 200 ms
    await untilHalfOpen(breaker)
    breaker.success(breaker.allow() as 'probe')
    const failedAt = Date.now()
    trip(breaker, 1)
    await untilHalfOpen(breaker)
    // Back to the base cooldown, not 4x (400 ms).
    expect(Date.now() - failedAt).toBeLessThan(400)
  })
})
