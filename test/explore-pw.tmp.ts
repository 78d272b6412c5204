import { Redis } from 'ioredis'
import { createCache, redisStore } from '../src/index.ts'
import { startRedis } from './support/redis-server.ts'

const server = await startRedis()
const admin = new Redis({ port: server.port, protocol: 2 })
await admin.config('SET', 'requirepass', 'adminpw')
process.on('unhandledRejection', (e) => console.log('UNHANDLED', e))
const url = `redis://default:wrong@127.0.0.1:${server.port}`
for (const mode of ['url', 'client', 'client-plain'] as const) {
  for (const lock of [false, true]) {
    const client =
      mode === 'client'
        ? new Redis(url, { protocol: 2, commandTimeout: 300 })
        : mode === 'client-plain'
          ? new Redis(url)
          : undefined
    const cache = createCache({
      store: client ? redisStore({ client }) : redisStore({ url }),
      lock,
      l1: lock ? { maxEntries: 10 } : false,
      logger: false,
    })
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const t = performance.now()
      const v = await Promise.race([
        cache.wrap(`k${i}`, async () => 'loaded'),
        new Promise((r) => setTimeout(() => r('HUNG'), 8000)),
      ])
      times.push(Math.round(performance.now() - t))
      if (v !== 'loaded') console.log(mode, lock, 'wrap ->', v)
    }
    const t = performance.now()
    const err = await cache.set('s', 1).then(
      () => 'resolved',
      (e) => `${e?.constructor?.name}: ${e.message}`,
    )
    console.log(mode, 'lock', lock, 'wrap ms', times, 'set ->', err, Math.round(performance.now() - t), 'ms')
    await cache.close()
    client?.disconnect()
  }
}
admin.disconnect()
await server.stop()
process.exit(0)
