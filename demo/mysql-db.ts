import { createConnection, createPool } from 'mysql2/promise'
import { countQueries, type Origin } from './origin.ts'
import { AREAS, PERSONS } from './sql.ts'

/**
 * MySQL/MariaDB at `url` through mysql2. The tables are created and seeded if absent, so the
 * demo can point at an empty database. With `queryMs`, every statement first holds its
 * connection in `DO SLEEP()` on the server for that long, so the real database is as slow as the
 * fake one and a herd queues for its 10 connections as it would on a loaded server.
 */
export async function mysqlDb(url: string, options: { queryMs?: number } = {}): Promise<Origin> {
  const queryMs = options.queryMs ?? 0
  const created = await createDatabaseIfMissing(url)
  const pool = createPool({ uri: url, connectionLimit: 10, charset: 'utf8mb4' })
  try {
    await pool.query(
      'CREATE TABLE IF NOT EXISTS persons (employ_id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL) CHARACTER SET utf8mb4',
    )
    await pool.query(
      'CREATE TABLE IF NOT EXISTS areas (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL) CHARACTER SET utf8mb4',
    )
    const [[persons]] = (await pool.query('SELECT COUNT(*) AS n FROM persons')) as unknown as [[{ n: number }]]
    if (persons.n === 0) await pool.query('INSERT INTO persons (name) VALUES ?', [PERSONS.map((name) => [name])])
    const [[areas]] = (await pool.query('SELECT COUNT(*) AS n FROM areas')) as unknown as [[{ n: number }]]
    if (areas.n === 0) await pool.query('INSERT INTO areas (name) VALUES ?', [AREAS.map((name) => [name])])
  } catch (error) {
    await pool.end()
    throw error
  }
  const slowed = {
    async query(sql: string, values?: unknown): Promise<[unknown, unknown]> {
      if (queryMs <= 0) return (await pool.query(sql, values as never)) as [unknown, unknown]
      const connection = await pool.getConnection()
      try {
        await connection.query('DO SLEEP(?)', [queryMs / 1_000])
        return (await connection.query(sql, values as never)) as [unknown, unknown]
      } finally {
        connection.release()
      }
    },
  }
  const counted = countQueries(slowed)
  const where = new URL(url)
  // Said on the page: a fast database answers a herd before it queues, so the modes differ less.
  const delay = queryMs > 0 ? `, +${queryMs} ms per statement (DO SLEEP)` : ', no added delay: QUERY_MS=50 slows it'
  return {
    description: `MySQL at ${where.host}${where.pathname}${created ? ' (database created)' : ''} (mysql2 pool of 10${delay})`,
    pool: counted.pool,
    get queries() {
      return counted.count()
    },
    takePeak: counted.takePeak,
    close: () => pool.end(),
  }
}

/**
 * MYSQL_URL may name a database that does not exist yet (`.../corral_demo` on a fresh server):
 * it is created, as the tables are. Returns true when it was.
 */
async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const database = decodeURIComponent(new URL(url).pathname.slice(1))
  if (database === '') return false
  try {
    const probe = await createConnection({ uri: url })
    await probe.end()
    return false
  } catch (error) {
    if ((error as { code?: string }).code !== 'ER_BAD_DB_ERROR') throw error
  }
  const server = new URL(url)
  server.pathname = '/'
  const admin = await createConnection({ uri: server.toString() })
  try {
    await admin.query('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4', [database])
  } finally {
    await admin.end()
  }
  return true
}
