import { Console } from 'node:console'
import { PassThrough } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import winston from 'winston'
import { createCache, type Logger } from '../src/index.ts'

/** Every line written to a stream, collected as it arrives. */
function lines() {
  const stream = new PassThrough()
  const written: string[] = []
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) written.push(line)
  })
  return { stream, written }
}

/**
 * Makes corral log one warning with details: a value is stored already stale (ttl 0, within its
 * grace), then its refresh fails, so the stale value is served and the failure is logged.
 */
async function logOneWarning(logger: Logger): Promise<void> {
  const cache = createCache({ ttl: 0, grace: '1h', logger })
  try {
    await cache.wrap('user:7', () => 'first')
    const served = await cache.wrap('user:7', () => Promise.reject(new Error('origin down')), {
      timeout: { soft: '1s' },
    })
    expect(served).toBe('first')
  } finally {
    await cache.close()
  }
}

describe('the logger option takes each library in its own argument order', () => {
  it('pino: details become fields of the line, the message its msg', async () => {
    const out = lines()
    await logOneWarning(pino({ level: 'warn' }, out.stream))
    await new Promise((resolve) => setImmediate(resolve))
    const record = JSON.parse(out.written[0] as string) as Record<string, unknown>
    expect(record.msg).toBe('loader failed; serving the stale value')
    expect(record.key).toBe('user:7')
    expect(record.error).toBe('Error: origin down')
    expect(record.level).toBe(40)
  })

  it('winston: the message and the details as metadata', async () => {
    const out = lines()
    const logger = winston.createLogger({
      level: 'warn',
      format: winston.format.json(),
      transports: [new winston.transports.Stream({ stream: out.stream })],
    })
    await logOneWarning(logger)
    await new Promise((resolve) => setImmediate(resolve))
    const record = JSON.parse(out.written[0] as string) as Record<string, unknown>
    expect(record.message).toBe('loader failed; serving the stale value')
    expect(record.key).toBe('user:7')
    expect(record.error).toBe('Error: origin down')
    expect(record.level).toBe('warn')
  })

  it('console: the message, then the details', async () => {
    const out = lines()
    const console = new Console({ stdout: out.stream, stderr: out.stream })
    await logOneWarning(console)
    await new Promise((resolve) => setImmediate(resolve))
    const text = out.written.join('\n')
    expect(text).toContain('loader failed; serving the stale value')
    expect(text).toContain("key: 'user:7'")
    expect(text).toContain("error: 'Error: origin down'")
    expect(text.indexOf('loader failed')).toBeLessThan(text.indexOf('user:7'))
  })
})
