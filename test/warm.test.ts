import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { createCache, redisStore } from '../src/index.ts'

describe('warm-up from a real MariaDB table', () => {
  let db: MariaDbServer
  let redis: RedisServer
  let pool: mysql.Pool
  beforeAll(async () => {
    ;[db, redis] = await Promise.all([startMariaDb(), startRedis()])
    pool = mysql.createPool({ uri: db.url, connectionLimit: 4 })
    await pool.query('CREATE TABLE persons (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)')
    const rows = Array.from({ length: 10_000 }, (_, i) => [i + 1, `person ${i + 1}`])
    for (let i = 0; i < rows.length; i += 2_000)
      await pool.query('INSERT INTO persons VALUES ?', [rows.slice(i, i + 2_000)])
  }, 90_000)
  afterAll(async () => {
    await pool?.end()
    await Promise.all([db?.stop(), redis?.stop()])
  })

  it('warms 10,000 rows in batches with bounded concurrency and progress, then serves them without queries', async () => {
    const cache = createCache({
      namespace: 'warm',
      store: redisStore({ url: redis.url, timeout: 10_000 }),
      logger: false,
    })
    let queries = 0
    let inFlight = 0
    let maxInFlight = 0
    const loadMany = async (keys: string[]) => {
      queries += 1
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
      try {
        const ids = keys.map((k) => Number(k.slice('person:'.length)))
        const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT id, name FROM persons WHERE id IN (?)', [ids])
        return new Map(rows.map((r) => [`person:${r.id}`, { id: r.id as number, name: r.name as string }]))
      } finally {
        inFlight -= 1
      }
    }
    const [[{ n }]] = (await pool.query('SELECT COUNT(*) AS n FROM persons')) as unknown as [[{ n: number }]]
    const keys = Array.from({ length: n }, (_, i) => `person:${i + 1}`)
    const progress: number[] = []
    const result = await cache.warm(keys, loadMany, {
      batchSize: 500,
      concurrency: 3,
      onProgress: (p) => progress.push(p.done),
    })
    expect(result).toEqual({ total: 10_000, loaded: 10_000, cached: 0 })
    expect(queries).toBe(20)
    expect(maxInFlight).toBeLessThanOrEqual(3)
    expect(progress).toHaveLength(20)
    expect(progress.at(-1)).toBe(10_000)
    expect(await cache.get('person:1234')).toEqual({ id: 1234, name: 'person 1234' })
    const again = await cache.warm(keys, loadMany, { batchSize: 1_000 })
    expect(again).toEqual({ total: 10_000, loaded: 0, cached: 10_000 })
    expect(queries).toBe(20)
    await cache.close()
  }, 60_000)
})
