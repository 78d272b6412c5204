/**
 * Batch loads on Redis, side by side in one run on one redis-server: corral's `wrapMany` against a
 * raw ioredis pipeline (SET PX to fill, MGET + JSON.parse to read), cache-manager's `mset`/`mget`
 * (Keyv's Redis adapter) and bentocache (`getOrSet` in a loop, 64 at a time: it has no batch API).
 *
 *   npm run bench -- batch                     (node --import tsx bench/run.ts batch)
 *   BATCH_KEYS=100000 BATCH_VALUE_BYTES=1024 BATCH_ROUNDS=5 npm run bench -- batch
 *   BATCH_CHUNK=250 npm run bench -- batch     (corral's `chunk`: keys per Redis command)
 *
 * Every round uses fresh keys for every contender: cold (the origin is a synchronous generator of
 * the values, so only the cache's own work is timed), then warm (the same keys read back 3 times,
 * BATCH_WARM_READS, the median read kept; a loader call there fails the bench). A first full-size
 * round warms the JIT and is not counted; the contenders' order rotates every round. ms = median of rounds; a ratio is the median of per-round ratios
 * against the raw pipeline of the same round. A last row runs 4 processes x
 * `wrapMany` of the same cold keys with `lock: true` and counts the keys loaded in all. The CPU
 * columns are this process's CPU time per phase against raw's (Redis's own work is not in them).
 */
import { cpus } from 'node:os'
import { Redis } from 'ioredis'
import pLimit from 'p-limit'
import { spawnWorker, type Worker } from '../harness/child.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'
import { BentoCache, bentostore, createCacheManager } from './peers/index.ts'
import { Keyv, KeyvRedis, redisDriver } from './peers/redis.ts'

const KEYS = positiveInt(process.env.BATCH_KEYS, 20_000)
const VALUE_BYTES = positiveInt(process.env.BATCH_VALUE_BYTES, 100)
const ROUNDS = positiveInt(process.env.BATCH_ROUNDS, 5)
const WARM_READS = positiveInt(process.env.BATCH_WARM_READS, 3)
const FLEET_KEYS = positiveInt(process.env.BATCH_FLEET_KEYS, 1_000)
const CHUNK = process.env.BATCH_CHUNK ? positiveInt(process.env.BATCH_CHUNK, 1_000) : undefined
const TTL_MS = 3_600_000
const CONCURRENCY = 64

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/** A row as a database would return it, about VALUE_BYTES once serialized as JSON. */
function row(key: string): { id: string; body: string } {
  return { id: key, body: 'x'.repeat(Math.max(1, VALUE_BYTES - key.length - 20)) }
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`)
}

interface Contender {
  id: string
  label: string
  /** Loads and stores every key (the origin answers at once). */
  cold(keys: string[]): Promise<void>
  /** Reads every key back and returns how many values came back right. */
  warm(keys: string[]): Promise<number>
}

function check(keys: string[], values: readonly unknown[]): number {
  let right = 0
  for (let i = 0; i < keys.length; i++) if ((values[i] as { id?: string } | undefined)?.id === keys[i]) right++
  return right
}

async function main(): Promise<void> {
  const started = Date.now()
  const cleanups: Array<() => Promise<unknown> | unknown> = []
  let redis: RedisServer | undefined
  try {
    redis = await startRedis()
    log(`redis-server on ${redis.url}; ${KEYS} keys x ${VALUE_BYTES} B, ${ROUNDS} rounds`)
    const url = redis.url
    const { hostname, port } = new URL(url)

    const raw = new Redis(url, { protocol: 2 })
    cleanups.push(() => raw.quit())
    const rawContender: Contender = {
      id: 'raw',
      label: 'ioredis pipeline: `SET PX` / `MGET` + `JSON.parse`',
      async cold(keys) {
        const pipeline = raw.pipeline()
        for (const key of keys) pipeline.set(key, JSON.stringify(row(key)), 'PX', TTL_MS)
        await pipeline.exec()
      },
      async warm(keys) {
        const found = await raw.mget(...keys)
        return check(
          keys,
          found.map((s) => (s === null ? undefined : JSON.parse(s))),
        )
      },
    }

    let corralLoads = 0
    /** Keys a warm read had to load again: anything but 0 means the cold pass did not store them. */
    const reloaded: Record<string, number> = {}
    const corralClient = new Redis(url, { protocol: 2 })
    const corral = createCache({
      name: 'bench',
      store: redisStore({ client: corralClient, ...(CHUNK ? { chunk: CHUNK } : {}) }),
      ttl: TTL_MS,
      logger: false,
    })
    cleanups.push(
      () => corral.close(),
      () => corralClient.quit(),
    )
    const loadMany = (missing: string[]) => {
      corralLoads += missing.length
      return new Map(missing.map((key) => [key, row(key)]))
    }
    const corralContender: Contender = {
      id: 'corral',
      label: 'corral `wrapMany`',
      async cold(keys) {
        await corral.wrapMany(keys, loadMany)
      },
      async warm(keys) {
        const before = corralLoads
        const values = await corral.wrapMany(keys, loadMany)
        reloaded.corral = (reloaded.corral ?? 0) + corralLoads - before
        return check(keys, values)
      },
    }

    const keyvStore = new KeyvRedis(url)
    keyvStore.on('error', () => {})
    const keyv = new Keyv({ store: keyvStore, namespace: 'cm' })
    keyv.on('error', () => {})
    const cacheManager = createCacheManager({ stores: [keyv] })
    cleanups.push(() => cacheManager.disconnect())
    const cacheManagerContender: Contender = {
      id: 'cm',
      label: 'cache-manager 7 `mset` / `mget` (Keyv Redis)',
      async cold(keys) {
        await cacheManager.mset(keys.map((key) => ({ key, value: row(key), ttl: TTL_MS })))
      },
      async warm(keys) {
        return check(keys, await cacheManager.mget(keys))
      },
    }

    const bento = new BentoCache({
      default: 'redis',
      stores: { redis: bentostore().useL2Layer(redisDriver({ connection: { host: hostname, port: Number(port) } })) },
    })
    cleanups.push(() => bento.disconnect())
    const limit = pLimit(CONCURRENCY)
    let bentoLoads = 0
    const bentoAll = (keys: string[]) =>
      Promise.all(
        keys.map((key) =>
          limit(() =>
            bento.getOrSet({
              key,
              ttl: TTL_MS,
              factory: () => {
                bentoLoads++
                return row(key)
              },
            }),
          ),
        ),
      )
    const bentoContender: Contender = {
      id: 'bento',
      label: `bentocache 1.6 \`getOrSet\` loop, ${CONCURRENCY} at a time (L2 only)`,
      async cold(keys) {
        await bentoAll(keys)
      },
      async warm(keys) {
        const before = bentoLoads
        const values = await bentoAll(keys)
        reloaded.bento = (reloaded.bento ?? 0) + bentoLoads - before
        return check(keys, values)
      },
    }

    const contenders = [rawContender, corralContender, cacheManagerContender, bentoContender]
    // One small pass each, so connections, scripts and JIT are warm before anything is timed.
    for (const c of contenders) {
      const keys = Array.from({ length: 200 }, (_, i) => `prime:${c.id}:${i}`)
      await c.cold(keys)
      await c.warm(keys)
    }

    const coldMs = new Map<string, number[]>(contenders.map((c) => [c.id, []]))
    const warmMs = new Map<string, number[]>(contenders.map((c) => [c.id, []]))
    // This process's CPU time per phase (not Redis's): on a shared machine, wall time also holds
    // the waits for a core, so this column tells the cache's own work apart from the machine's load.
    const coldCpu = new Map<string, number[]>(contenders.map((c) => [c.id, []]))
    const warmCpu = new Map<string, number[]>(contenders.map((c) => [c.id, []]))
    // Round 0 is a full-size warm-up, not counted: the JIT optimizes each contender's batch-sized
    // loops there, not in the first timed round. Each round rotates the order, so no contender
    // always runs right after the same one. No forced GC between phases: a forced full GC shrinks
    // V8's young generation, and the next phase then pays for regrowing it (corral's warm read
    // took 41 ms after one and 28 ms without, raw's 23.5 and 26), a state no running service is in.
    for (let round = 0; round <= ROUNDS; round++) {
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length] as Contender)
      for (const c of order) {
        const keys = Array.from({ length: KEYS }, (_, i) => `r${round}:${c.id}:${i}`)
        let t = performance.now()
        let cpu = process.cpuUsage()
        await c.cold(keys)
        const cold = performance.now() - t
        const coldUsed = cpuMs(process.cpuUsage(cpu))
        // Warm: the median of WARM_READS reads of the same keys.
        const reads: Array<{ ms: number; cpu: number }> = []
        for (let read = 0; read < WARM_READS; read++) {
          t = performance.now()
          cpu = process.cpuUsage()
          const right = await c.warm(keys)
          reads.push({ ms: performance.now() - t, cpu: cpuMs(process.cpuUsage(cpu)) })
          if (right !== KEYS) throw new Error(`${c.label}: ${KEYS - right} of ${KEYS} values wrong`)
        }
        reads.sort((a, b) => a.ms - b.ms)
        const warm = reads[reads.length >> 1] as { ms: number; cpu: number }
        log(
          `round ${round}/${ROUNDS}${round === 0 ? ' (warm-up)' : ''}  ${c.label.padEnd(60)} cold ${fmtMs(cold)}  warm ${fmtMs(warm.ms)}`,
        )
        if (round === 0) continue
        coldCpu.get(c.id)?.push(coldUsed)
        warmCpu.get(c.id)?.push(warm.cpu)
        coldMs.get(c.id)?.push(cold)
        warmMs.get(c.id)?.push(warm.ms)
      }
      await raw.flushall()
    }

    const fleet = await fleetLoads(url)
    const at = (m: Map<string, number[]>, id: string) => m.get(id) as number[]
    const ratio = (m: Map<string, number[]>, id: string) => {
      const base = at(m, 'raw')
      return median(at(m, id).map((x, i) => x / (base[i] as number)))
    }
    const lines = [
      `Batch: ${KEYS.toLocaleString('en')} keys x ${VALUE_BYTES} B values, ${ROUNDS} rounds after a warm-up round, order rotated, warm = median of ${WARM_READS} reads, corral chunk ${CHUNK ?? 'default'}; ms = median of rounds, ` +
        `x raw = median of per-round time ratios (lower is faster; warm throughput vs raw = 1 / that); ` +
        `node ${process.version}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}.`,
      '',
      '| contender | cold ms | cold x raw | warm ms | warm x raw | warm throughput vs raw | cold CPU x raw | warm CPU x raw |',
      '|---|--:|--:|--:|--:|--:|--:|--:|',
      ...contenders.map(
        (c) =>
          `| ${c.label} | ${fmtMs(median(at(coldMs, c.id)))} | ${ratio(coldMs, c.id).toFixed(2)}x | ` +
          `${fmtMs(median(at(warmMs, c.id)))} | ${ratio(warmMs, c.id).toFixed(2)}x | ${(1 / ratio(warmMs, c.id)).toFixed(2)}x | ` +
          `${ratio(coldCpu, c.id).toFixed(2)}x | ${ratio(warmCpu, c.id).toFixed(2)}x |`,
      ),
      '',
      `Per round (ms): ${contenders
        .map(
          (c) => `${c.id} cold ${at(coldMs, c.id).map(fmtMs).join('/')} warm ${at(warmMs, c.id).map(fmtMs).join('/')}`,
        )
        .join('; ')}.`,
      `Keys loaded again by the warm reads (not stored by the cold pass), all rounds: ${contenders
        .map((c) => `${c.id} ${reloaded[c.id] ?? 0}`)
        .join(', ')}.`,
      '',
      `Fleet: 4 processes x \`wrapMany\` of the same ${FLEET_KEYS.toLocaleString('en')} cold keys with \`lock: true\`: ` +
        `${fleet.loads.toLocaleString('en')} keys loaded in all (${fleet.calls} loader calls), ${fleet.wrong} wrong values, ${fmtMs(fleet.ms)} ms.`,
      `Total time ${((Date.now() - started) / 1000).toFixed(1)} s.`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (err) {
        log(`cleanup failed: ${String(err)}`)
      }
    }
    await redis?.stop()
  }
}

type FleetMessage = { id?: number; event?: string; loads?: number; calls?: number; wrong?: number; error?: string }

/** 4 processes each call `wrapMany` on the same cold keys at one instant; keys loaded are summed. */
async function fleetLoads(url: string): Promise<{ loads: number; calls: number; wrong: number; ms: number }> {
  const worker = new URL('../test/fixtures/batch-worker.ts', import.meta.url).pathname
  const config = JSON.stringify({ url, lock: true, namespace: `fleet${process.pid}` })
  const workers: Worker<FleetMessage>[] = Array.from({ length: 4 }, () =>
    spawnWorker<FleetMessage>(worker, [], { BATCH_CONFIG: config }),
  )
  try {
    await Promise.all(workers.map((w) => w.waitFor((m) => m.event === 'started', 30_000)))
    const keys = Array.from({ length: FLEET_KEYS }, (_, i) => `row:${i}`)
    const at = Date.now() + 500
    workers.forEach((w) => {
      w.send({ id: 1, op: 'wrapMany', keys, loaderMs: 50, at })
    })
    const replies = await Promise.all(workers.map((w) => w.waitFor((m) => m.id === 1, 60_000)))
    const failed = replies.find((r) => r.error)
    if (failed) throw new Error(`fleet: ${failed.error}`)
    return {
      loads: replies.reduce((sum, r) => sum + (r.loads ?? 0), 0),
      calls: replies.reduce((sum, r) => sum + (r.calls ?? 0), 0),
      wrong: replies.reduce((sum, r) => sum + (r.wrong ?? 0), 0),
      ms: Date.now() - at,
    }
  } finally {
    for (const w of workers) w.send({ op: 'exit' })
    await Promise.all(workers.map((w) => Promise.race([w.exited, new Promise((r) => setTimeout(r, 3_000))])))
    await Promise.all(workers.map((w) => w.kill('SIGKILL')))
  }
}

function cpuMs(used: NodeJS.CpuUsage): number {
  return (used.user + used.system) / 1_000
}

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)
}

await main()
