/**
 * How long a write in one process takes to reach the L1 tiers of others while the bus is healthy:
 * the X of the coherence guarantee (docs/tiers.md). A writer cache without L1 (one name) `set`s a
 * key; reader processes with L1 (other names, same namespace) read it until they see the new
 * value. The delay is from the moment `set` resolved in the writer to the moment a reader saw the
 * value (one machine, one clock).
 *
 *   node --import tsx bench/coherence.ts        (COHERENCE_READERS=3 COHERENCE_WRITES=300)
 */

import { spawnWorker } from '../harness/child.ts'
import { startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'

const READERS = Number(process.env.COHERENCE_READERS) || 3
const WRITES = Number(process.env.COHERENCE_WRITES) || 300
const READER = new URL('./coherence-reader.ts', import.meta.url).pathname
type Reply = { id?: number; event?: string; seenAt?: number }

const redis = await startRedis()
const namespace = 'coherence'
const env = { REDIS_URL: redis.url, NAMESPACE: namespace }
const readers = Array.from({ length: READERS }, () => spawnWorker<Reply>(READER, [], env))
const writer = createCache({ name: 'writer', namespace, store: redisStore({ url: redis.url }), logger: false })
const now = () => performance.timeOrigin + performance.now()
try {
  await Promise.all(readers.map((r) => r.waitFor((m) => m.event === 'started', 20_000)))
  await writer.set('k', 0)
  let id = 0
  const ask = async (command: object) => {
    const mine = ++id
    for (const r of readers) r.send({ id: mine, ...command })
    return Promise.all(readers.map((r) => r.waitFor((m) => m.id === mine, 10_000)))
  }
  await ask({ op: 'warm' })
  const delays: number[] = []
  for (let i = 1; i <= WRITES; i++) {
    const mine = ++id
    // Readers start reading (they see the old value, from L1) before the write.
    for (const r of readers) r.send({ id: mine, value: i })
    await new Promise((resolve) => setTimeout(resolve, 2))
    await writer.set('k', i)
    const written = now()
    const replies = await Promise.all(readers.map((r) => r.waitFor((m) => m.id === mine, 10_000)))
    for (const reply of replies) delays.push(Math.max(0, (reply.seenAt as number) - written))
  }
  delays.sort((a, b) => a - b)
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] as number
  console.log(
    `${READERS} reader processes x ${WRITES} writes: p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${at(1).toFixed(2)} ms`,
  )
} finally {
  for (const r of readers) r.send({ op: 'exit' })
  await Promise.all(readers.map((r) => Promise.race([r.exited, new Promise((res) => setTimeout(res, 3_000))])))
  for (const r of readers) await r.kill('SIGKILL')
  await writer.close()
  await redis.stop()
}
