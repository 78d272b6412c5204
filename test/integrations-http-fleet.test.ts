import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnWorker, type Worker } from '../harness/child.ts'
import { type RawReply, rawRequest } from '../harness/http.ts'
import { sleep } from '../harness/stores.ts'
import { useRedis } from '../harness/use-redis.ts'

type Message = {
  pid: number
  id?: number
  event?: string
  path?: string
  port?: number
  handled?: number
  waiters?: number
}
const WORKER = new URL('./fixtures/http-worker.ts', import.meta.url).pathname
let nextId = 0

async function ask(worker: Worker<Message>, command: object): Promise<Message> {
  const id = ++nextId
  worker.send({ id, ...command })
  return worker.waitFor((m) => m.id === id, 20_000)
}

/** Behind a load balancer every process sees the same Host, and the host is part of the key. */
const get = (base: string, path: string) => rawRequest(`${base}${path}`, { headers: { host: 'app.example' } })

/** Resolves once `worker`'s cache waits on another process's lock. */
async function waitingOnLock(worker: Worker<Message>): Promise<void> {
  for (const until = Date.now() + 20_000; Date.now() < until; await sleep(10)) {
    if (((await ask(worker, { op: 'inspect' })).waiters ?? 0) > 0) return
  }
  throw new Error(
    `the worker never waited on the lock: ${JSON.stringify(worker.messages.slice(-3))} ${worker.output()}`,
  )
}

describe('httpCache across processes (Redis store with a lock)', () => {
  const redis = useRedis()
  let a: Worker<Message>
  let b: Worker<Message>
  let urls: [string, string]
  beforeAll(async () => {
    const env = { HTTP_WORKER_CONFIG: JSON.stringify({ url: redis.server.url, namespace: `http${process.pid}` }) }
    a = spawnWorker<Message>(WORKER, [], env)
    b = spawnWorker<Message>(WORKER, [], env)
    const started = await Promise.all([a, b].map((w) => w.waitFor((m) => m.event === 'started', 20_000)))
    urls = started.map((m) => `http://127.0.0.1:${m.port}`) as [string, string]
  })
  afterAll(async () => {
    for (const w of [a, b]) w?.send({ op: 'exit' })
    await Promise.all([a, b].map((w) => w && Promise.race([w.exited, sleep(3_000)])))
    await Promise.all([a, b].map((w) => w?.kill('SIGKILL').catch(() => null)))
  })

  it("serves one process's storable response to a request waiting in another, labelled coalesced", async () => {
    const first = get(urls[0], '/shared')
    await a.waitFor((m) => m.event === 'handling' && m.path === '/shared')
    const second = get(urls[1], '/shared')
    await waitingOnLock(b)
    a.send({ op: 'release', path: '/shared' })
    const [one, two] = await Promise.all([first, second])
    expect(one).toMatchObject({ xCache: 'miss', body: `made by ${a.child.pid}` })
    expect(two).toMatchObject({ xCache: 'coalesced', body: `made by ${a.child.pid}` })
    expect((await ask(b, { op: 'inspect' })).handled).toBe(0)
  })

  it('lets the waiting process run its own handler when the response turns out not storable', async () => {
    const first = get(urls[0], '/personal')
    await a.waitFor((m) => m.event === 'handling' && m.path === '/personal')
    const second = get(urls[1], '/personal')
    await waitingOnLock(b)
    a.send({ op: 'release', path: '/personal' })
    await b.waitFor((m) => m.event === 'handling' && m.path === '/personal')
    b.send({ op: 'release', path: '/personal' })
    const [one, two]: RawReply[] = await Promise.all([first, second])
    expect(one).toMatchObject({ body: `made by ${a.child.pid}`, cookies: [`by=${a.child.pid}`] })
    expect(two).toMatchObject({ body: `made by ${b.child.pid}`, cookies: [`by=${b.child.pid}`] })
  })
})
