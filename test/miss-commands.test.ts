import { describe, expect, it } from 'vitest'
import { commandsDuring } from '../harness/redis-monitor.ts'
import { useRedis } from '../harness/use-redis.ts'
import { createCache, redisStore } from '../src/index.ts'

let counter = 0
const ns = () => `cmds${process.pid}-${++counter}`

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
    const commands = await commandsDuring(redis.raw, async () => {
      expect(await cache.wrap('cold', async () => 'loaded')).toBe('loaded')
    })
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

  it('the write that ends a miss moves the namespace generation and its announcement carries it', async () => {
    const namespace = ns()
    const cache = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false, lock: false })
    await cache.wrap('first', async () => 'loaded')
    const subscriber = redis.raw.duplicate()
    const heard: { kind: string; key?: string; gens?: number[] }[] = []
    const got = new Promise<void>((resolve) => {
      subscriber.on('message', (_channel: string, raw: string) => {
        heard.push(JSON.parse(raw))
        resolve()
      })
    })
    await subscriber.subscribe(`corral:${namespace}:bus`)
    const before = Number(await redis.raw.get(`{${namespace}:}:gen`))
    // A key JSON must escape: the announcement names it exactly.
    const key = 'cold "quoted" \\ ü\n'
    await cache.wrap(key, async () => 'loaded')
    await got
    const after = Number(await redis.raw.get(`{${namespace}:}:gen`))
    expect(after).toBe(before + 1)
    expect(heard).toEqual([{ kind: 'ready', key: `${namespace}:${key}`, src: expect.any(String), gens: [after] }])
    subscriber.disconnect()
    await cache.close()
  })

  it('a batch moves the generation once per entry written, and its announcements carry every one', async () => {
    const namespace = ns()
    const cache = createCache({ namespace, store: redisStore({ url: redis.server.url }), logger: false, lock: false })
    await cache.wrap('first', async () => 'loaded')
    const subscriber = redis.raw.duplicate()
    const gens: number[] = []
    let keys = 0
    let all: () => void = () => {}
    const got = new Promise<void>((resolve) => {
      all = resolve
    })
    subscriber.on('message', (_channel: string, raw: string) => {
      const message = JSON.parse(raw) as { keys?: string[]; gens?: number[] }
      gens.push(...(message.gens ?? []))
      keys += message.keys?.length ?? 0
      if (keys === 30) all()
    })
    await subscriber.subscribe(`corral:${namespace}:bus`)
    const before = Number(await redis.raw.get(`{${namespace}:}:gen`))
    const wanted = Array.from({ length: 30 }, (_, i) => `k${i}`)
    await cache.wrapMany(wanted, async (missing) => Object.fromEntries(missing.map((k) => [k, k])))
    await got
    const after = Number(await redis.raw.get(`{${namespace}:}:gen`))
    expect(after).toBe(before + 30)
    expect(gens.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => before + 1 + i))
    subscriber.disconnect()
    await cache.close()
  })
})
