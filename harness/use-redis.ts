import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { type RedisServer, type StartRedisOptions, startRedis } from './redis-server.ts'

/**
 * A throwaway redis-server for the enclosing `describe`, and a raw client to look at what corral
 * wrote. The fields are filled in `beforeAll`; read them inside tests.
 */
export function useRedis(options?: StartRedisOptions): { server: RedisServer; raw: Redis } {
  const ctx = {} as { server: RedisServer; raw: Redis }
  beforeAll(async () => {
    ctx.server = await startRedis(options)
    ctx.raw = new Redis(ctx.server.url, { protocol: 2 })
  })
  afterAll(async () => {
    ctx.raw?.disconnect()
    await ctx.server?.stop()
  })
  return ctx
}
