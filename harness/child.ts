import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * A child Node process running a TypeScript file through tsx. The child talks
 * JSON lines: every stdout line that parses as JSON is pushed to `messages`
 * (other lines go to `output`); `send` writes one JSON line to its stdin.
 */
export interface Worker<M = unknown> {
  readonly child: ChildProcessWithoutNullStreams
  /** All JSON messages received so far, in order. */
  readonly messages: M[]
  /** Non-JSON stdout lines and stderr text, for debugging failures. */
  output(): string
  /**
   * Resolves with the first message (already received or future) matching
   * `predicate`; rejects after `timeoutMs` or if the child exits first.
   */
  waitFor<T extends M = M>(predicate: (msg: M) => boolean, timeoutMs?: number): Promise<T>
  /** Writes `JSON.stringify(obj) + "\n"` to the child's stdin. */
  send(obj: unknown): void
  /** Sends a signal (default SIGTERM) and waits for exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>
  /** Exit code, or null when terminated by a signal. */
  readonly exited: Promise<number | null>
}

const live = new Set<ChildProcessWithoutNullStreams>()
let hooked = false

export function spawnWorker<M = unknown>(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Worker<M> {
  if (!hooked) {
    hooked = true
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL')
    })
  }
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  live.add(child)

  const messages: M[] = []
  let out = ''
  const waiters = new Set<{ pred: (m: M) => boolean; resolve: (m: M) => void }>()

  createInterface({ input: child.stdout }).on('line', (line) => {
    let msg: M
    try {
      msg = JSON.parse(line) as M
    } catch {
      out += `${line}\n`
      return
    }
    messages.push(msg)
    for (const w of waiters) {
      if (w.pred(msg)) {
        waiters.delete(w)
        w.resolve(msg)
      }
    }
  })
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString('utf8')
    if (out.length > 65536) out = out.slice(-32768)
  })
  child.stdin.on('error', () => {
    // child gone; writes after exit are ignored
  })

  let exitCode: number | null | undefined
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child)
      exitCode = code
      resolve(code)
    })
  })

  // 'close' fires after stdio is drained, i.e. after every stdout line was parsed.
  const closed = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code))
  })
  const output = (): string => out.slice(-8192)

  return {
    child,
    messages,
    output,
    exited,
    waitFor<T extends M = M>(predicate: (msg: M) => boolean, timeoutMs = 10_000): Promise<T> {
      const found = messages.find(predicate)
      if (found !== undefined) return Promise.resolve(found as T)
      return new Promise<T>((resolve, reject) => {
        const w = {
          pred: predicate,
          resolve: (m: M) => {
            clearTimeout(timer)
            resolve(m as T)
          },
        }
        const fail = (why: string): void => {
          waiters.delete(w)
          clearTimeout(timer)
          reject(
            new Error(
              `spawnWorker(${file}): ${why}; ${messages.length} messages received, last: ${JSON.stringify(messages.at(-1))}\n--- output ---\n${output()}`,
            ),
          )
        }
        const timer = setTimeout(() => fail(`no matching message within ${timeoutMs} ms`), timeoutMs)
        waiters.add(w)
        void closed.then((code) => {
          // readline may emit its last line on the same tick as 'close'
          setImmediate(() => {
            if (waiters.has(w)) fail(`child exited (code ${code}) before a matching message`)
          })
        })
      })
    },
    send(obj: unknown) {
      if (exitCode === undefined && child.stdin.writable) child.stdin.write(`${JSON.stringify(obj)}\n`)
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (exitCode === undefined) child.kill(signal)
      return exited
    },
  }
}
