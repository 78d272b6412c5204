import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'

/**
 * Shared bookkeeping for throwaway server processes: every child spawned
 * through `spawnTracked` is SIGKILLed when the test process exits, so no
 * server outlives the test run even if a test forgets to stop it.
 *
 * When util-linux `setpriv` is available the server is additionally started
 * through `setpriv --pdeathsig KILL` (which then execs the server, so the pid
 * is the server's own): the kernel kills it even if the test process dies
 * from SIGKILL, where no 'exit' handler can run.
 */
const SETPRIV = '/usr/bin/setpriv'
const useSetpriv = process.platform === 'linux' && existsSync(SETPRIV)
const live = new Set<ChildProcess>()
let hooked = false

function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 })
    } catch {
      // best effort
    }
  }
  dirs.clear()
}

const dirs = new Set<string>()
/** Registers a temp dir to be removed (best effort) when the test process exits. */
export function trackDir(dir: string): void {
  installExitHook()
  dirs.add(dir)
}
/** Stops tracking a dir (after it was removed normally). */
export function untrackDir(dir: string): void {
  dirs.delete(dir)
}

function installExitHook(): void {
  if (hooked) return
  hooked = true
  process.on('exit', killAll)
}

export interface Tracked {
  child: ChildProcess
  /** Last ~8 KiB of combined stdout/stderr, for error messages. */
  tail(): string
  /** Resolves with the exit code (or null when killed by a signal). */
  exited: Promise<number | null>
}

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): Tracked {
  installExitHook()
  const [file, argv] = useSetpriv ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args]
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  live.add(child)
  let buf = ''
  const onData = (d: Buffer): void => {
    buf += d.toString('utf8')
    if (buf.length > 16384) buf = buf.slice(-8192)
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(child.exitCode)
      return
    }
    child.once('exit', (code) => {
      live.delete(child)
      resolve(code)
    })
    child.once('error', (err) => {
      buf += `\n[spawn error] ${err.message}`
      live.delete(child)
      resolve(null)
    })
  })
  return { child, exited, tail: () => buf.slice(-4096) }
}

/** Sends `signal` and waits for the process to exit (escalates to SIGKILL after `graceMs`). */
export async function killAndWait(t: Tracked, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  const { child } = t
  if (child.exitCode !== null || child.signalCode !== null) {
    await t.exited
    return
  }
  child.kill(signal)
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    t.exited.then(() => false),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(true), graceMs)
    }),
  ])
  clearTimeout(timer)
  if (timedOut) {
    child.kill('SIGKILL')
    await t.exited
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Runs a command to completion, capturing output. Never throws on non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8')
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8')
    })
    child.once('error', (err) => resolve({ code: null, stdout, stderr: `${stderr}\n${err.message}` }))
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}
