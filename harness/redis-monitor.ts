import type { Redis } from 'ioredis'

/**
 * The commands clients sent to Redis while `work` ran, as MONITOR saw them (lowercased names;
 * commands a script runs show with source `lua` and are left out: they are part of the script's
 * one command). `admin` is pinged first, so its own handshake is not counted; MONITOR runs on
 * a duplicate of it, closed before returning. An ECHO sent through `admin` after `work`
 * marks the end: MONITOR prints commands in the order Redis ran them.
 */
export async function commandsDuring(admin: Redis, work: () => Promise<unknown>): Promise<string[]> {
  await admin.ping()
  const monitor = await startMonitor(admin)
  const seen: string[] = []
  const marker = `end-${Math.random()}`
  let done = false
  const ended = new Promise<void>((resolve) => {
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (done) return
      if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) {
        done = true
        resolve()
      } else if (source !== 'lua') seen.push(String(args[0]).toLowerCase())
    })
  })
  try {
    await work()
    await admin.echo(marker)
    await ended
  } finally {
    monitor.disconnect()
  }
  return seen
}

/**
 * `admin.monitor()`, with one race of ioredis's closed: Redis's "+OK" to MONITOR and the first
 * monitored commands can arrive in one read, before ioredis marks the connection as monitoring,
 * and it then reports them as "Command queue state error" (and `monitor()` rejects). Those lines
 * come before anything a caller measures, so that error is ignored until monitoring starts.
 */
export async function startMonitor(admin: Redis): Promise<Redis> {
  const monitor = admin.duplicate({ monitor: true, lazyConnect: false })
  const early = (error: Error) => {
    if (!/Command queue state error/.test(error.message)) failed(error)
  }
  let failed: (error: Error) => void = () => {}
  monitor.on('error', early)
  try {
    await new Promise<void>((resolve, reject) => {
      failed = reject
      monitor.once('monitoring', () => resolve())
    })
  } catch (error) {
    monitor.disconnect()
    throw error
  }
  monitor.off('error', early)
  return monitor
}
