/**
 * `node --import tsx scripts/dashboard-preview.ts`: a picture of grafana/dashboard.json without Grafana.
 *
 * Starts a throwaway redis-server, two replicas of the demo service (`npm start`) sharing it (so the
 * lock and distributed-coalescing panels have something to show) and a throwaway Prometheus that
 * scrapes both every second. Drives ~80 s of scripted traffic (steady Zipf reads, cold bursts,
 * writes that invalidate, a period where requests outrun the origin, a 2 s Redis stall), then runs
 * every panel's queries through Prometheus' /api/v1/query_range, renders the dashboard as one
 * self-contained HTML page (the panels' gridPos on a 24-column grid, inline SVG, a dark theme like
 * Grafana's) and screenshots it with headless Chromium into docs/images/dashboard.png.
 *
 * Every process it starts is stopped on the way out, on error and on Ctrl-C too.
 *
 * Options: `--out <png>` (default docs/images/dashboard.png), `--html <file>` to keep the HTML,
 * `--seconds <n>` to stretch or shrink the traffic (default 80; the timeline scales with it).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../harness/chromium.ts'
import { type DemoProcess, startDemoProcess } from '../harness/demo.ts'
import { sleep } from '../harness/procs.ts'
import { startPrometheus } from '../harness/prometheus.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

import type { Dashboard } from './dashboard-preview/model.ts'
import { queryPanels, type RangeResult } from './dashboard-preview/query.ts'
import { type Frame, finite, format, renderHtml } from './dashboard-preview/render.ts'
import { CACHE_TTL, L1_ENTRIES, REPLICAS } from './dashboard-preview/settings.ts'
import { agent, drive, type Marker, statuses } from './dashboard-preview/traffic.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const { values: argv } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, 'docs', 'images', 'dashboard.png') },
    html: { type: 'string' },
    seconds: { type: 'string', default: '80' },
  },
})
const OUT = resolve(argv.out)
const SECONDS = Number(argv.seconds)
if (!Number.isFinite(SECONDS) || SECONDS < 20) throw new Error(`--seconds must be a number >= 20, got ${argv.seconds}`)

// ---------------------------------------------------------------------------------------------
// Cleanup: everything started registers how to stop it; run in reverse order, exactly once.
// ---------------------------------------------------------------------------------------------

const cleanups: { what: string; stop: () => Promise<unknown> }[] = []
let cleaning: Promise<void> | undefined
/** Set on Ctrl-C (and by cleanup): the traffic stops and nothing new is started. */
let stopped = false

function onCleanup(what: string, stop: () => Promise<unknown>): void {
  cleanups.push({ what, stop })
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { what, stop } of cleanups.reverse()) {
      try {
        await stop()
      } catch (error) {
        console.error(`cleanup: stopping ${what} failed:`, error)
      }
    }
    cleanups.length = 0
  })()
  return cleaning
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`)
    stopped = true
    void cleanup().finally(() => process.exit(130))
  })
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.chdir(ROOT) // the demo is started as `demo/server.ts`, relative to the repository
  const dashboard = JSON.parse(await readFile(join(ROOT, 'grafana', 'dashboard.json'), 'utf8')) as Dashboard
  onCleanup('http agent', async () => agent.destroy())

  const dir = await mkdtemp(join(tmpdir(), 'corral-dashboard-preview-'))
  onCleanup(`temp dir ${dir}`, () => rm(dir, { recursive: true, force: true }))

  console.log('starting redis-server, the demo and prometheus…')
  const redis: RedisServer = await startRedis()
  onCleanup('redis-server', () => redis.stop())
  const demos: DemoProcess[] = []
  for (let i = 0; i < REPLICAS; i++) {
    const demo = await startDemoProcess({
      REDIS_URL: redis.url,
      CACHE_TTL,
      STATS_INTERVAL_MS: '1000',
      L1_ENTRIES: String(L1_ENTRIES),
    })
    onCleanup(`demo ${demo.url}`, () => demo.stop())
    demos.push(demo)
  }
  const replicas = demos.map((d) => d.url)
  const prometheus = await startPrometheus(
    dir,
    'corral-demo',
    replicas.map((u) => new URL(u).host),
  )
  onCleanup('prometheus', () => prometheus.stop())
  console.log(`  redis ${redis.url}, demo ${replicas.join(' ')}, prometheus ${prometheus.url}`)
  // Two scrapes before the traffic, so every rate starts from a sample.
  await prometheus.waitFor('two scrapes of every replica', 30_000, async () => {
    const q = encodeURIComponent('count(count_over_time(up{job="corral-demo"}[1m]) >= 2)')
    const r = (await (await fetch(`${prometheus.url}/api/v1/query?query=${q}`)).json()) as RangeResult & {
      data?: { result: { value: [number, string] }[] }
    }
    return Number(r.data?.result[0]?.value[1] ?? 0) === REPLICAS
  })

  console.log(`driving ${SECONDS} s of traffic:`)
  const markers: Marker[] = []
  const start = Date.now() / 1_000 - 3
  onCleanup('traffic', async () => {
    stopped = true
  })
  const end =
    (await drive(replicas, markers, { seconds: SECONDS, redisUrl: redis.url, stopped: () => stopped })) / 1_000
  if (stopped) return // interrupted: the signal handler is cleaning up
  await sleep(2_500) // the last scrapes
  console.log(`  responses: ${[...statuses].map(([s, n]) => `${s || 'network error'} x${n}`).join(', ')}`)

  console.log('querying prometheus…')
  const frame: Frame = {
    start: Math.floor(start),
    end: Math.floor(end),
    markers: markers.map((m, i) => ({ t: m.at / 1_000, n: i + 1 })),
  }
  const panels = await queryPanels(prometheus.url, dashboard.panels, frame.start, frame.end)
  for (const { panel, series, errors } of panels) {
    const summary = series.map((s) => {
      const v = finite(s)
      return `${s.legend} max ${format(Math.max(...v), panel.fieldConfig?.defaults?.unit)}`
    })
    const state = errors.length > 0 ? `ERROR ${errors.join('; ')}` : summary.join(', ') || 'NO DATA'
    console.log(`  ${panel.title}: ${state}`)
  }

  const html = renderHtml(
    dashboard,
    panels,
    frame,
    markers.map((m) => m.label),
  )
  const htmlFile = argv.html ? resolve(argv.html) : join(dir, 'dashboard.html')
  await mkdir(dirname(htmlFile), { recursive: true })
  await writeFile(htmlFile, html)

  console.log('screenshotting…')
  const browser: Browser = await launchChromium()
  onCleanup('chromium', () => browser.close())
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } })
  await page.goto(`file://${htmlFile}`)
  await mkdir(dirname(OUT), { recursive: true })
  await page.screenshot({ path: OUT, fullPage: true })
  console.log(`wrote ${OUT}${argv.html ? ` and ${htmlFile}` : ''}`)
}

try {
  await main()
} catch (error) {
  console.error(error)
  process.exitCode = 1
} finally {
  await cleanup()
}
