import { spawnWorker, type Worker } from './child.ts'

const WORKER = new URL('../test/fixtures/cache-worker.ts', import.meta.url).pathname

export interface CacheProcessConfig {
  url: string
  namespace: string
  name: string
  /** With `verifyAfter` and friends, passed to the cache as they are. */
  l1?: Record<string, unknown>
  ttl?: number
  grace?: number
  lock?: boolean
  /** 'passed': a client made in the process with ioredis defaults; 'owned': the cache opens one from the url. */
  client?: 'passed' | 'owned'
}

export type Reply = {
  id?: number
  event?: string
  value?: unknown
  loads?: number
  ms?: number | null
  error?: string
  dateNow?: number
  perfNow?: number
}

/** A cache in a child process (test/fixtures/cache-worker.ts): `ask` sends one command and waits for its reply. */
export interface CacheProcess {
  readonly worker: Worker<Reply>
  ask(command: Record<string, unknown>, timeoutMs?: number): Promise<Reply>
  close(): Promise<void>
}

let ids = 0

/**
 * Starts a cache process and waits until its first load went through. `env` reaches the child:
 * NODE_OPTIONS there preloads a module (a skewed clock) before anything else runs.
 */
export async function spawnCacheProcess(
  config: CacheProcessConfig,
  env: NodeJS.ProcessEnv = {},
): Promise<CacheProcess> {
  const worker = spawnWorker<Reply>(WORKER, [], { CACHE_CONFIG: JSON.stringify(config), ...env })
  await worker.waitFor((m) => m.event === 'started', 20_000)
  return {
    worker,
    async ask(command, timeoutMs = 10_000) {
      const id = ++ids
      worker.send({ id, ...command })
      const reply = await worker.waitFor((m) => m.id === id, timeoutMs)
      if (reply.error) throw new Error(`cache process: ${reply.error}`)
      return reply
    },
    async close() {
      worker.send({ op: 'exit' })
      const timer = setTimeout(() => void worker.kill('SIGKILL'), 3_000)
      await worker.exited
      clearTimeout(timer)
    },
  }
}
