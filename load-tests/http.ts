/**
 * The `http` scenario: demo/server.ts (GET /persons/:id) in a node:cluster of 2 workers, cold,
 * under autocannon at a fixed overall rate, once per mode: no cache (CORRAL_MODE=off), the
 * demo's cache-aside (aside) and corral with Redis + lock (corral). MySQL is a throwaway MariaDB
 * where `persons` is a view whose `name` column comes from a stored function that sleeps 20-50 ms
 * and logs the call: the demo's own SELECT is the origin query, counted by MariaDB.
 */
import autocannon from 'autocannon'
import cliProgress from 'cli-progress'
import { Redis } from 'ioredis'
import { createConnection, type RowDataPacket } from 'mysql2/promise'
import { spawnWorker } from '../harness/child.ts'
import { startMariaDb } from '../harness/mariadb.ts'
import { freePort } from '../harness/ports.ts'
import { startRedis } from '../harness/redis-server.ts'
import { type Column, fmtInt, fmtMs, markdownTable, svgChart, write } from './report.ts'
import { prng, zipf } from './traffic.ts'

const CLUSTER = new URL('./http-cluster.ts', import.meta.url).pathname

interface HttpRow {
  name: string
  requests: number
  errors: number
  originCalls: number
  keys: number
  originCallsPerKey: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  reqPerSec: number
  targetReqPerSec: number
}

const MODES = [
  { name: 'no cache', mode: 'off' },
  { name: 'cache-aside (demo)', mode: 'aside' },
  { name: 'corral+lock (demo)', mode: 'corral' },
] as const

async function setUp(url: string, persons: number): Promise<void> {
  const conn = await createConnection({ uri: url, multipleStatements: true })
  try {
    await conn.query(`
      CREATE TABLE persons_t (employ_id INT PRIMARY KEY, name VARCHAR(64) NOT NULL) CHARACTER SET utf8mb4;
      CREATE TABLE areas (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL) CHARACTER SET utf8mb4;
      INSERT INTO areas (name) VALUES ('north'), ('south');
      CREATE TABLE current_run (run VARCHAR(64) NOT NULL);
      INSERT INTO current_run VALUES ('setup');
      CREATE TABLE origin_log (
        seq BIGINT AUTO_INCREMENT PRIMARY KEY, run VARCHAR(64) NOT NULL, person_id INT NOT NULL,
        start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL
      ) ENGINE=InnoDB;
      CREATE FUNCTION slow_name(p_id INT, p_name VARCHAR(64)) RETURNS VARCHAR(64) NOT DETERMINISTIC MODIFIES SQL DATA
      BEGIN
        DECLARE t0 BIGINT DEFAULT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED);
        DO SLEEP((20 + RAND() * 30) / 1000);
        INSERT INTO origin_log (run, person_id, start_ms, end_ms)
          SELECT run, p_id, t0, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) FROM current_run;
        RETURN p_name;
      END;
      CREATE VIEW persons AS SELECT employ_id, slow_name(employ_id, name) AS name FROM persons_t;
    `)
    const rows = Array.from({ length: persons }, (_, i) => [i + 1, `Person ${i + 1}`])
    await conn.query('INSERT INTO persons_t (employ_id, name) VALUES ?', [rows])
  } finally {
    await conn.end()
  }
}

export async function runHttp(quick: boolean): Promise<number> {
  const p = {
    workers: 2,
    connections: quick ? 100 : 300,
    overallRate: quick ? 400 : 1_000,
    durationS: quick ? 4 : 20,
    keys: 1_000,
    zipfS: 1,
    originMinMs: 20,
    originMaxMs: 50,
    binMs: 500,
    quick,
  }
  process.stderr.write(`http${quick ? ' (quick)' : ''}: starting redis-server and mariadbd on free loopback ports\n`)
  const [redis, db] = await Promise.all([startRedis(), startMariaDb()])
  const rows: HttpRow[] = []
  const chart: { name: string; values: number[] }[] = []
  try {
    await setUp(db.url, p.keys)
    const admin = await createConnection(db.url)
    try {
      for (const { name, mode } of MODES) {
        const raw = new Redis(redis.url, { protocol: 2 })
        await raw.flushall()
        raw.disconnect()
        const run = `http/${mode}/${Date.now().toString(36)}`
        await admin.query('UPDATE current_run SET run = ?', [run])
        const port = await freePort()
        const server = spawnWorker<{ type: string }>(CLUSTER, [], {
          PORT: String(port),
          WORKERS: String(p.workers),
          MYSQL_URL: db.url,
          REDIS_URL: redis.url,
          CORRAL_MODE: mode,
          STATS_INTERVAL_MS: '60000',
        })
        try {
          await server.waitFor((m) => m.type === 'ready', 60_000)
          const random = prng(42)
          const pick = zipf(p.keys, p.zipfS, random)
          const bar = new cliProgress.SingleBar(
            { format: `${name.padEnd(24)} {bar} {percentage}% | {value}/{total} s`, hideCursor: true, barsize: 24 },
            cliProgress.Presets.shades_classic,
          )
          const answered = new Set<number>()
          const startAt = Date.now()
          bar.start(p.durationS, 0)
          const ticker = setInterval(
            () => bar.update(Math.min(p.durationS, Math.floor((Date.now() - startAt) / 1000))),
            250,
          )
          const result = await autocannon({
            url: `http://127.0.0.1:${port}`,
            connections: p.connections,
            overallRate: p.overallRate,
            duration: p.durationS,
            timeout: 10,
            requests: [
              {
                method: 'GET',
                setupRequest: (req) => ({ ...req, path: `/persons/${pick() + 1}` }),
                onResponse: (status, body) => {
                  if (status === 200) answered.add((JSON.parse(body) as { employ_id: number }).employ_id)
                },
              },
            ],
          })
          // Queries still running when autocannon stopped: wait until MariaDB's log stops growing.
          let last = -1
          for (let i = 0; i < 40; i++) {
            const [c] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM origin_log WHERE run = ?', [run])
            const n = Number(c[0]?.n)
            if (n === last) break
            last = n
            await new Promise((r) => setTimeout(r, 500))
          }
          clearInterval(ticker)
          bar.update(p.durationS)
          bar.stop()
          const [logRows] = await admin.query<RowDataPacket[]>(
            'SELECT person_id, start_ms FROM origin_log WHERE run = ? ORDER BY start_ms',
            [run],
          )
          const bins = new Array<number>(Math.ceil(((p.durationS + 2) * 1000) / p.binMs)).fill(0)
          const perKey = new Set<number>()
          for (const r of logRows) {
            perKey.add(r.person_id)
            const b = Math.floor((Number(r.start_ms) - startAt) / p.binMs)
            if (b >= 0 && b < bins.length) bins[b] = (bins[b] as number) + 1
          }
          const requested = answered
          const errors = result.errors + result.timeouts + result.non2xx
          rows.push({
            name,
            requests: result.requests.total,
            errors,
            originCalls: logRows.length,
            keys: requested.size,
            originCallsPerKey: Math.round((logRows.length / Math.max(1, requested.size)) * 1000) / 1000,
            p50Ms: result.latency.p50,
            p99Ms: result.latency.p99,
            maxMs: result.latency.max,
            reqPerSec: Math.round(result.requests.average),
            targetReqPerSec: p.overallRate,
          })
          chart.push({ name, values: bins.map((n) => Math.round((n * 1000) / p.binMs)) })
          process.stderr.write(
            `  ${name}: ${fmtInt(logRows.length)} origin calls, ${fmtInt(errors)} errors, p99 ${fmtMs(result.latency.p99)} ms, ${fmtInt(result.requests.average)} req/s\n`,
          )
        } finally {
          await server.kill('SIGTERM')
        }
      }
    } finally {
      await admin.end()
    }
  } finally {
    await Promise.all([redis.stop(), db.stop()])
  }
  const subtitle = `demo/server.ts in a node:cluster of ${p.workers} workers, autocannon ${p.connections} connections at ${fmtInt(p.overallRate)} req/s for ${p.durationS} s, ${fmtInt(p.keys)} persons (Zipf s=${p.zipfS}), from an empty cache, origin = MariaDB query of 20-50 ms${quick ? ' (quick)' : ''}`
  const cols: Column<HttpRow>[] = [
    { title: 'contender', value: (r) => r.name },
    { title: 'responses', right: true, value: (r) => fmtInt(r.requests) },
    { title: 'req/s served', right: true, value: (r) => `${fmtInt(r.reqPerSec)} of ${fmtInt(r.targetReqPerSec)}` },
    { title: 'errors', right: true, value: (r) => fmtInt(r.errors) },
    { title: 'origin calls', right: true, value: (r) => fmtInt(r.originCalls) },
    { title: 'keys', right: true, value: (r) => fmtInt(r.keys) },
    { title: 'calls/key', right: true, value: (r) => r.originCallsPerKey.toFixed(2) },
    { title: 'p50 ms', right: true, value: (r) => fmtMs(r.p50Ms) },
    { title: 'p99 ms', right: true, value: (r) => fmtMs(r.p99Ms) },
    { title: 'max ms', right: true, value: (r) => fmtMs(r.maxMs) },
  ]
  await write(
    'http',
    quick,
    { scenario: 'http', params: p, contenders: rows, series: { binMs: p.binMs, contenders: chart } },
    svgChart({ title: 'http: origin queries per second', subtitle, binMs: p.binMs, series: chart }),
  )
  process.stdout.write(`\n${subtitle}\n\n${markdownTable(rows, cols)}\n\n`)
  const corral = rows.find((r) => r.name.startsWith('corral'))
  if (corral && corral.errors > 0) {
    process.stderr.write(`CHECK FAILED corral: ${corral.errors} requests failed\n`)
    return 1
  }
  return 0
}
