import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemoProcess } from '../harness/demo.ts'
import { burst, request } from '../harness/http.ts'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { sleep } from '../harness/stores.ts'

describe('the demo when MySQL is SIGKILLed mid-load', () => {
  let maria: MariaDbServer
  beforeAll(async () => {
    maria = await startMariaDb()
  })
  afterAll(async () => {
    await maria?.stop()
  })

  it('serves graced persons, fails fast on the rest, never hangs, and recovers when MySQL is back', async () => {
    const demo = await startDemoProcess({ MYSQL_URL: maria.url, CACHE_TTL: '500ms' })
    try {
      expect(JSON.parse((await request(`${demo.url}/persons/1`)).body).name).toBe('Mike')
      // Kill the database while 20 requests for an uncached person are on their way.
      const inFlight = burst(20, `${demo.url}/persons/2`)
      await maria.kill('SIGKILL')
      const started = Date.now()
      const during = await inFlight
      expect(during.every((r) => r.status === 200 || r.status >= 500)).toBe(true)
      await sleep(600) // person 1 is stale now: within grace
      for (let i = 0; i < 10; i++) {
        const stale = await request(`${demo.url}/persons/1`)
        expect(stale.status).toBe(200)
        expect(JSON.parse(stale.body).name).toBe('Mike')
      }
      const t = Date.now()
      const cold = await request(`${demo.url}/persons/3`)
      expect(cold.status).toBeGreaterThanOrEqual(500)
      expect(Date.now() - t).toBeLessThan(3_500)
      expect(Date.now() - started).toBeLessThan(15_000)

      await maria.restart()
      let back = 0
      for (let i = 0; i < 50 && back !== 200; i++) {
        await sleep(200)
        back = (await request(`${demo.url}/persons/3`)).status
      }
      expect(back).toBe(200)
    } finally {
      expect(await demo.stop()).toBe(0)
    }
  }, 60_000)
})
