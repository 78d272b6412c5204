// A reader process for bench/coherence.ts: a cache with L1 under another name than the writer's,
// on the same namespace. On `{ id, value }` it reads `key` until it sees `value` and reports the
// moment it did (epoch ms, high resolution).
import { createInterface } from 'node:readline'
import { createCache, redisStore } from '../src/index.ts'

const cache = createCache({
  name: `reader-${process.pid}`,
  namespace: process.env.NAMESPACE as string,
  store: redisStore({ url: process.env.REDIS_URL as string }),
  l1: { maxEntries: 1_000 },
  ttl: '1h',
  logger: false,
})
const now = () => performance.timeOrigin + performance.now()
const say = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`)

createInterface({ input: process.stdin }).on('line', async (line) => {
  const command = JSON.parse(line) as { id?: number; op?: string; value?: number }
  if (command.op === 'exit') {
    await cache.close()
    process.exit(0)
  }
  if (command.op === 'warm') {
    await cache.get('k')
    say({ id: command.id })
    return
  }
  for (;;) {
    if ((await cache.get('k')) === command.value) break
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  say({ id: command.id, seenAt: now() })
})
await cache.wrap('__ready', () => 1)
say({ event: 'started' })
