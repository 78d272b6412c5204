// Warm a cache from every row of a MySQL table, with a progress bar: load the table into Redis.
//
//   MYSQL_URL=mysql://root@127.0.0.1:3306/corral_demo REDIS_URL=redis://127.0.0.1:6379 \
//     node --import tsx examples/warm-from-mysql.ts [table=persons] [id column=employ_id]
//
// The defaults fit the demo's schema (`npm start` with MYSQL_URL creates and fills it). Without
// REDIS_URL the cache is in memory (only useful to see the progress bar).
import { SingleBar } from 'cli-progress'
import mysql from 'mysql2/promise'
import { createCache, memoryStore, redisStore } from '../src/index.ts'

const table = process.argv[2] ?? 'persons'
const idColumn = process.argv[3] ?? (table === 'persons' ? 'employ_id' : 'id')
for (const name of [table, idColumn]) {
  if (!/^\w+$/.test(name)) {
    console.error(`not a table or column name: ${JSON.stringify(name)}`)
    process.exit(2)
  }
}
if (!process.env.MYSQL_URL) {
  console.error('set MYSQL_URL, e.g. MYSQL_URL=mysql://root@127.0.0.1:3306/corral_demo')
  process.exit(2)
}

const pool = mysql.createPool({ uri: process.env.MYSQL_URL, connectionLimit: 4 })
const cache = createCache({
  name: 'warm',
  namespace: `warm:${table}`,
  store: process.env.REDIS_URL
    ? redisStore({ url: process.env.REDIS_URL, timeout: 5_000 })
    : memoryStore({ maxEntries: 1_000_000 }),
  ttl: '1h',
})

// Table and column names are checked above; ids travel as parameters, never inside the SQL text.
const [idRows] = await pool
  .query<mysql.RowDataPacket[]>(`SELECT \`${idColumn}\` AS id FROM \`${table}\` ORDER BY \`${idColumn}\``)
  .catch(async (error: { code?: string; message: string }) => {
    // Setup mistakes get one line; anything else keeps its stack.
    const hint: Record<string, string> = {
      ER_BAD_DB_ERROR: 'run `npm start` once with this MYSQL_URL to create and fill the demo database',
      ER_NO_SUCH_TABLE: `no table ${table}: name one as the first argument`,
      ER_BAD_FIELD_ERROR: `no column ${idColumn} in ${table}: name the id column as the second argument`,
      ECONNREFUSED: 'is MySQL running at MYSQL_URL?',
    }
    if (!error.code || !(error.code in hint)) throw error
    console.error(`${error.message}: ${hint[error.code]}`)
    await pool.end()
    process.exit(1)
  })
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
    const [rows] = await pool.query<mysql.RowDataPacket[]>(`SELECT * FROM \`${table}\` WHERE \`${idColumn}\` IN (?)`, [
      ids,
    ])
    return new Map(rows.map((row) => [`${table}:${row[idColumn]}`, { ...row }]))
  },
  { batchSize: 500, concurrency: 4, onProgress: ({ done, loaded }) => bar.update(done, { loaded }) },
)
bar.stop()
console.log(
  `${result.total} rows: ${result.loaded} loaded from MySQL, ${result.cached} already cached, in ${Math.round(performance.now() - started)} ms`,
)
await cache.close()
await pool.end()
