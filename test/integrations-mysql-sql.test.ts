import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPool, type Pool } from 'mysql2/promise'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { useRedis } from '../harness/use-redis.ts'
import { type Cache, createCache, redisStore, UnsafeQueryError } from '../src/index.ts'
import { type CachedQueries, cachedQuery } from '../src/integrations/mysql.ts'

describe('cachedQuery on MariaDB: what is refused, what is invalidated, what comes back', () => {
  let db: MariaDbServer
  let pool: Pool
  beforeAll(async () => {
    db = await startMariaDb()
    pool = createPool({ uri: db.url, connectionLimit: 4 })
  })
  afterAll(async () => {
    await pool?.end()
    await db?.stop()
  })

  describe('the guard', () => {
    it('refuses injected literals before anything reaches the database', async () => {
      const cache = createCache({ logger: false })
      let reached = 0
      const sql = cachedQuery(cache, {
        query: (text, values) => {
          reached += 1
          return pool.query(text, values as unknown[])
        },
      })
      for (const text of [
        'SELECT * FROM persons WHERE id = 0 OR 1=1',
        'SELECT * FROM persons WHERE id = 0 UNION SELECT password FROM admins',
        'SELECT * FROM persons WHERE name = 0x616c696365',
      ]) {
        const refused = await sql.query(text, []).catch((error: unknown) => error)
        expect(refused).toBeInstanceOf(UnsafeQueryError)
        expect(refused).toMatchObject({ reason: 'literal', sql: text })
      }
      for (const [text, reason] of [
        ['DELETE FROM persons WHERE id = ?', 'not-a-read'],
        ['SELECT 1; DROP TABLE persons', 'multiple-statements'],
        ['SELECT * FROM persons WHERE id = ? FOR UPDATE', 'locking-read'],
        ['SELECT name INTO @n FROM persons WHERE id = ?', 'select-into'],
        ['SELECT SLEEP(?)', 'side-effect'],
        ['SELECT * FROM persons WHERE id = @id', 'variable'],
        ['SELEC * FROM persons', 'unparsable'],
      ] as const) {
        await expect(sql.query(text, [1])).rejects.toMatchObject({ name: 'UnsafeQueryError', reason })
      }
      expect(reached).toBe(0)
      await cache.close()
    })
  })

  describe('writes invalidate every table they touch', () => {
    let cache: Cache
    let sql: CachedQueries
    beforeEach(async () => {
      await pool.query('DROP TABLE IF EXISTS persons, areas')
      await pool.query('CREATE TABLE areas (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)')
      await pool.query(
        'CREATE TABLE persons (employ_id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL, area_id INT)',
      )
      await pool.query('INSERT INTO areas VALUES (1, ?), (2, ?)', ['east', 'west'])
      await pool.query('INSERT INTO persons (name, area_id) VALUES (?, 1), (?, 2)', ['Mike', 'Anna'])
      cache?.close()
      cache = createCache({ logger: false, ttl: '1h' })
      sql = cachedQuery(cache, pool)
    })
    afterAll(() => cache?.close())

    /** Cached reads of persons, in a few spellings a read may use. */
    const reads = () => ({
      count: () =>
        sql.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM/**/persons', []).then((rows) => Number(rows[0]?.n)),
      name: (id: number) =>
        sql
          .query<{ name: string }[]>('SELECT `name` FROM `test`.`persons` WHERE employ_id = ?', [id])
          .then((rows) => rows[0]?.name),
    })

    it('INSERT … SET (no INTO)', async () => {
      const { count } = reads()
      expect(await count()).toBe(2)
      await sql.execute('INSERT persons SET name = ?, area_id = ?', ['Lena', 1])
      expect(await count()).toBe(3)
    })

    it('REPLACE … SET', async () => {
      const { name } = reads()
      expect(await name(1)).toBe('Mike')
      await sql.execute('REPLACE persons SET employ_id = ?, name = ?', [1, 'Michael'])
      expect(await name(1)).toBe('Michael')
    })

    it('INSERT … SELECT', async () => {
      const { count } = reads()
      expect(await count()).toBe(2)
      await sql.execute('INSERT INTO persons (name, area_id) SELECT name, id FROM areas WHERE id = ?', [2])
      expect(await count()).toBe(3)
    })

    it('multi-table UPDATE and DELETE', async () => {
      const { name, count } = reads()
      expect(await name(1)).toBe('Mike')
      expect(await count()).toBe(2)
      await sql.execute('UPDATE areas a JOIN persons p ON p.area_id = a.id SET p.name = a.name WHERE a.id = ?', [1])
      expect(await name(1)).toBe('east')
      await sql.execute('DELETE p FROM persons AS p JOIN areas a ON a.id = p.area_id WHERE a.name = ?', ['west'])
      expect(await count()).toBe(1)
    })

    it('TRUNCATE TABLE', async () => {
      const { count } = reads()
      expect(await count()).toBe(2)
      await sql.execute('TRUNCATE TABLE persons', [])
      expect(await count()).toBe(0)
    })

    it('LOAD DATA … INTO TABLE', async () => {
      const file = join(tmpdir(), `corral-persons-${process.pid}.tsv`)
      await writeFile(file, 'Kenji\t1\nLena\t2\n')
      const { count } = reads()
      expect(await count()).toBe(2)
      await sql.execute('LOAD DATA INFILE ? INTO TABLE `persons` (name, area_id)', [file])
      expect(await count()).toBe(4)
    })

    it('comments, quoting, schema-qualified names and modifiers', async () => {
      const { name } = reads()
      expect(await name(2)).toBe('Anna')
      await sql.execute('UPDATE /* rename */ LOW_PRIORITY `test` . `persons` SET name = ? WHERE employ_id = ?', [
        'Anne',
        2,
      ])
      expect(await name(2)).toBe('Anne')
      // A form the parser does not read: every cached read is invalidated rather than none.
      await sql.execute(
        'DELETE FROM persons USING persons JOIN areas WHERE persons.area_id = areas.id AND areas.id = ?',
        [2],
      )
      expect(await name(2)).toBeUndefined()
    })
  })

  describe('rows on a hit are the rows of the miss', () => {
    const redis = useRedis()

    it('Date, Buffer, BIGINT, DECIMAL, JSON and NULL come back with their types through Redis and JSON', async () => {
      await pool.query('DROP TABLE IF EXISTS typed')
      await pool.query(
        'CREATE TABLE typed (id INT PRIMARY KEY, big BIGINT, price DECIMAL(10,2), at DATETIME(3), ts TIMESTAMP NULL, data BLOB, doc JSON, nothing INT NULL)',
      )
      await pool.query('INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?, ?, NULL)', [
        1,
        '9007199254740993',
        '12.50',
        new Date('2026-01-02T03:04:05.678Z'),
        new Date('2026-01-02T03:04:05Z'),
        Buffer.from([0, 1, 2, 255]),
        JSON.stringify({ a: [1, 'x'] }),
      ])
      const bigPool = createPool({ uri: db.url, connectionLimit: 2, supportBigNumbers: true, bigNumberStrings: false })
      for (const [i, p] of [pool, bigPool].entries()) {
        const cache = createCache({
          namespace: `typed-${i}`,
          store: redisStore({ url: redis.server.url }),
          serializer: 'json',
          logger: false,
        })
        const sql = cachedQuery(cache, p)
        const read = () => sql.query<Record<string, unknown>[]>('SELECT * FROM typed WHERE id = ?', [1])
        const [direct] = await p.query('SELECT * FROM typed WHERE id = ?', [1])
        const miss = await read()
        const hit = await read()
        expect(miss).toEqual(direct)
        expect(hit).toEqual(direct)
        const row = hit[0] as Record<string, unknown>
        expect(row.at).toBeInstanceOf(Date)
        expect(row.ts).toBeInstanceOf(Date)
        expect(Buffer.isBuffer(row.data)).toBe(true)
        expect(typeof row.big).toBe(typeof (direct as Record<string, unknown>[])[0]?.big)
        // Each caller gets its own rows: changing one does not change the cache.
        row.price = 'changed'
        expect((await read())[0]?.price).toBe('12.50')
        await cache.close()
      }
      await bigPool.end()
    })
  })
})
