import Fastify, { type FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { counterValue, until } from '../harness/barrier.ts'
import { burst, labels, request } from '../harness/http.ts'
import { freePort } from '../harness/ports.ts'
import { sleep } from '../harness/stores.ts'
import { type Cache, createCache, redisStore } from '../src/index.ts'
import { fastifyCache, type HttpCacheOptions } from '../src/integrations/http.ts'

const open: { app: FastifyInstance; cache: Cache }[] = []
afterEach(async () => {
  for (const { app, cache } of open.splice(0)) {
    await app.close()
    await cache.close()
  }
})

/** A Fastify app with the plugin and a few routes; each route counts its calls. */
async function app(
  options?: HttpCacheOptions,
  registry = new Registry(),
  cache = createCache({ logger: false, metrics: { registry } }),
) {
  const calls: Record<string, number> = {}
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1)
  // The handler holds until `gate` requests have arrived, so "concurrent" does not depend on the machine's speed.
  const state: { arrived: number; gate: number; hold?: () => Promise<void> } = { arrived: 0, gate: 0 }
  /** From now on, handlers answer once `n` more requests have joined a load already running. */
  const holdUntilJoined = async (n: number) => {
    const joined = () => counterValue(registry, 'corral_coalesced_total', { scope: 'local' })
    const target = (await joined()) + n
    state.hold = () => until(`${n} requests joining the load`, async () => (await joined()) >= target)
  }
  const fastify = Fastify()
  fastify.addHook('onRequest', async () => void (state.arrived += 1))
  await fastify.register(fastifyCache(cache, options))
  fastify.get('/persons/:id', async (req) => {
    const n = count('persons')
    await sleep(80)
    for (const until = Date.now() + 5_000; state.arrived < state.gate && Date.now() < until; ) await sleep(5)
    await state.hold?.()
    return { id: Number((req.params as { id: string }).id), n }
  })
  fastify.get('/missing', async (_req, reply) => {
    count('missing')
    await sleep(50)
    return reply.code(404).send({ error: 'not found' })
  })
  fastify.get('/boom', async () => {
    count('boom')
    await sleep(20)
    throw new Error('origin failed')
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  open.push({ app: fastify, cache })
  const address = fastify.addresses()[0] as { port: number }
  return { url: `http://127.0.0.1:${address.port}`, calls, state, holdUntilJoined }
}

describe('fastifyCache plugin', () => {
  it('coalesces 200 concurrent requests of one URL into one handler call, then serves hits', async () => {
    const { url, calls, state } = await app()
    state.gate = 200
    const replies = await burst(200, `${url}/persons/7`)
    expect(calls.persons).toBe(1)
    expect(replies.every((r) => r.status === 200 && r.body === '{"id":7,"n":1}')).toBe(true)
    expect(labels(replies)).toEqual({ miss: 1, coalesced: 199 })
    const hit = await request(`${url}/persons/7`)
    expect(hit).toMatchObject({ xCache: 'hit', body: '{"id":7,"n":1}' })
    expect(hit.headers.get('content-type')).toMatch(/^application\/json/)
    expect(calls.persons).toBe(1)
  })

  it('stores a 404 but not a 500, which each waiting request answers with its own handler', async () => {
    const { url, calls } = await app()
    expect((await request(`${url}/missing`)).status).toBe(404)
    expect(await request(`${url}/missing`)).toMatchObject({ status: 404, xCache: 'hit' })
    expect(calls.missing).toBe(1)
    const errors = await burst(10, `${url}/boom`)
    expect(errors.every((r) => r.status === 500)).toBe(true)
    expect(calls.boom).toBe(10)
    expect((await request(`${url}/boom`)).status).toBe(500)
    expect(calls.boom).toBe(11)
  })

  it('honours a client no-cache when configured to revalidate', async () => {
    const { url, calls } = await app({ noCache: 'revalidate' })
    await request(`${url}/persons/1`)
    expect((await request(`${url}/persons/1`)).xCache).toBe('hit')
    const reload = await request(`${url}/persons/1`, { headers: { 'cache-control': 'no-cache' } })
    expect(reload).toMatchObject({ xCache: 'miss', body: '{"id":1,"n":2}' })
    expect(calls.persons).toBe(2)
  })

  it('serves stale within grace while one request fetches the new response', async () => {
    const { url, calls, state } = await app({ ttl: 100, grace: '10s' })
    await request(`${url}/persons/3`)
    await sleep(120)
    state.gate = state.arrived + 5
    const replies = await burst(5, `${url}/persons/3`)
    expect(labels(replies)).toEqual({ miss: 1, stale: 4 })
    expect(calls.persons).toBe(2)
  })

  it('answers from the handler when Redis is not there at all', async () => {
    const port = await freePort() // nothing listens here
    const registry = new Registry()
    const cache = createCache({
      store: redisStore({ url: `redis://127.0.0.1:${port}`, timeout: 200 }),
      logger: false,
      metrics: { registry },
    })
    const { url, calls, holdUntilJoined } = await app({}, registry, cache)
    await holdUntilJoined(29)
    const replies = await burst(30, `${url}/persons/9`)
    expect(replies.every((r) => r.status === 200 && r.body === '{"id":9,"n":1}')).toBe(true)
    expect(calls.persons).toBe(1)
  })
})
