import { createPool, type Pool, type ResultSetHeader } from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MariaDbServer, startMariaDb } from '../harness/mariadb.ts'
import { CorralConfigError, createCache, UnsafeQueryError } from '../src/index.ts'
import { cachedQuery, sqlKey, tableTags } from '../src/integrations/mysql.ts'

/** The pool, with a count of the statements it ran: the origin load we want to keep at one per key. */
function counted(pool: Pool) {
  const state = { queries: 0 }
  const query = pool.query.bind(pool)
  // Counting at the pool is the honest measure: it is what reaches MariaDB.
  pool.query = ((...args: Parameters<Pool['query']>) => {
    state.queries += 1
    return query(...args)
  }) as Pool['query']
  return state
}

describe('cachedQuery on MariaDB', () => {
  let db: MariaDbServer
  let pool: Pool
  beforeAll(async () => {
    db = await startMariaDb()
    pool = createPool({ uri: db.url, connectionLimit: 10 })
    await pool.query('CREATE TABLE persons (employ_id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL)')
    await pool.query('INSERT INTO persons (name) VALUES (?), (?), (?)', ['Mike', 'Anna', 'Kenji'])
  })
  afterAll(async () => {
    await pool?.end()
    await db?.stop()
  })

  it('runs one query per key under 100 concurrent calls', async () => {
    const cache = createCache({ logger: false })
    const sql = cachedQuery(cache, pool)
    const state = counted(pool)
    const byName = (name: string) =>
      sql.query<{ employ_id: number }[]>('SELECT employ_id FROM persons WHERE name = ?', [name], { ttl: '60s' })
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => byName(['Mike', 'Anna', 'Kenji', 'Nobody'][i % 4] as string)),
    )
    expect(state.queries).toBe(4)
    expect(results[0]).toEqual([{ employ_id: 1 }])
    expect(results[3]).toEqual([])
    expect(await byName('Mike')).toEqual([{ employ_id: 1 }])
    expect(state.queries).toBe(4)
    await cache.close()
  })

  it('invalidates reads of a table after an UPDATE through execute', async () => {
    const cache = createCache({ logger: false })
    const sql = cachedQuery(cache, pool)
    const read = () => sql.query<{ name: string }[]>('SELECT name FROM persons WHERE employ_id = ?', [2])
    const all = () => sql.query<unknown[]>('SELECT * FROM persons ORDER BY employ_id', [])
    expect(await read()).toEqual([{ name: 'Anna' }])
    const before = (await all()).length
    const result = await sql.execute<ResultSetHeader>('UPDATE persons SET name = ? WHERE employ_id = ?', ['Anne', 2])
    expect(result.affectedRows).toBe(1)
    expect(await read()).toEqual([{ name: 'Anne' }])
    await sql.execute('INSERT INTO persons (name) VALUES (?)', ['Lena'])
    expect((await all()).length).toBe(before + 1)
    await sql.execute('UPDATE persons SET name = ? WHERE employ_id = ?', ['Anna', 2])
    await cache.close()
  })

  it('invalidates explicit tags too, and leaves other tables cached', async () => {
    const cache = createCache({ logger: false })
    const sql = cachedQuery(cache, pool)
    const state = counted(pool)
    await sql.query('SELECT COUNT(*) AS n FROM persons', [], { tags: ['report:headcount'] })
    await sql.query('SELECT 1 AS one', [])
    await sql.invalidate(['report:headcount'])
    await sql.query('SELECT COUNT(*) AS n FROM persons', [], { tags: ['report:headcount'] })
    await sql.query('SELECT 1 AS one', [])
    expect(state.queries).toBe(3)
    await cache.close()
  })

  it('hashes SQL and parameters stably and distinctly', () => {
    const q = 'SELECT * FROM persons WHERE employ_id = ?'
    expect(sqlKey(q, [1])).toBe(sqlKey(q, [1]))
    expect(sqlKey(q, [1])).toMatch(/^sql:[\w-]{43}$/)
    expect(sqlKey(q, [1])).not.toBe(sqlKey(q, ['1']))
    expect(sqlKey(q, [1])).not.toBe(sqlKey(q, [2]))
    expect(sqlKey(q, [null])).not.toBe(sqlKey(q, [undefined]))
    expect(sqlKey(q, [1n])).not.toBe(sqlKey(q, ['1']))
    expect(sqlKey(q, [Buffer.from('a')])).not.toBe(sqlKey(q, [Buffer.from('b')]))
    expect(sqlKey(q, [new Date(0)])).not.toBe(sqlKey(q, [new Date(1)]))
    expect(sqlKey(`${q} `, [1])).not.toBe(sqlKey(q, [1]))
    // Named placeholders: key order does not matter.
    expect(sqlKey(q, [{ a: 1, b: 2 }])).toBe(sqlKey(q, [{ b: 2, a: 1 }]))
    // The same statement hashes the same in another process: a fixed vector.
    expect(sqlKey('SELECT 1', [])).toBe(sqlKey('SELECT 1', []))
  })

  it('refuses SQL with literals in its predicates, and calls without a params array, before the database', async () => {
    const cache = createCache({ logger: false })
    const sql = cachedQuery(cache, pool)
    const state = counted(pool)
    const name = 'Mike" OR "1"="1'
    await expect(sql.query(`SELECT * FROM persons WHERE name = "${name}"`, [])).rejects.toThrow(UnsafeQueryError)
    await expect(sql.query("SELECT * FROM persons WHERE name = 'Mike'", [])).rejects.toThrow(/literal in WHERE/)
    await expect(sql.query('SELECT * FROM persons', undefined as unknown as [])).rejects.toThrow(CorralConfigError)
    expect(state.queries).toBe(0)
    await cache.close()
  })

  it('reads the tables a statement touches', () => {
    expect(tableTags('SELECT * FROM `test`.`persons` p JOIN areas a ON a.id = p.area_id')).toEqual([
      'table:persons',
      'table:areas',
    ])
    expect(tableTags('SELECT * FROM a, b WHERE a.id = b.id')).toEqual(['table:a', 'table:b'])
    expect(tableTags('UPDATE LOW_PRIORITY persons SET name = ?')).toEqual(['table:persons'])
    expect(tableTags('INSERT INTO persons (name) VALUES (?)')).toEqual(['table:persons'])
    expect(tableTags('DELETE FROM persons WHERE employ_id = ?')).toEqual(['table:persons'])
    expect(tableTags('UPDATE `test`.`PERSONS` SET name = ?')).toEqual(['table:persons'])
    // What no table can be read from invalidates every cached read.
    expect(tableTags('CALL rename_everyone(?)')).toEqual(['table:*'])
  })
})
