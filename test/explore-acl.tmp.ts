import { Redis } from 'ioredis'
import { createCache, redisStore } from '../src/index.ts'
import { startRedis } from './support/redis-server.ts'

const server = await startRedis()
const admin = new Redis({ port: server.port, protocol: 2 })
await admin.config('SET', 'requirepass', 'adminpw')
const cmds = (process.env.CMDS ?? '').split(' ').filter(Boolean)
await admin.call('ACL', 'SETUSER', 'corral', 'reset', 'on', '>secret', '~*', '&*', '-@all', ...cmds.map((c) => `+${c}`))
const warnings: string[] = []
const logger = {
  warn: (m: string, c?: unknown) => warnings.push(`${m} ${JSON.stringify(c)}`),
  error: (m: string, c?: unknown) => warnings.push(`E ${m} ${JSON.stringify(c)}`),
  info() {},
  debug() {},
} as never
const url = `redis://corral:secret@127.0.0.1:${server.port}`
const a = createCache({ store: redisStore({ url }), namespace: 'acl', l1: { maxEntries: 100 }, lock: true, logger })
const b = createCache({
  store: redisStore({ client: new Redis(url, { protocol: 2 }) }),
  namespace: 'acl',
  l1: { maxEntries: 100 },
  lock: true,
  logger,
})
const out: unknown[] = []
try {
  out.push(await a.wrap('k', async () => 1, { tags: ['t'] }))
  out.push(await b.wrap('k', async () => 2, { tags: ['t'] }))
  await a.set('s', { x: 1 }, { tags: ['t'] })
  out.push(await b.get('s'))
  await a.invalidateTags(['t'])
  out.push(await b.get('s'))
  out.push(await a.increment('c', 2, { ttl: '10s' }))
  out.push(await b.increment('c', 3))
  await a.delete('c')
  out.push(await b.wrapMany(['m1', 'm2'], async (ks) => Object.fromEntries(ks.map((k) => [k, k]))))
  out.push(
    await Promise.all([
      a.wrap('herd', async () => {
        await new Promise((r) => setTimeout(r, 100))
        return 'A'
      }),
      b.wrap('herd', async () => 'B'),
    ]),
  )
  out.push(await b.get('herd'))
  await a.set('forever', 1, { ttl: Infinity })
  await a.set('forever', 2, { ttl: Infinity })
  out.push(await b.get('forever'))
} catch (e) {
  out.push(`THREW ${e}`)
}
console.log(JSON.stringify(out))
const log = (await admin.call('ACL', 'LOG')) as unknown[][]
console.log('ACL LOG', JSON.stringify(log))
console.log('warnings', warnings)
await a.close()
await b.close()
admin.disconnect()
await server.stop()
process.exit(0)
