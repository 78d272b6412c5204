import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from './ports.ts'
import { killAndWait, run, sleep, spawnTracked, type Tracked } from './procs.ts'

export const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'
export const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool'

export interface PrometheusServer {
  readonly url: string
  readonly proc: Tracked
  /** Polls `check` until it is true, failing early (with Prometheus' output) if Prometheus died. */
  waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void>
  stop(): Promise<void>
}

/**
 * Debian's Prometheus on a free loopback port, scraping `targets` (host:port) every second under
 * `job`, with its data in `dir`. The config is checked by promtool first; resolves once /-/ready.
 */
export async function startPrometheus(dir: string, job: string, targets: string[]): Promise<PrometheusServer> {
  const port = await freePort()
  const config = join(dir, 'prometheus.yml')
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      `  - job_name: ${job}`,
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n'),
  )
  const check = await run(PROMTOOL, ['check', 'config', config])
  if (check.code !== 0) throw new Error(`promtool rejected the config:\n${check.stdout}${check.stderr}`)
  const proc = spawnTracked(PROMETHEUS, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ])
  const url = `http://127.0.0.1:${port}`
  const waitFor = async (what: string, ms: number, ready: () => Promise<boolean>) => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      if (proc.child.exitCode !== null) throw new Error(`${what}: prometheus exited:\n${proc.tail()}`)
      if (await ready().catch(() => false)) return
      await sleep(200)
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}; prometheus output:\n${proc.tail()}`)
  }
  await waitFor('prometheus /-/ready', 30_000, async () => (await fetch(`${url}/-/ready`)).ok)
  return { url, proc, waitFor, stop: () => killAndWait(proc, 'SIGTERM', 10_000) }
}
