import type { QueryablePool } from '../src/integrations/mysql.ts'

/** Where the demo's rows come from, with the count of statements that reached it. */
export interface Origin {
  /** Shown at startup and on the page. */
  readonly description: string
  readonly pool: QueryablePool
  readonly queries: number
  close(): Promise<void>
}

/** Wraps a pool so that every statement it runs is counted: the number the demo is about. */
export function countQueries(pool: QueryablePool): { pool: QueryablePool; count(): number } {
  let n = 0
  return {
    pool: {
      query(sql: string, values?: unknown) {
        n += 1
        return pool.query(sql, values)
      },
    },
    count: () => n,
  }
}
