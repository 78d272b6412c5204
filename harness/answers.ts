import { connect } from 'node:net'
import { sleep, type Tracked } from './procs.ts'

/** One line-protocol exchange over raw TCP: sends `request`, resolves true if the first reply line starts with `expect`. */
function answersOnce(port: number, request: string, expect: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok: boolean): void => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.once('error', () => done(false))
    sock.once('connect', () => sock.write(request))
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8')
      if (buf.includes('\r\n')) done(buf.startsWith(expect))
    })
  })
}

/**
 * Waits until the server `proc` started on `port` answers `request` with `expect`; fails at once,
 * with the end of its output, if it exits first, and kills it if it stays silent past `timeoutMs`.
 */
export async function waitUntilAnswers(
  what: string,
  port: number,
  proc: Tracked,
  probe: { request: string; expect: string; everyMs: number },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void proc.exited.then(() => {
    exited = true
  })
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(
        `${what} on port ${port} exited (code ${proc.child.exitCode}, signal ${proc.child.signalCode}) before answering.\n--- output tail ---\n${proc.tail()}`,
      )
    }
    if (await answersOnce(port, probe.request, probe.expect)) return
    await sleep(probe.everyMs)
  }
  proc.child.kill('SIGKILL')
  throw new Error(`${what} on port ${port} did not answer within ${timeoutMs} ms.\n--- output tail ---\n${proc.tail()}`)
}
