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
  const monitor = await admin.monitor()
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
