import { MemcacheClient } from 'memcache-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnWorker } from '../harness/child.ts'
import { startDemoProcess } from '../harness/demo.ts'
import { burst, request } from '../harness/http.ts'
import { type MemcachedServer, startMemcached } from '../harness/memcached-server.ts'

let server: MemcachedServer
beforeAll(async () => {
  server = await startMemcached()
})
afterAll(async () => {
  await server?.stop()
})

async function queries(url: string): Promise<number> {
  const stats = (await (await fetch(`${url}/stats`)).json()) as { totals: { queries: number } }
  return stats.totals.queries
}

/** Store commands (set, add, cas) memcached has taken so far. */
async function writes(): Promise<number> {
  const client = new MemcacheClient({ server: server.address })
  const stats = await client.cmd<{ STAT: [string, string][] }>('stats')
  client.shutdown()
  return Number(stats.STAT.find(([name]) => name === 'cmd_set')?.[1] ?? 0)
}

describe.each([
  { variable: 'MEMCACHED_ADDR', value: () => server.address },
  { variable: 'MEMCACHED_URL', value: () => `memcached://${server.address}` },
])('npm start with $variable', ({ variable, value }) => {
  it('switches the demo to Memcached with no code change: a herd makes one query per person, writes invalidate', async () => {
    const before = await writes()
    const demo = await startDemoProcess({ [variable]: value() })
    try {
      expect(demo.worker.output()).toContain(`Memcached at ${server.address}`)
      await request(`${demo.url}/persons/1`, { method: 'POST', body: '{"name":"Mike"}' })
      const start = await queries(demo.url)
      const replies = await burst(100, (i) => `${demo.url}/persons/${(i % 5) + 1}`)
      expect(replies.every((r) => r.status === 200)).toBe(true)
      expect((await queries(demo.url)) - start).toBeLessThanOrEqual(5)
      expect(await writes()).toBeGreaterThan(before) // the entries went to Memcached

      const renamed = await request(`${demo.url}/persons/1`, { method: 'POST', body: '{"name":"Michael"}' })
      expect(JSON.parse(renamed.body).name).toBe('Michael')
      expect(JSON.parse((await request(`${demo.url}/persons/1`)).body).name).toBe('Michael')
      expect((await request(`${demo.url}/areas`)).status).toBe(200)
      expect((await request(`${demo.url}/areas`)).xCache).toBe('hit')
    } finally {
      expect(await demo.stop()).toBe(0)
    }
  }, 30_000)
})

describe('examples/memcached-persons.ts', () => {
  it('reproduces the python-memcached flow: one query per person, a cached miss, a counter, set and delete', async () => {
    const example = spawnWorker('examples/memcached-persons.ts', [], {
      MEMCACHED_ADDR: server.address,
      EXAMPLE_NAMESPACE: `example-${process.pid}`,
    })
    expect(await example.exited).toBe(0)
    const output = example.output()
    expect(output).toContain('20 lookups of Ada Lovelace -> London; queries so far: 1')
    expect(output).toContain('round 2 over 3 persons; queries so far: 3')
    expect(output).toContain('Nobody twice -> null; queries so far: 4')
    expect(output).toContain('lookups counter: 5')
    expect(output).toContain('Alan Turing after set -> Manchester')
    expect(output).toContain('Alan Turing after delete -> London; queries so far: 5')
  }, 30_000)
})
