import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { spawnWorker } from '../harness/child.ts'
import { freePort } from '../harness/ports.ts'

/** `npm start` with a setup mistake exits with one line saying what to do, not a stack trace. */
async function startFails(env: NodeJS.ProcessEnv): Promise<{ code: number | null; lines: string[] }> {
  const worker = spawnWorker('demo/server.ts', [], env)
  const code = await worker.exited
  return { code, lines: worker.output().trim().split('\n') }
}

describe('demo start-up mistakes', () => {
  it('a busy port', async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const port = (busy.address() as { port: number }).port
    try {
      const { code, lines } = await startFails({ PORT: String(port) })
      expect(code).toBe(1)
      expect(lines).toEqual([
        `corral demo: port ${port} is already in use: stop what runs there, or start on another port (PORT=${port + 1} npm start)`,
      ])
    } finally {
      busy.close()
    }
  })

  it('a PORT that is not a port', async () => {
    const { code, lines } = await startFails({ PORT: 'eighty' })
    expect(code).toBe(2)
    expect(lines).toEqual(['PORT must be a port number (0-65535), got "eighty"'])
  })

  it('a MYSQL_URL that is not a URL, and one where nothing listens', async () => {
    const garbled = await startFails({ PORT: '0', MYSQL_URL: 'root@localhost/db' })
    expect(garbled.code).toBe(2)
    expect(garbled.lines).toHaveLength(1)
    expect(garbled.lines[0]).toMatch(/^MYSQL_URL must be a URL/)

    const port = await freePort()
    const refused = await startFails({ PORT: '0', MYSQL_URL: `mysql://root:secret@127.0.0.1:${port}/corral_demo` })
    expect(refused.code).toBe(1)
    expect(refused.lines).toEqual([
      `corral demo: cannot reach MySQL at mysql://root:***@127.0.0.1:${port}/corral_demo (ECONNREFUSED): start it, or unset MYSQL_URL to use the in-process database`,
    ])
  })
})
