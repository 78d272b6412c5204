import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { createCache, redisStore } from '../src/index.ts'
import { useRedis } from './support/use-redis.ts'

let counter = 0
const ns = () => `cmds${process.pid}-${++counter}`

/**
 * Watches what clients send to Redis with MONITOR (commands a script runs are shown with source
 * `lua` and left out: they are part of the script's one command). Resolves the commands seen,
 * once `stop` is called and a PING sent after them came back round the monitor.
 */
async function watch(raw: Redis): Promise<{ stop(): Promise<string[]> }> {
  const monitor = await raw.monitor()
  const seen: string[] = []
  let marker: (() => void) | undefined
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === 'echo' && args[1] === 'end-of-watch') return marker?.()
    if (source !== 'lua') seen.push(args[0]?.toLowerCase() ?? '?')
  })
  return {
    async stop() {
      const ended = new Promise<void>((resolve) => {
        marker = resolve
      })
      await raw.echo('end-of-watch')
      await ended
      monitor.disconnect()
      return seen
    },
  }
}

const count = (commands: string[]) => {
  const calls: Record<string, number> = {}
  for (const c of commands) calls[c] = (calls[c] ?? 0) + 1
  return calls
}

describe('Redis commands per single-key miss (MONITOR on a throwaway redis-server)', () => {
  const redis = useRedis()

  /** Commands the cache sends for one cold `wrap`, after a first miss loaded its scripts. */
  async function oneMiss(options: Parameters<typeof createCache>[0]): Promise<string[]> {
    const cache = createCache({
      namespace: ns(),
      store: redisStore({ url: redis.server.url }),
      logger: false,
      ...options,
    })
    await cache.wrap('first', async () => 'loaded')
    const watching = await watch(redis.raw)
    expect(await cache.wrap('cold', async () => 'loaded')).toBe('loaded')
    const commands = await watching.stop()
    await cache.close()
    return commands
  }

  it('without lock: 2 commands (read and begin in one; write, fence and announcement in one)', async () => {
    const commands = await oneMiss({ lock: false })
    expect(commands, JSON.stringify(count(commands))).toHaveLength(2)
  })

  it('with lock: 4 more (acquire, the read again under the lock, release, and the announcement after release)', async () => {
    const commands = await oneMiss({ lock: true })
    expect(count(commands)).toEqual({ mget: 2, evalsha: 3, publish: 1 })
  })
})
