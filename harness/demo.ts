import { spawnWorker, type Worker } from './child.ts'
import { freePort } from './ports.ts'
import { sleep } from './procs.ts'

export interface DemoProcess {
  url: string
  worker: Worker
  stop(): Promise<number | null>
}

/**
 * `npm start` as a child process (demo/server.ts on a free PORT), ready once it answers /stats and
 * its banner (printed after it listens, and read from its stdout in chunks) has come in whole.
 */
export async function startDemoProcess(env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<DemoProcess> {
  const port = await freePort()
  const worker = spawnWorker('demo/server.ts', [], { PORT: String(port), ...env })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if ((await fetch(`${url}/stats`)).ok && worker.output().includes('  try:')) break
    } catch {
      // not listening yet
    }
    if (worker.child.exitCode !== null || Date.now() > deadline) {
      worker.child.kill('SIGKILL')
      throw new Error(`the demo did not come up on ${url}:\n${worker.output()}`)
    }
    await sleep(100)
  }
  return { url, worker, stop: () => worker.kill('SIGTERM') }
}
