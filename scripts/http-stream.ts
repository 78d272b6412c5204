/**
 * Streams a 64 MiB body in 1 MiB chunks through `httpCache` and reports time to first byte, total
 * time and the server process's RSS growth (peak sampled every 5 ms). The handler writes like a
 * well-behaved stream: it waits for 'drain' whenever write() returns false.
 *
 *   node --expose-gc --import tsx scripts/http-stream.ts [runs] [--no-cache]
 *
 * `--no-cache` streams without the middleware: the floor to compare with.
 */
import { createServer, get, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCache } from '../src/index.ts'
import { httpCache } from '../src/integrations/http.ts'

const CHUNK = 1024 * 1024
const CHUNKS = 64

async function stream(res: ServerResponse): Promise<void> {
  res.setHeader('content-type', 'application/octet-stream')
  const chunk = Buffer.alloc(CHUNK, 7)
  for (let i = 0; i < CHUNKS; i++) {
    if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve))
  }
  res.end()
}

async function once(url: string): Promise<{ ttfbMs: number; totalMs: number; bytes: number; rssGrowthMiB: number }> {
  globalThis.gc?.()
  const base = process.memoryUsage.rss()
  let peak = base
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5)
  const started = performance.now()
  const result = await new Promise<{ ttfbMs: number; bytes: number }>((resolve, reject) => {
    get(url, (res) => {
      let ttfbMs = -1
      let bytes = 0
      res.on('data', (chunk: Buffer) => {
        if (ttfbMs < 0) ttfbMs = performance.now() - started
        bytes += chunk.length
      })
      res.on('end', () => resolve({ ttfbMs, bytes }))
      res.on('error', reject)
    }).on('error', reject)
  })
  const totalMs = performance.now() - started
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage.rss())
  return { ...result, totalMs, rssGrowthMiB: (peak - base) / CHUNK }
}

const cache = createCache({ logger: false })
const middleware = httpCache(cache, { ttl: '30s' })
const bare = process.argv.includes('--no-cache')
const server = createServer((req, res) => (bare ? void stream(res) : middleware(req, res, () => void stream(res))))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 3)
for (let i = 0; i < runs; i++) {
  // A new path each run: every run streams through the handler (a body this large is never stored).
  const r = await once(`http://127.0.0.1:${port}/download/${i}`)
  console.log(
    `run ${i + 1}: ${(r.bytes / CHUNK).toFixed(0)} MiB, first byte ${r.ttfbMs.toFixed(0)} ms, all ${r.totalMs.toFixed(0)} ms, RSS +${r.rssGrowthMiB.toFixed(0)} MiB`,
  )
}
server.close()
await cache.close()
