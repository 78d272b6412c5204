import { mkdir } from 'node:fs/promises'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../harness/chromium.ts'
import { type DemoProcess, startDemoProcess } from '../harness/demo.ts'
import { burst } from '../harness/http.ts'

/** Presses the herd button in `mode` and returns that run's row once the page shows it. */
async function herd(page: Page, mode: 'off' | 'aside' | 'corral') {
  const rows = `#runs tbody tr[data-mode="${mode}"]`
  const before = await page.locator(rows).count()
  await page.check(`input[name="mode"][value="${mode}"]`)
  await page.click('#herd')
  await expect.poll(() => page.locator(rows).count(), { timeout: 20_000 }).toBe(before + 1)
  const row = page.locator(rows).first() // newest first
  const number = async (cell: string) => Number(await row.locator(`td.${cell}`).getAttribute('data-value'))
  return { queries: await number('queries'), coalesced: await number('coalesced') }
}

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

  it('shows the numbers under load, and holds them afterwards', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 640 } })
    const failures: string[] = []
    page.on('pageerror', (e) => failures.push(String(e)))
    await page.goto(demo.url)
    await expect.poll(() => page.textContent('#setup')).toContain('memory store')
    expect(await page.textContent('#setup')).toContain('in-process fake DB')
    for (const card of ['rps', 'qps', 'hit', 'coalesced']) expect(await page.isVisible(`#${card} .value`)).toBe(true)

    for (let round = 0; round < 3; round++) {
      await fetch(`${demo.url}/invalidate`, { method: 'POST' })
      await burst(200, (i) => `${demo.url}/persons/${(i % 20) + 1}`)
      await burst(200, (i) => `${demo.url}/persons/${(i % 20) + 1}`)
    }
    const value = async (card: string) => Number(await page.getAttribute(`#${card} .value`, 'data-value'))
    await expect.poll(() => value('rps'), { timeout: 10_000 }).toBeGreaterThan(100)
    await expect.poll(() => value('qps'), { timeout: 10_000 }).toBeGreaterThan(0)
    // Each round's second burst is all hits, so the peak ratio is at least half whatever the timing.
    await expect.poll(() => value('hit'), { timeout: 10_000 }).toBeGreaterThanOrEqual(50)
    // Seconds later, with no traffic, the peaks are still shown (the last one-second sample is 0).
    await expect.poll(async () => (await page.textContent('#rps .total')) ?? '', { timeout: 10_000 }).toContain('now 0')
    expect(await value('rps')).toBeGreaterThan(100)
    expect(failures).toEqual([])
    await page.close()
  })

  it('fires the herd from the server in each mode: cache-aside lets it through, corral holds it', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 640 } })
    const failures: string[] = []
    page.on('pageerror', (e) => failures.push(String(e)))
    page.on('requestfailed', (r) => failures.push(`${r.url()} ${r.failure()?.errorText}`))
    await page.goto(demo.url)
    await expect.poll(() => page.textContent('#setup')).toContain('memory store')

    const off = await herd(page, 'off')
    expect(off).toEqual({ queries: 300, coalesced: 0 })
    const aside = await herd(page, 'aside')
    expect(aside.queries).toBeGreaterThan(20)
    const corral = await herd(page, 'corral')
    // One query per person; every other caller joined a query already running.
    expect(corral).toEqual({ queries: 20, coalesced: 280 })
    expect(aside.queries).toBeGreaterThan(corral.queries)
    expect(await page.textContent('#result')).toMatch(
      /^corral: 300 requests → 20 origin queries, 280 coalesced, in \d+ ms$/,
    )
    // The coalesced card shows the last run's count.
    await expect.poll(() => page.getAttribute('#coalesced .value', 'data-value')).toBe('280')
    // Every run is held on the page, newest first.
    expect(
      await page.locator('#runs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-mode'))),
    ).toEqual(['corral', 'aside', 'off'])

    // The README's picture is this page; a run rewrites it only when asked, so tests leave the tree clean.
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await mkdir('docs/images', { recursive: true })
      await page.screenshot({ path: 'docs/images/demo.png', fullPage: true })
    } else expect((await page.screenshot({ fullPage: true })).length).toBeGreaterThan(10_000)
    expect(failures).toEqual([])
    await page.close()
  })
})
