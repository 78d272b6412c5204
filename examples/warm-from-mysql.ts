// Warm a cache from every row of a MySQL table, with a progress bar (seed 004: "load the table into Redis").
//
//   MYSQL_URL=mysql://root@127.0.0.1:3306/test REDIS_URL=redis://127.0.0.1:6379 \
//     node --import tsx examples/warm-from-mysql.ts [table=persons]
//
// Without REDIS_URL the cache is in memory (only useful to see the progress bar).
import { SingleBar } from 'cli-progress'
import mysql from 'mysql2/promise'
import { createCache, memoryStore, redisStore } from '../src/index.ts'

const table = process.argv[2] ?? 'persons'
if (!/^\w+$/.test(table)) throw new Error(`not a table name: ${table}`)
if (!process.env.MYSQL_URL) throw new Error('set MYSQL_URL, e.g. mysql://root@127.0.0.1:3306/test')

const pool = mysql.createPool({ uri: process.env.MYSQL_URL, connectionLimit: 4 })
const cache = createCache({
  name: 'warm',
  namespace: `warm:${table}`,
  store: process.env.REDIS_URL
    ? redisStore({ url: process.env.REDIS_URL, timeout: 5_000 })
    : memoryStore({ maxEntries: 1_000_000 }),
  ttl: '1h',
})

// The table name is checked above; ids travel as parameters, never inside the SQL text.
const [idRows] = await pool.query<mysql.RowDataPacket[]>(`SELECT id FROM \`${table}\` ORDER BY id`)
const keys = idRows.map((row) => `${table}:${row.id}`)
const bar = new SingleBar({
  format: 'warming {bar} {percentage}% | {value}/{total} rows | {loaded} loaded',
  hideCursor: true,
})
bar.start(keys.length, 0, { loaded: 0 })
const started = performance.now()
const result = await cache.warm(
  keys,
  async (missing) => {
    const ids = missing.map((key) => Number(key.slice(table.length + 1)))
    const [rows] = await pool.query<mysql.RowDataPacket[]>(`SELECT * FROM \`${table}\` WHERE id IN (?)`, [ids])
    return new Map(rows.map((row) => [`${table}:${row.id}`, { ...row }]))
  },
  { batchSize: 500, concurrency: 4, onProgress: ({ done, loaded }) => bar.update(done, { loaded }) },
)
bar.stop()
console.log(
  `${result.total} rows: ${result.loaded} loaded from MySQL, ${result.cached} already cached, in ${Math.round(performance.now() - started)} ms`,
)
await cache.close()
await pool.end()
