import type { QueryablePool } from '../src/integrations/mysql.ts'

/** Where the demo's rows come from, with the count of statements that reached it. */
export interface Origin {
  /** Shown at startup and on the page. */
  readonly description: string
  readonly pool: QueryablePool
  readonly queries: number
  /** The most statements that ran at once since the last call (then starts again from those running now). */
  takePeak(): number
  close(): Promise<void>
}

/** Wraps a pool so that every statement it runs is counted, and how many run at once: the numbers the demo is about. */
export function countQueries(pool: QueryablePool): {
  pool: QueryablePool
  count(): number
  takePeak(): number
} {
  let n = 0
  let running = 0
  let peak = 0
  return {
    pool: {
      async query(sql: string, values?: unknown) {
        n += 1
        running += 1
        peak = Math.max(peak, running)
        try {
          return await pool.query(sql, values)
        } finally {
          running -= 1
        }
      },
    },
    count: () => n,
    takePeak: () => {
      const seen = peak
      peak = running
      return seen
    },
  }
}
