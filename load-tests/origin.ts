/**
 * The origin every contender reads through: a MariaDB table of persons behind a stored procedure
 * that sleeps 20-50 ms (a slow query) and logs the call into `origin_log`. The log is the count:
 * origin calls are counted by MariaDB itself, in the query path, never by the code under test.
 */
import { createConnection, createPool, type Pool, type RowDataPacket } from 'mysql2/promise'

export interface Person {
  id: number
  name: string
  email: string
  city: string
}

export interface OriginCall {
  personId: number
  /** When the procedure started / finished, by MariaDB's clock (ms since the epoch). */
  startMs: number
  endMs: number
}

const CITIES = ['Lyon', 'Porto', 'Tartu', 'Gdansk', 'Kyoto', 'Recife', 'Cork', 'Graz']

/** Creates the schema and `persons` rows 1..n in a fresh database. */
export async function setUpOrigin(url: string, persons: number): Promise<void> {
  const conn = await createConnection({ uri: url, multipleStatements: true })
  try {
    await conn.query(`
      CREATE TABLE persons (
        id INT PRIMARY KEY,
        name VARCHAR(64) NOT NULL,
        email VARCHAR(128) NOT NULL,
        city VARCHAR(64) NOT NULL
      ) ENGINE=InnoDB;
      CREATE TABLE origin_log (
        seq BIGINT AUTO_INCREMENT PRIMARY KEY,
        run VARCHAR(64) NOT NULL,
        person_id INT NOT NULL,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        KEY by_run (run, start_ms)
      ) ENGINE=InnoDB;
      CREATE PROCEDURE person_by_id(IN p_run VARCHAR(64), IN p_id INT, IN p_min_ms INT, IN p_max_ms INT)
      BEGIN
        DECLARE t0 BIGINT DEFAULT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED);
        DO SLEEP((p_min_ms + RAND() * (p_max_ms - p_min_ms)) / 1000);
        INSERT INTO origin_log (run, person_id, start_ms, end_ms)
          VALUES (p_run, p_id, t0, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED));
        SELECT id, name, email, city FROM persons WHERE id = p_id;
      END;
    `)
    const rows: unknown[][] = []
    for (let id = 1; id <= persons; id++) {
      rows.push([id, `Person ${id}`, `person${id}@example.com`, CITIES[id % CITIES.length]])
    }
    for (let i = 0; i < rows.length; i += 1000) {
      await conn.query('INSERT INTO persons (id, name, email, city) VALUES ?', [rows.slice(i, i + 1000)])
    }
  } finally {
    await conn.end()
  }
}

/** One process's way to the origin: a connection pool and the procedure call. */
export class Origin {
  readonly pool: Pool
  constructor(
    url: string,
    readonly run: string,
    readonly minMs: number,
    readonly maxMs: number,
    connections: number,
  ) {
    this.pool = createPool({ uri: url, connectionLimit: connections, waitForConnections: true, queueLimit: 0 })
  }

  /** Opens `n` connections up front, so the first requests don't pay for connecting. */
  async warm(n: number): Promise<void> {
    const conns = await Promise.all(Array.from({ length: n }, () => this.pool.getConnection()))
    for (const c of conns) c.release()
  }

  async person(id: number): Promise<Person> {
    const [results] = await this.pool.query<RowDataPacket[][]>('CALL person_by_id(?, ?, ?, ?)', [
      this.run,
      id,
      this.minMs,
      this.maxMs,
    ])
    const row = results[0]?.[0]
    if (!row) throw new Error(`person ${id} not found`)
    return { id: row.id, name: row.name, email: row.email, city: row.city }
  }

  close(): Promise<void> {
    return this.pool.end()
  }
}

/** Every origin call logged for `run`, in start order. */
export async function originCalls(url: string, run: string): Promise<OriginCall[]> {
  const conn = await createConnection(url)
  try {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT person_id, start_ms, end_ms FROM origin_log WHERE run = ? ORDER BY start_ms',
      [run],
    )
    return rows.map((r) => ({ personId: r.person_id, startMs: Number(r.start_ms), endMs: Number(r.end_ms) }))
  } finally {
    await conn.end()
  }
}

/** How many origin calls `run` has made so far (for the progress bar). */
export async function originCount(pool: Pool, run: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM origin_log WHERE run = ?', [run])
  return Number(rows[0]?.n ?? 0)
}
