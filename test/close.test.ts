import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnWorker } from '../harness/child.ts'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

describe('close()', () => {
  let redis: RedisServer
  let memcached: MemcachedServer
  beforeAll(async () => {
    ;[redis, memcached] = await Promise.all([startRedis(), startMemcached()])
  })
  afterAll(async () => {
    await Promise.all([redis?.stop(), memcached?.stop()])
  })

  it('leaves no timers or sockets behind: the process exits by itself', async () => {
    const worker = spawnWorker(new URL('./fixtures/close-worker.ts', import.meta.url).pathname, [], {
      REDIS_URL: redis.url,
      MEMCACHED_ADDR: memcached.address,
    })
    await worker.waitFor((m) => (m as { event?: string }).event === 'closed', 20_000)
    const closedAt = Date.now()
    const code = await Promise.race([worker.exited, new Promise((r) => setTimeout(() => r('still running'), 5_000))])
    if (code === 'still running') await worker.kill('SIGKILL')
    expect(code).toBe(0)
    expect(Date.now() - closedAt).toBeLessThan(2_000)
  }, 30_000)
})
