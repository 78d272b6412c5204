import { Redis } from 'ioredis'
import { memoryStore, redisStore, type StoreFactory } from '../src/index.ts'
import { type RedisServer, startRedis } from './redis-server.ts'

/** A store under test, and how to reach what it holds directly. */
export interface StoreUnderTest {
  name: string
  factory(): StoreFactory
  /** Writes raw bytes where the entry for `storeKey` lives (Redis only). */
  raw?: Redis
  close(): Promise<void>
}

export async function memoryUnderTest(): Promise<StoreUnderTest> {
  return { name: 'memory', factory: () => memoryStore(), close: async () => {} }
}

export async function redisUnderTest(): Promise<StoreUnderTest & { server: RedisServer }> {
  const server = await startRedis()
  const raw = new Redis(server.url, { protocol: 2 })
  return {
    name: 'redis',
    server,
    raw,
    factory: () => redisStore({ url: server.url }),
    close: async () => {
      raw.disconnect()
      await server.stop()
    },
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A counted fake origin: resolves `value(key)` after `ms`. */
export function countingLoader<T>(value: (n: number) => T, ms = 20) {
  const state = { calls: 0 }
  const loader = async () => {
    state.calls += 1
    const n = state.calls
    await sleep(ms)
    return value(n)
  }
  return Object.assign(loader, { state })
}
