import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemoProcess } from '../harness/demo.ts'
import { burst, request } from '../harness/http.ts'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

let redis: RedisServer
let maria: MariaDbServer
beforeAll(async () => {
  ;[redis, maria] = await Promise.all([startRedis(), startMariaDb()])
})
afterAll(async () => {
  await Promise.all([redis?.stop(), maria?.stop()])
})

/** Statements that reached the demo's origin so far, from its /stats. */
async function queries(url: string): Promise<number> {
  const stats = (await (await fetch(`${url}/stats`)).json()) as { totals: { queries: number } }
  return stats.totals.queries
}

const setups = [
  { name: 'embedded defaults', env: () => ({}), store: 'memory store', origin: 'in-process fake DB' },
  { name: 'REDIS_URL', env: () => ({ REDIS_URL: redis.url }), store: 'Redis at', origin: 'in-process fake DB' },
  { name: 'MYSQL_URL', env: () => ({ MYSQL_URL: maria.url }), store: 'memory store', origin: 'MySQL at' },
]

describe.each(setups)('npm start with $name', ({ env, store, origin }) => {
  it('serves persons and areas, holds a herd, exports metrics, and invalidates on POST', async () => {
    const demo = await startDemoProcess(env())
    try {
      expect(demo.worker.output()).toContain(`corral demo on ${demo.url}`)
      expect(demo.worker.output()).toContain(store)
      expect(demo.worker.output()).toContain(origin)

      // The MySQL tables persist across runs of this test: put Mike back first.
      await request(`${demo.url}/persons/1`, { method: 'POST', body: '{"name":"Mike"}' })
      const before = await queries(demo.url)
      const replies = await burst(100, (i) => `${demo.url}/persons/${(i % 5) + 1}`)
      expect(replies.every((r) => r.status === 200)).toBe(true)
      expect(JSON.parse(replies[0]!.body)).toEqual({ employ_id: 1, name: 'Mike' })
      const after = await queries(demo.url)
      expect(after - before).toBeLessThanOrEqual(5)

      const areas = await request(`${demo.url}/areas`)
      expect(areas.status).toBe(200)
      expect(JSON.parse(areas.body).data[0]).toEqual({ id: 1, name: '东城区' })
      expect((await request(`${demo.url}/areas`)).xCache).toBe('hit')

      const renamed = await request(`${demo.url}/persons/1`, { method: 'POST', body: '{"name":"Michael"}' })
      expect(JSON.parse(renamed.body)).toEqual({ employ_id: 1, name: 'Michael' })
      expect(JSON.parse((await request(`${demo.url}/persons/1`)).body).name).toBe('Michael')
      await request(`${demo.url}/persons/1`, { method: 'POST', body: '{"name":"Mike"}' })

      expect((await request(`${demo.url}/persons/999`)).status).toBe(404)
      expect((await request(`${demo.url}/persons/1`, { method: 'POST', body: 'nope' })).status).toBe(400)

      const metrics = await request(`${demo.url}/metrics`)
      expect(metrics.body).toMatch(/corral_requests_total\{cache="demo",result="hit"\} [1-9]/)
      expect(metrics.body).toContain('corral_invalidations_total{cache="demo",kind="tag"}')
    } finally {
      expect(await demo.stop()).toBe(0)
    }
  })
})

describe('npm start with CORRAL_DISABLED=1', () => {
  it('sends every request to the origin', async () => {
    const demo = await startDemoProcess({ CORRAL_DISABLED: '1' })
    try {
      expect(demo.worker.output()).toContain('cache:  off')
      await burst(20, `${demo.url}/persons/2`)
      expect(await queries(demo.url)).toBe(20)
    } finally {
      await demo.stop()
    }
  })
})

describe('POST /herd on the real MySQL (MYSQL_URL, QUERY_MS held on the server with DO SLEEP)', () => {
  it('lets a cold start through cache-aside and holds it with corral, on the same origin', async () => {
    const demo = await startDemoProcess({ MYSQL_URL: maria.url, QUERY_MS: '30' })
    try {
      expect(demo.worker.output()).toContain('+30 ms per statement (DO SLEEP)')
      const herd = async (mode: string) => {
        const res = await fetch(`${demo.url}/herd`, {
          method: 'POST',
          body: JSON.stringify({ mode, requests: 100, ids: 5 }),
        })
        expect(res.status).toBe(200)
        return (await res.json()) as { queries: number; coalesced: number; errors: number }
      }
      const aside = await herd('aside')
      const corral = await herd('corral')
      expect(aside.errors + corral.errors).toBe(0)
      expect(corral).toMatchObject({ queries: 5, coalesced: 95 })
      expect(aside.queries).toBeGreaterThan(corral.queries)
      expect((await fetch(`${demo.url}/herd`, { method: 'POST', body: '{"mode":"nope"}' })).status).toBe(400)
    } finally {
      await demo.stop()
    }
  })
})
