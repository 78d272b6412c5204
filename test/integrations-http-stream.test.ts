import { get, type ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { listen, rawRequest } from '../harness/http.ts'
import { createCache } from '../src/index.ts'
import { httpCache } from '../src/integrations/http.ts'

const MiB = 1024 * 1024
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close()
})

/** Writes `chunks` MiB the way a well-behaved stream does: waits for 'drain' when write() says so. */
async function stream(res: ServerResponse, chunks: number, progress: { written: number; pushedBack: number }) {
  const chunk = Buffer.alloc(MiB, 7)
  for (let i = 0; i < chunks; i++) {
    progress.written += 1
    if (!res.write(chunk)) {
      progress.pushedBack += 1
      await new Promise<void>((resolve) => res.once('drain', resolve))
    }
  }
  res.end()
}

describe('a streamed response through httpCache', () => {
  it('passes a 64 MiB body through as it is written, with backpressure, and does not store it', async () => {
    const cache = createCache({ logger: false })
    open.push(cache)
    const progress = { written: 0, pushedBack: 0 }
    const middleware = httpCache(cache, { ttl: '1m' })
    const server = await listen((req, res) => middleware(req, res, () => void stream(res, 64, progress)))
    open.push(server)

    const { atFirstByte, bytes, xCache } = await new Promise<{ atFirstByte: number; bytes: number; xCache: unknown }>(
      (resolve, reject) => {
        get(`${server.url}/download`, (res) => {
          let atFirstByte = -1
          let bytes = 0
          res.on('data', (chunk: Buffer) => {
            if (atFirstByte < 0) atFirstByte = progress.written
            bytes += chunk.length
          })
          res.on('end', () => resolve({ atFirstByte, bytes, xCache: res.headers['x-cache'] }))
        }).on('error', reject)
      },
    )
    expect(bytes).toBe(64 * MiB)
    expect(xCache).toBe('miss')
    // The first byte reached the client long before the handler had written everything...
    expect(atFirstByte).toBeLessThan(64)
    // ...and the handler was told to wait for the client rather than have its body buffered.
    expect(progress.pushedBack).toBeGreaterThan(0)
    // Larger than maxBytes: not stored, so the next request runs the handler again.
    const before = progress.written
    const again = await rawRequest(`${server.url}/download`)
    expect(again.body.length).toBe(64 * MiB)
    expect(progress.written).toBe(before + 64)
  })

  it('lets requests waiting on a response run their own handler as soon as it passes maxBytes', async () => {
    const cache = createCache({ logger: false })
    open.push(cache)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let firstStarted!: () => void
    const started = new Promise<void>((resolve) => (firstStarted = resolve))
    let secondStarted!: () => void
    const second = new Promise<void>((resolve) => (secondStarted = resolve))
    let calls = 0
    const middleware = httpCache(cache, { ttl: '1m', maxBytes: 1024 })
    const server = await listen((req, res) =>
      middleware(req, res, async () => {
        calls += 1
        if (calls === 1) {
          res.write(Buffer.alloc(2048, 1)) // past maxBytes: nothing to wait for any more
          firstStarted()
          await held
          res.end('first')
        } else {
          secondStarted()
          res.end('second')
        }
      }),
    )
    open.push(server)
    const one = rawRequest(`${server.url}/big`)
    await started
    const two = rawRequest(`${server.url}/big`)
    // The second request's handler runs while the first one is still held open.
    await second
    release()
    expect((await two).body).toBe('second')
    expect((await one).body.endsWith('first')).toBe(true)
    expect(calls).toBe(2)
  })
})
