import { createHash } from 'node:crypto'
import type { Cache } from '../cache.ts'
import type { Duration } from '../duration.ts'
import { CorralConfigError, InvalidationFailedError } from '../errors.ts'
import { EVERY_TABLE, readTags, tableTags } from './sql-parse.ts'
import { decodeRows, encodeRows } from './sql-rows.ts'

export { InvalidationFailedError, UnsafeQueryError, type UnsafeQueryReason } from '../errors.ts'
export { EVERY_TABLE, readTags, tableTags } from './sql-parse.ts'

/**
 * What the helper needs from a mysql2/promise Pool, PoolConnection or Connection. Typed by shape
 * so that mysql2 stays an optional peer: nothing here imports it at run time.
 */
export interface QueryablePool {
  query(sql: string, values?: unknown): Promise<[unknown, unknown]>
}

export interface CachedQueryOptions {
  ttl?: Duration
  grace?: Duration
  /** Added to the `table:<name>` tags read from the SQL. */
  tags?: string[]
}

export interface ExecuteOptions {
  /** Tags to invalidate after the write, added to the `table:<name>` tags read from the SQL. */
  invalidates?: string[]
}

export interface CachedQueries {
  /** Rows of a read, cached under a hash of the SQL and its parameters, tagged by table. */
  query<R = unknown>(sql: string, params: readonly unknown[], options?: CachedQueryOptions): Promise<R>
  /** Runs a write, then invalidates the tags of the tables it touched; returns mysql2's result header. */
  execute<R = unknown>(sql: string, params: readonly unknown[], options?: ExecuteOptions): Promise<R>
  /** Invalidates tags by hand: after the COMMIT of a transaction that ran on a connection of its own. */
  invalidate(tags: string[]): Promise<void>
  /** The cache key `query(sql, params)` reads. */
  key(sql: string, params: readonly unknown[]): string
}

/**
 * Cached reads and invalidating writes over a mysql2 pool. `query` caches only a single read-only
 * statement whose values all travel as parameters (checked by a SQL parser before anything reaches
 * the database); `execute` runs a write and invalidates every table it names.
 */
export function cachedQuery(cache: Cache, pool: QueryablePool): CachedQueries {
  if (typeof pool?.query !== 'function') throw new CorralConfigError('pool', pool, 'must be a mysql2/promise pool')
  const invalidate = (tags: string[]) => cache.invalidateTags(tags)
  return {
    key: sqlKey,
    invalidate,
    async query<R>(sql: string, params: readonly unknown[], options: CachedQueryOptions = {}): Promise<R> {
      checkCall(sql, params)
      const tags = [...new Set([...readTags(sql), EVERY_TABLE, ...(options.tags ?? [])])]
      const { tags: _ignored, ...policy } = options
      const stored = await cache.wrap(
        sqlKey(sql, params),
        async () => {
          const [rows] = await pool.query(sql, params)
          return encodeRows(rows)
        },
        { ...policy, tags },
      )
      return decodeRows<R>(stored)
    },
    async execute<R>(sql: string, params: readonly unknown[], options: ExecuteOptions = {}): Promise<R> {
      checkCall(sql, params)
      const tags = [...new Set([...tableTags(sql), ...(options.invalidates ?? [])])]
      const [result] = await pool.query(sql, params)
      try {
        await invalidate(tags)
      } catch (cause) {
        throw new InvalidationFailedError(tags, result, { cause })
      }
      return result as R
    },
  }
}

/** `sql:` and the SHA-256 of the statement and its parameters: stable across processes and restarts. */
export function sqlKey(sql: string, params: readonly unknown[]): string {
  const text = JSON.stringify([sql, params], stableValue)
  return `sql:${createHash('sha256').update(text).digest('base64url')}`
}

/** Values JSON would drop or collapse get a tagged form, so distinct parameters never share a key. */
function stableValue(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (value === undefined) return { $undefined: true }
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString() }
  // JSON.stringify has already called Buffer#toJSON by the time the replacer sees it.
  if (isBufferJson(value)) return { $bytes: Buffer.from(value.data).toString('base64') }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    // Named placeholders ({ id: 1, name: 'x' }): key order must not change the hash.
    const record = value as Record<string, unknown>
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, record[k]]),
    )
  }
  return value
}

function isBufferJson(value: unknown): value is { type: 'Buffer'; data: number[] } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  )
}

function checkCall(sql: string, params: readonly unknown[]): void {
  if (typeof sql !== 'string' || sql.trim() === '') throw new CorralConfigError('sql', sql, 'must be a SQL string')
  if (!Array.isArray(params))
    throw new CorralConfigError('params', params, 'must be an array of values for the `?` placeholders (may be [])')
}
