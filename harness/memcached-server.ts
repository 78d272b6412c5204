import { waitUntilAnswers } from './answers.ts'
import { freePort } from './ports.ts'
import { killAndWait, spawnTracked, type Tracked } from './procs.ts'

const MEMCACHED = process.env.MEMCACHED_BIN ?? 'memcached'

export interface MemcachedServer {
  readonly port: number
  /** `127.0.0.1:PORT`, as `memcachedStore({ servers })` takes it. */
  readonly address: string
  /** pid of the current memcached process (changes after restart). */
  readonly pid: number | undefined
  /** Sends the signal (default SIGTERM) and waits for the process to exit. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
  /** Starts the server again on the same port (empty, as memcached always starts) and waits until it answers. */
  restart(): Promise<void>
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void
  /** Thaws a paused process (SIGCONT). */
  resume(): void
  /** Kills the server. Idempotent. */
  stop(): Promise<void>
}

export interface StartMemcachedOptions {
  port?: number
  /** Extra arguments, e.g. ['-I', '2m'] for a larger item size limit. */
  args?: string[]
  /** How long to wait for the first answer (default 5000 ms). */
  readyTimeoutMs?: number
}

/**
 * Starts a throwaway memcached on a free loopback port (TCP only, 64 MB). Root may run it only
 * with `-u`, so the current user is named when that is root.
 */
export async function startMemcached(opts: StartMemcachedOptions = {}): Promise<MemcachedServer> {
  const port = opts.port ?? (await freePort())
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5000
  const args = [
    '-l',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    '0',
    '-m',
    '64',
    ...(process.getuid?.() === 0 ? ['-u', 'root'] : []),
    ...(opts.args ?? []),
  ]
  let proc: Tracked | undefined
  let stopped = false

  const launch = async (): Promise<void> => {
    proc = spawnTracked(MEMCACHED, args)
    await waitUntilAnswers(
      'memcached',
      port,
      proc,
      { request: 'version\r\n', expect: 'VERSION', everyMs: 25 },
      readyTimeoutMs,
    )
  }
  const kill = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> => {
    if (!proc) return
    // A stopped process only dies of SIGKILL; thaw it so SIGTERM works too.
    proc.child.kill('SIGCONT')
    await killAndWait(proc, signal)
  }

  try {
    await launch()
  } catch (err) {
    await kill('SIGKILL')
    throw err
  }

  return {
    port,
    address: `127.0.0.1:${port}`,
    get pid() {
      return proc?.child.pid
    },
    kill,
    async restart() {
      if (stopped) throw new Error('restart() after stop()')
      await kill('SIGKILL')
      await launch()
    },
    pause() {
      proc?.child.kill('SIGSTOP')
    },
    resume() {
      proc?.child.kill('SIGCONT')
    },
    async stop() {
      if (stopped) return
      stopped = true
      await kill('SIGKILL')
    },
  }
}
