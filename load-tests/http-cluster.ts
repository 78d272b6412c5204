/**
 * The demo service (demo/server.ts) under node:cluster: the primary forks WORKERS workers that all
 * listen on PORT, prints {"type":"ready"} once every worker listens, and takes its workers down
 * on SIGTERM. Workers inherit the environment (PORT, MYSQL_URL, REDIS_URL, CORRAL_MODE).
 */
import cluster from 'node:cluster'

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS ?? 2)
  let listening = 0
  cluster.on('listening', () => {
    if (++listening === n) process.stdout.write(`${JSON.stringify({ type: 'ready', workers: n })}\n`)
  })
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      process.stdout.write(`${JSON.stringify({ type: 'worker-died', pid: worker.process.pid, code, signal })}\n`)
    }
  })
  let stopping = false
  process.once('SIGTERM', () => {
    stopping = true
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
    const wait = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
    }, 50)
    setTimeout(() => {
      clearInterval(wait)
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      process.exit(0)
    }, 5_000).unref()
  })
  for (let i = 0; i < n; i++) cluster.fork()
} else {
  await import('../demo/server.ts')
}
