import { mkdir } from 'node:fs/promises'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './support/chromium.ts'
import { type DemoProcess, startDemoProcess } from './support/demo.ts'
import { burst } from './support/http.ts'

describe('the demo page in headless Chromium', () => {
  let demo: DemoProcess
  let browser: Browser
  beforeAll(async () => {
    demo = await startDemoProcess({ QUERY_MS: '30' })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.stop()
  })

  it('renders the four numbers, and they move under load', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 470 } })
    const failures: string[] = []
    page.on('pageerror', (e) => failures.push(String(e)))
    page.on('requestfailed', (r) => failures.push(`${r.url()} ${r.failure()?.errorText}`))
    await page.goto(demo.url)
    await expect.poll(() => page.textContent('#setup')).toContain('memory store')
    expect(await page.textContent('#setup')).toContain('in-process fake DB')
    for (const card of ['rps', 'qps', 'hit', 'coalesced']) expect(await page.isVisible(`#${card} .value`)).toBe(true)

    // Load for a few seconds: cold bursts (after an invalidation) and warm reads.
    const load = (async () => {
      for (let round = 0; round < 6; round++) {
        await fetch(`${demo.url}/invalidate`, { method: 'POST' })
        await burst(200, (i) => `${demo.url}/persons/${(i % 20) + 1}`)
        await burst(200, (i) => `${demo.url}/persons/${(i % 20) + 1}`)
        await new Promise((r) => setTimeout(r, 400))
      }
    })()
    const value = async (card: string) => Number(await page.getAttribute(`#${card} .value`, 'data-value'))
    await expect.poll(() => value('rps'), { timeout: 10_000 }).toBeGreaterThan(100)
    await expect.poll(() => value('qps'), { timeout: 10_000 }).toBeGreaterThan(0)
    await expect.poll(() => value('hit'), { timeout: 10_000 }).toBeGreaterThan(50)
    await expect.poll(() => value('coalesced'), { timeout: 10_000 }).toBeGreaterThan(0)
    await load
    // The sparklines hold the last samples (one a second).
    const points = async () => (await page.getAttribute('#rps polyline', 'points'))?.split(' ').length ?? 0
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(3)

    // The page's own button: a cold start from the browser, reported in words.
    await page.click('#herd')
    await expect
      .poll(() => page.textContent('#result'), { timeout: 10_000 })
      .toMatch(/300 requests → \d+ origin queries/)
    const queries = Number(/→ (\d+) origin/.exec((await page.textContent('#result')) ?? '')?.[1])
    expect(queries).toBeLessThanOrEqual(20)

    await mkdir('docs/images', { recursive: true })
    await page.screenshot({ path: 'docs/images/demo.png' })
    expect(failures).toEqual([])
    await page.close()
  })
})
