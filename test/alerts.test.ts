/**
 * The alert rules shipped in prometheus/corral-alerts.yml, checked and unit-tested by Debian's
 * promtool on synthetic series (prometheus/corral-alerts.test.yml).
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { run } from '../harness/procs.ts'
import { PROMTOOL } from '../harness/prometheus.ts'

const DIR = fileURLToPath(new URL('../prometheus/', import.meta.url))
const RULES = join(DIR, 'corral-alerts.yml')
const TESTS = join(DIR, 'corral-alerts.test.yml')

describe('prometheus/corral-alerts.yml', () => {
  it('passes promtool check rules', async () => {
    if (!existsSync(PROMTOOL)) throw new Error(`promtool is not installed (${PROMTOOL}): apt-get install -y prometheus`)
    const r = await run(PROMTOOL, ['check', 'rules', RULES])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toContain('SUCCESS: 5 rules found')
  })

  it('passes promtool test rules on synthetic series', async () => {
    const r = await run(PROMTOOL, ['test', 'rules', TESTS])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toContain('SUCCESS')
  })

  it('has a unit test for every alert, and only queries corral metrics with bounded labels', async () => {
    const rules = await readFile(RULES, 'utf8')
    const tests = await readFile(TESTS, 'utf8')
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1])
    expect(alerts.sort()).toEqual([
      'CorralBreakerOpen',
      'CorralLoaderErrorRate',
      'CorralLockWaitTimeouts',
      'CorralOriginShareHigh',
      'CorralServingStaleOnErrors',
    ])
    for (const alert of alerts) expect(tests, alert).toContain(`alertname: ${alert}`)
    for (const m of rules.matchAll(/\bby \(([^)]*)\)/g))
      for (const label of (m[1] as string).split(',').map((l) => l.trim()))
        expect(['job', 'instance', 'cache', 'store']).toContain(label)
  })
})
