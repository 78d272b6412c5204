import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * Global setup for the suite. Every process a test starts (redis-server, mariadbd, prometheus,
 * memcached, chromium, child workers) inherits CORRAL_TEST_RUN from the test workers; when the
 * run ends, none of them may still be alive. A server left behind fails the run, naming it.
 */
const RUN = 'CORRAL_TEST_RUN'

interface Leftover {
  pid: number
  command: string
}

/** Live (not zombie) processes whose environment carries this run's id. */
function processesOf(run: string): Leftover[] {
  const found: Leftover[] = []
  const marker = `${RUN}=${run}`
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker)) continue
      const state = readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '')[0]
      if (state === 'Z' || state === 'X') continue
      const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim()
      // The test workers themselves end with the run; what they started must end before.
      if (/node_modules[/\\](vitest|tinypool)/.test(command)) continue
      found.push({ pid, command })
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found
}

export function setup(): () => Promise<void> {
  const run = randomUUID()
  process.env[RUN] = run
  return async () => {
    if (process.platform !== 'linux') return
    // A SIGKILLed server takes a moment to disappear: wait for that, not longer.
    const deadline = Date.now() + 10_000
    let left = processesOf(run)
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      left = processesOf(run)
    }
    if (left.length > 0) {
      for (const { pid } of left) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      // vitest reports an error thrown here but keeps its exit code: set it ourselves.
      process.exitCode = 1
      throw new Error(
        `the test run left ${left.length} process(es) running (now killed):\n${left.map((p) => `  ${p.pid} ${p.command}`).join('\n')}`,
      )
    }
  }
}
