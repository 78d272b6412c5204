import { describe, expect, it } from 'vitest'
import { ConcurrencyLimit } from '../src/concurrency-limit.ts'

/** A task that runs until released, recording when it started. */
function gate() {
  let open = () => {}
  let fail = (_error: Error) => {}
  const done = new Promise<void>((resolve, reject) => {
    open = resolve
    fail = reject
  })
  return { done, open, fail }
}

describe('ConcurrencyLimit', () => {
  it('runs at most max tasks at once, the rest in the order they came; a failed task frees its slot', async () => {
    const limit = new ConcurrencyLimit(2)
    const started: number[] = []
    const gates = [gate(), gate(), gate(), gate()]
    const began = gates.map(() => gate())
    const runs = gates.map((g, i) =>
      limit.run(async () => {
        started.push(i)
        began[i]?.open()
        await g.done
        return i
      }),
    )
    // The first two start in the caller's tick.
    expect(started).toEqual([0, 1])
    expect(limit.pending).toBe(2)
    gates[1]?.fail(new Error('boom'))
    await expect(runs[1]).rejects.toThrow('boom')
    await began[2]?.done
    expect(started).toEqual([0, 1, 2])
    expect(limit.pending).toBe(1)
    gates[0]?.open()
    await began[3]?.done
    expect(started).toEqual([0, 1, 2, 3])
    gates[2]?.open()
    gates[3]?.open()
    expect(await Promise.all([runs[0], runs[2], runs[3]])).toEqual([0, 2, 3])
    expect(limit.pending).toBe(0)
  })

  it('a task that throws before returning a promise rejects and frees its slot', async () => {
    const limit = new ConcurrencyLimit(1)
    await expect(
      limit.run(() => {
        throw new Error('sync')
      }),
    ).rejects.toThrow('sync')
    expect(await limit.run(async () => 'next')).toBe('next')
  })
})
