import { type Demo, type Mode, memcachedServersFrom, startDemo } from './app.ts'
import { startupProblem } from './startup-error.ts'

/**
 * `npm start`: the demo on PORT (default 3000). Nothing to install by default (memory store, a fake
 * database in the process); REDIS_URL (or MEMCACHED_URL / MEMCACHED_ADDR) and MYSQL_URL switch to the real
 * thing, one variable each.
 */
const env = process.env
const mode: Mode = env.CORRAL_DISABLED === '1' ? 'off' : ((env.CORRAL_MODE as Mode | undefined) ?? 'corral')
if (!['corral', 'aside', 'off'].includes(mode)) {
  console.error(`CORRAL_MODE must be corral, aside or off, got ${JSON.stringify(mode)}`)
  process.exit(2)
}

const port = Number(env.PORT ?? 3000)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number (0-65535), got ${JSON.stringify(env.PORT)}`)
  process.exit(2)
}
for (const [name, value] of [
  ['REDIS_URL', env.REDIS_URL],
  ['MYSQL_URL', env.MYSQL_URL],
] as const) {
  if (value && !URL.canParse(value)) {
    console.error(
      `${name} must be a URL such as ${name === 'REDIS_URL' ? 'redis://127.0.0.1:6379' : 'mysql://root@127.0.0.1:3306/corral_demo'}, got ${JSON.stringify(value)}`,
    )
    process.exit(2)
  }
}

let demo: Demo
try {
  demo = await startDemo({
    port,
    host: env.HOST ?? '127.0.0.1',
    mode,
    redisUrl: env.REDIS_URL || undefined,
    memcachedServers: memcachedServersFrom(env),
    mysqlUrl: env.MYSQL_URL || undefined,
    queryMs: env.QUERY_MS ? Number(env.QUERY_MS) : undefined,
    ttl: env.CACHE_TTL || undefined,
    statsIntervalMs: env.STATS_INTERVAL_MS ? Number(env.STATS_INTERVAL_MS) : undefined,
    l1Entries: env.L1_ENTRIES ? Number(env.L1_ENTRIES) : undefined,
  })
} catch (error) {
  const problem = startupProblem(error, env)
  if (problem === undefined) throw error
  console.error(`corral demo: ${problem}`)
  process.exit(1)
}

console.log(`corral demo on ${demo.url}  (open it in a browser)`)
console.log(`  cache:  ${demo.mode === 'off' ? 'off (CORRAL_DISABLED=1)' : `${demo.store}, mode ${demo.mode}`}`)
console.log(`  origin: ${demo.origin.description}`)
console.log(`  try:    curl ${demo.url}/persons/1   curl ${demo.url}/areas   npm run demo:herd`)

let closing = false
async function shutdown(signal: string): Promise<void> {
  if (closing) return
  closing = true
  console.log(`${signal}: closing`)
  // A hung close must not keep the process alive forever.
  setTimeout(() => process.exit(1), 5_000).unref()
  await demo.close()
  process.exit(0)
}
process.once('SIGINT', () => void shutdown('SIGINT'))
process.once('SIGTERM', () => void shutdown('SIGTERM'))
