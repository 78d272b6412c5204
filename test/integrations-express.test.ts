import express from 'express'
import { describe, expect, it } from 'vitest'
import { burst, labels, listen, request } from '../harness/http.ts'
import { sleep } from '../harness/stores.ts'
import { createCache } from '../src/index.ts'
import { httpCache } from '../src/integrations/http.ts'

describe('httpCache as Express middleware', () => {
  it('coalesces, replays res.json with its headers, and keys a mounted router by the full URL', async () => {
    const cache = createCache({ logger: false })
    let calls = 0
    let arrived = 0
    const router = express.Router()
    router.get('/areas', async (_req, res) => {
      calls += 1
      await sleep(60)
      // Hold until the whole burst has arrived, so "concurrent" does not depend on the machine's speed.
      for (const until = Date.now() + 5_000; arrived < 100 && Date.now() < until; ) await sleep(5)
      res.json({ errno: '0', data: [{ id: 1, name: '东城区' }] })
    })
    router.get('/gone', (_req, res) => void res.status(410).send('gone'))
    const app = express()
    app.use((_req, _res, next) => {
      arrived += 1
      next()
    })
    app.use('/api', httpCache(cache, { ttl: '30s' }), router)
    const server = await listen(app)

    const replies = await burst(100, `${server.url}/api/areas`)
    expect(calls).toBe(1)
    expect(labels(replies)).toEqual({ miss: 1, coalesced: 99 })
    expect(new Set(replies.map((r) => r.body))).toEqual(new Set(['{"errno":"0","data":[{"id":1,"name":"东城区"}]}']))
    const hit = await request(`${server.url}/api/areas`)
    expect(hit.xCache).toBe('hit')
    expect(hit.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(hit.headers.get('etag')).toBe(replies[0]!.headers.get('etag'))
    expect(await cache.get(`http:GET ${server.url}/api/areas`)).toMatchObject({ status: 200 })

    // 410 is cacheable by default (RFC 9111 4.2.2).
    expect((await request(`${server.url}/api/gone`)).status).toBe(410)
    expect((await request(`${server.url}/api/gone`)).xCache).toBe('hit')
    await server.close()
    await cache.close()
  })
})
