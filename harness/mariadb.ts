import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'
import { freePort } from './ports.ts'
import { killAndWait, run, sleep, spawnTracked, type Tracked, trackDir, untrackDir } from './procs.ts'

const MARIADBD = process.env.MARIADBD_BIN ?? (existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd')
const INSTALL_DB = process.env.MARIADB_INSTALL_DB_BIN ?? 'mariadb-install-db'

export interface MariaDbServer {
  readonly port: number
  /** `mysql://root@127.0.0.1:PORT/test` (root, empty password, database `test` exists). */
  readonly url: string
  /** Data directory (kept across kill/restart, removed by stop). */
  readonly datadir: string
  readonly pid: number | undefined
  /** Sends the signal (default SIGTERM) and waits for mariadbd to exit. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
  /** Starts mariadbd again on the same port and datadir (killing it first if running). */
  restart(): Promise<void>
  /** Kills mariadbd and removes the data directory. Idempotent. */
  stop(): Promise<void>
}

export interface StartMariaDbOptions {
  port?: number
  /** Extra mariadbd arguments. */
  args?: string[]
  /** Bound on waiting for the server to accept root over TCP (default 30 s). */
  readyTimeoutMs?: number
}

async function canConnect(port: number): Promise<Error | undefined> {
  try {
    const conn = await createConnection({
      host: '127.0.0.1',
      port,
      user: 'root',
      password: '',
      connectTimeout: 1000,
    })
    await conn.end()
    return undefined
  } catch (err) {
    return err as Error
  }
}

async function waitReady(port: number, proc: Tracked, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void proc.exited.then(() => {
    exited = true
  })
  let lastErr: Error | undefined
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(
        `mariadbd on port ${port} exited (code ${proc.child.exitCode}, signal ${proc.child.signalCode}) before accepting connections.\n--- log tail ---\n${proc.tail()}`,
      )
    }
    lastErr = await canConnect(port)
    if (!lastErr) return
    await sleep(100)
  }
  proc.child.kill('SIGKILL')
  throw new Error(
    `mariadbd on port ${port} did not accept root@127.0.0.1 within ${timeoutMs} ms (last error: ${lastErr?.message}).\n--- log tail ---\n${proc.tail()}`,
  )
}

export async function startMariaDb(opts: StartMariaDbOptions = {}): Promise<MariaDbServer> {
  const port = opts.port ?? (await freePort())
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000
  const base = await mkdtemp(join(tmpdir(), `corral-mariadb-${port}-`))
  trackDir(base)
  const datadir = join(base, 'data')

  // Runs as root on CI; --user=root is required for mariadbd to start as root
  // and only allowed (not needed) otherwise.
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const userArgs = isRoot ? ['--user=root'] : []

  let proc: Tracked | undefined
  let stopped = false
  const kill = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> => {
    if (proc) await killAndWait(proc, signal, 30_000)
  }
  const cleanup = async (): Promise<void> => {
    await kill('SIGKILL')
    await rm(base, { recursive: true, force: true })
    untrackDir(base)
  }

  const serverArgs = [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(base, 'mysqld.sock')}`,
    `--pid-file=${join(base, 'mysqld.pid')}`,
    `--tmpdir=${base}`,
    ...userArgs,
    '--skip-name-resolve',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=2',
    '--max-connections=500',
    ...(opts.args ?? []),
  ]

  const launch = async (): Promise<void> => {
    proc = spawnTracked(MARIADBD, serverArgs, { cwd: base })
    await waitReady(port, proc, readyTimeoutMs)
  }

  try {
    const install = await run(
      INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        ...userArgs,
      ],
      readyTimeoutMs,
    )
    if (install.code !== 0) {
      throw new Error(
        `mariadb-install-db failed (code ${install.code}):\n${install.stdout.slice(-2000)}\n${install.stderr.slice(-3000)}`,
      )
    }
    await launch()
    const conn = await createConnection({ host: '127.0.0.1', port, user: 'root', password: '' })
    try {
      await conn.query('CREATE DATABASE IF NOT EXISTS test')
    } finally {
      await conn.end()
    }
  } catch (err) {
    await cleanup()
    throw err
  }

  return {
    port,
    url: `mysql://root@127.0.0.1:${port}/test`,
    datadir,
    get pid() {
      return proc?.child.pid
    },
    kill,
    async restart() {
      if (stopped) throw new Error('restart() after stop()')
      await kill('SIGKILL')
      await launch()
    },
    async stop() {
      if (stopped) return
      stopped = true
      await cleanup()
    },
  }
}
