/**
 * One process of the fleet: builds its contender, then fires requests open-loop at a fixed rate
 * (each request has an intended send time; latency is measured from it, so a stall shows up in
 * the latencies instead of slowing the load down). Talks JSON lines with load-tests/run.ts:
 *
 *   -> {type:'ready'}                         contender built, pool warm
 *   <- {type:'go', startAt}                   epoch ms at which request 0 is due
 *   -> {type:'samples', s:[t, key, us, ok]*}  every 250 ms: intended time (ms after startAt), key, latency, 1/0
 *   -> {type:'done', errors: string[]}        after the last request settled
 *   <- {type:'exit'}
 */
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { type ContenderConfig, makeContender } from './contenders.ts'
import { Origin } from './origin.ts'
import { prng, uniform, zipf } from './traffic.ts'

export interface WorkerConfig extends ContenderConfig {
  mysqlUrl: string
  /** origin_log.run of this contender's calls. */
  run: string
  index: number
  workers: number
  /** Requests per second from this process. */
  rate: number
  durationMs: number
  keys: number
  /** Zipf exponent; 0 = uniform. */
  zipfS: number
  seed: number
  originMinMs: number
  originMaxMs: number
  poolSize: number
  /** How long to wait for requests still in flight after the last one was sent. */
  drainMs: number
}

const cfg = JSON.parse(process.argv[2] as string) as WorkerConfig
const send = (msg: unknown): void => {
  process.stdout.write(`${JSON.stringify(msg)}\n`)
}

const origin = new Origin(cfg.mysqlUrl, cfg.run, cfg.originMinMs, cfg.originMaxMs, cfg.poolSize)
await origin.warm(Math.min(cfg.poolSize, 8))
const contender = await makeContender(cfg, origin)

const random = prng(cfg.seed * 7919 + cfg.index)
const pick = cfg.zipfS > 0 ? zipf(cfg.keys, cfg.zipfS, random) : uniform(cfg.keys, random)

const errorTexts = new Map<string, number>()
let samples: number[] = []
const noteError = (err: unknown): void => {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  errorTexts.set(text, (errorTexts.get(text) ?? 0) + 1)
}

async function runLoad(startAt: number): Promise<void> {
  const total = Math.round((cfg.rate * cfg.durationMs) / 1000)
  const interval = 1000 / cfg.rate
  // Where startAt lies on the monotonic clock; processes interleave by a fraction of an interval.
  const t0 = performance.now() + (startAt - Date.now()) + (cfg.index / cfg.workers) * interval
  let inFlight = 0
  let sent = 0
  let settle: (() => void) | undefined

  const fire = (i: number, key: number): void => {
    const intended = t0 + i * interval
    const id = key + 1
    inFlight++
    const done = (ok: boolean): void => {
      const us = Math.max(1, Math.round((performance.now() - intended) * 1000))
      samples.push(Math.round((intended - t0) * 10) / 10, key, us, ok ? 1 : 0)
      if (--inFlight === 0 && sent === total) settle?.()
    }
    contender.get(id).then(
      (row) => {
        if (row?.id === id) done(true)
        else {
          noteError(new Error(`wrong value for person ${id}: ${JSON.stringify(row)}`))
          done(false)
        }
      },
      (err: unknown) => {
        noteError(err)
        done(false)
      },
    )
  }

  const flush = setInterval(() => {
    if (samples.length > 0) {
      send({ type: 'samples', s: samples })
      samples = []
    }
  }, 250)

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now()
      while (sent < total && t0 + sent * interval <= now) {
        fire(sent, pick())
        sent++
      }
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(4, t0 + sent * interval - now)))
      else resolve()
    }
    tick()
  })
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      settle = resolve
      setTimeout(resolve, cfg.drainMs)
    })
  }
  clearInterval(flush)
  if (inFlight > 0) noteError(new Error(`still pending ${cfg.drainMs} ms after the last request was sent`))
  send({ type: 'samples', s: samples })
  samples = []
  send({
    type: 'done',
    pending: inFlight,
    errors: [...errorTexts].map(([text, n]) => `${n} x ${text}`),
  })
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line) as { type: string; startAt?: number }
  if (msg.type === 'go') void runLoad(msg.startAt as number)
  if (msg.type === 'exit') {
    void Promise.allSettled([contender.close(), origin.close()]).then(() => process.exit(0))
    setTimeout(() => process.exit(0), 3000).unref()
  }
})
send({ type: 'ready' })
