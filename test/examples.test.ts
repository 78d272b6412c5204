import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnWorker } from '../harness/child.ts'
import { startDemoProcess } from '../harness/demo.ts'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

/**
 * The README's path with real servers: `npm start` with a MYSQL_URL naming a database that does
 * not exist yet creates and fills it, and examples/ run against that schema as documented.
 */
/** The examples run by the tests below; any other example must be run by another test file. */
const RUN_HERE = ['warm-from-mysql.ts']

describe('the demo on a fresh MariaDB, then examples/ against its schema', () => {
  it('every example in examples/ runs in a test: here, or imported by another test file', () => {
    const tests = readdirSync(new URL('.', import.meta.url))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => readFileSync(new URL(f, import.meta.url), 'utf8'))
    const untested = readdirSync(new URL('../examples', import.meta.url)).filter(
      (file) => !RUN_HERE.includes(file) && !tests.some((text) => text.includes(`examples/${file}`)),
    )
    expect(untested).toEqual([])
  })

  let maria: MariaDbServer
  let redis: RedisServer
  let mysqlUrl: string
  beforeAll(async () => {
    ;[maria, redis] = await Promise.all([startMariaDb(), startRedis()])
    mysqlUrl = `mysql://root@127.0.0.1:${maria.port}/corral_demo`
  })
  afterAll(async () => {
    await Promise.all([maria?.stop(), redis?.stop()])
  })

  it('npm start with MYSQL_URL naming a missing database creates it and serves its rows', async () => {
    const demo = await startDemoProcess({ MYSQL_URL: mysqlUrl })
    try {
      const res = await fetch(`${demo.url}/persons/1`)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ employ_id: 1, name: 'Mike' })
      expect(demo.worker.output()).toContain('(database created)')
    } finally {
      await demo.stop()
    }
  })

  it('examples/warm-from-mysql.ts warms every row with its defaults, and finds them cached the second time', async () => {
    const env = { MYSQL_URL: mysqlUrl, REDIS_URL: redis.url }
    const first = spawnWorker('examples/warm-from-mysql.ts', [], env)
    expect(await first.exited, first.output()).toBe(0)
    expect(first.output()).toMatch(/^20 rows: 20 loaded from MySQL, 0 already cached/m)
    const second = spawnWorker('examples/warm-from-mysql.ts', ['persons', 'employ_id'], env)
    expect(await second.exited, second.output()).toBe(0)
    expect(second.output()).toMatch(/^20 rows: 0 loaded from MySQL, 20 already cached/m)
  })

  it('examples/warm-from-mysql.ts says in one line what is wrong with a missing database', async () => {
    const wrong = spawnWorker('examples/warm-from-mysql.ts', [], {
      MYSQL_URL: `mysql://root@127.0.0.1:${maria.port}/nope`,
    })
    expect(await wrong.exited).toBe(1)
    const lines = wrong.output().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("Unknown database 'nope'")
    expect(lines[0]).toContain('npm start')
  })
})
