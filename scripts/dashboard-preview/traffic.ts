/** The scripted traffic against the demo replicas: steady Zipf reads, cold bursts, writes, overload, a Redis stall. */
import { Agent, request as httpRequest } from 'node:http'
import { run, sleep } from '../../harness/procs.ts'
import { prng, zipf } from '../../load-tests/traffic.ts'

export const agent = new Agent({ keepAlive: true, maxSockets: 400 })
export const statuses = new Map<number, number>()

/** One HTTP request; resolves with the status (0 on a network error), never rejects. */
function send(method: string, url: string, body?: unknown): Promise<number> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((done) => {
    const finish = (status: number) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      done(status)
    }
    const req = httpRequest(
      url,
      { method, agent, headers: payload ? { 'content-type': 'application/json' } : {} },
      (res) => {
        res.resume()
        res.once('end', () => finish(res.statusCode ?? 0))
        res.once('error', () => finish(0))
      },
    )
    req.setTimeout(15_000, () => req.destroy())
    req.once('error', () => finish(0))
    req.end(payload)
  })
}

export interface Marker {
  at: number
  label: string
}

/** Runs the timeline; resolves with the time (ms) the steady traffic stopped, once every request settled. */
export async function drive(
  replicas: string[],
  markers: Marker[],
  options: { seconds: number; redisUrl: string; stopped: () => boolean },
): Promise<number> {
  const { seconds: SECONDS, redisUrl } = options
  const stopped = options.stopped
  let next = 0
  const replica = () => replicas[next++ % replicas.length] as string
  // Person ids 1..400, P(k) ~ 1/k^1.1: a few hot ids, a long tail that keeps missing.
  const pick = zipf(400, 1.1, prng(20_26))
  const person = () => pick() + 1
  let fresh = 100_000 // ids nobody asked for yet: every one is a cold key
  const started = Date.now()
  const at = (fraction: number) => started + fraction * SECONDS * 1_000
  const mark = (label: string) => {
    markers.push({ at: Date.now(), label })
    console.log(`  ${((Date.now() - started) / 1_000).toFixed(1).padStart(5)} s  ${label}`)
  }
  const pending = new Set<Promise<unknown>>()
  const track = (p: Promise<unknown>) => {
    pending.add(p)
    void p.finally(() => pending.delete(p))
  }

  // Steady reads: ~240 GET /persons/:id per second over the Zipf ids, ~10 GET /areas per second.
  const steady = setInterval(() => {
    if (pending.size > 3_000) return
    for (let i = 0; i < 12; i++) track(send('GET', `${replica()}/persons/${person()}`))
    if (Math.random() < 0.5) track(send('GET', `${replica()}/areas`))
  }, 50)

  /** Many concurrent requests for ids no one asked for, sent to every replica at once. */
  const coldBurst = (ids: number, requests: number) => {
    const first = fresh
    fresh += ids
    mark(`cold burst: ${requests} concurrent GETs over ${ids} new ids, on both replicas`)
    track(
      Promise.all(
        Array.from({ length: requests }, (_, i) =>
          // Round r of the ids goes to replica r % n: every id is asked of every replica at the same time.
          send('GET', `${replicas[Math.floor(i / ids) % replicas.length]}/persons/${first + (i % ids)}`),
        ),
      ),
    )
  }
  /** A write: the UPDATE, then `table:persons` invalidated on every replica (through Redis). */
  const write = (id: number) => {
    mark(`POST /persons/${id} (invalidates table:persons)`)
    track(send('POST', `${replica()}/persons/${id}`, { name: `renamed-${Date.now() % 1000}` }))
  }
  /** Closed-loop clients each asking for a new id every time: demand far above the origin's 2 x 200 queries/s. */
  const overload = (clients: number, ms: number) => {
    mark(`overload: ${clients} clients asking for a new id each time, for ${ms / 1000} s`)
    const until = Date.now() + ms
    for (let c = 0; c < clients; c++)
      track(
        (async () => {
          while (!stopped() && Date.now() < until) await send('GET', `${replica()}/persons/${fresh++}`)
        })(),
      )
  }
  /** Redis stops answering for `ms`: store operations time out, the breaker opens, the origin takes the reads. */
  const stall = async (ms: number) => {
    mark(`redis stalls for ${ms / 1000} s (CLIENT PAUSE)`)
    const port = new URL(redisUrl).port
    const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', port, 'client', 'pause', String(ms), 'all'], 5_000)
    if (r.code !== 0) console.error(`redis-cli client pause failed: ${r.stdout}${r.stderr}`)
  }

  const timeline: [number, () => unknown][] = [
    [0.12, () => coldBurst(200, 3_000)],
    [0.25, () => write(3)],
    [0.36, () => overload(400, 6_000)],
    [0.52, () => write(7)],
    [0.62, () => coldBurst(300, 4_000)],
    [0.74, () => stall(2_000)],
    [0.84, () => write(1)],
  ]
  try {
    for (const [fraction, action] of timeline) {
      const wait = at(fraction) - Date.now()
      if (wait > 0) await sleep(wait)
      if (stopped()) break
      await action()
    }
    const wait = at(1) - Date.now()
    if (wait > 0 && !stopped()) await sleep(wait)
  } finally {
    clearInterval(steady)
  }
  const ended = Date.now()
  await Promise.all(pending)
  return ended
}
