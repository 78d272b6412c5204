import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitUntilAnswers } from './answers.ts'
import { freePort } from './ports.ts'
import { killAndWait, run, sleep, spawnTracked, type Tracked, trackDir, untrackDir } from './procs.ts'

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server'
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli'

export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** pid of the current redis-server process (changes after restart). */
  readonly pid: number | undefined
  /** Directory used as `--dir` (removed by `stop`). */
  readonly dir: string
  /** Sends the signal (default SIGTERM) and waits for the process to exit. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
  /** Starts the server again on the same port and waits until it answers PING. Kills it first if running. */
  restart(): Promise<void>
  /** Kills the server and removes its directory. Idempotent. */
  stop(): Promise<void>
}

export interface StartRedisOptions {
  port?: number
  /** Extra arguments appended to the redis-server command line. */
  args?: string[]
  /** How long to wait for PONG (default 5000 ms). */
  readyTimeoutMs?: number
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort())
  const extra = opts.args ?? []
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5000
  const dir = await mkdtemp(join(tmpdir(), `corral-redis-${port}-`))
  trackDir(dir)
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    ...extra,
  ]

  let proc: Tracked | undefined
  let stopped = false

  const launch = async (): Promise<void> => {
    proc = spawnTracked(REDIS_SERVER, args, { cwd: dir })
    await waitUntilAnswers(
      'redis-server',
      port,
      proc,
      { request: 'PING\r\n', expect: '+PONG', everyMs: 50 },
      readyTimeoutMs,
    )
  }

  const kill = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> => {
    if (proc) await killAndWait(proc, signal)
  }

  try {
    await launch()
  } catch (err) {
    await kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
    untrackDir(dir)
    throw err
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
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
      await kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
      untrackDir(dir)
    },
  }
}

export interface RedisCluster {
  readonly ports: number[]
  readonly nodes: { host: string; port: number }[]
  readonly servers: RedisServer[]
  stop(): Promise<void>
}

async function clusterInfo(port: number): Promise<string> {
  const r = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'], 5000)
  return r.stdout
}

/**
 * Starts `n` cluster-enabled nodes and joins them with `redis-cli --cluster create`
 * (`--cluster-replicas 1`, so n must be >= 6 for 3 masters + 3 replicas),
 * then waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(n = 6, readyTimeoutMs = 20_000): Promise<RedisCluster> {
  const servers: RedisServer[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()))
  }
  try {
    const ports: number[] = []
    while (ports.length < n) {
      const p = await freePort()
      // cluster bus uses port + 10000; keep both in range and distinct
      if (p + 10000 > 65535 || ports.includes(p)) continue
      ports.push(p)
    }
    await Promise.all(
      ports.map(async (port) => {
        // `--dir` makes redis chdir into its temp dir, so the relative
        // config file lands in <dir>/nodes.conf and is removed by stop().
        const server = await startRedis({
          port,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
        })
        servers.push(server)
      }),
    )
    const create = await run(
      REDIS_CLI,
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      readyTimeoutMs,
    )
    if (create.code !== 0) {
      throw new Error(
        `redis-cli --cluster create failed (code ${create.code}):\n${create.stdout.slice(-3000)}\n${create.stderr.slice(-2000)}`,
      )
    }
    const deadline = Date.now() + readyTimeoutMs
    let last: string[] = []
    for (;;) {
      last = await Promise.all(ports.map(clusterInfo))
      if (last.every((info) => info.includes('cluster_state:ok'))) break
      if (Date.now() > deadline) {
        throw new Error(
          `redis cluster on ports ${ports.join(',')} not ok within ${readyTimeoutMs} ms.\n--- cluster info of node 1 ---\n${last[0]}`,
        )
      }
      await sleep(100)
    }
    return {
      ports,
      nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
      servers,
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
