import pLimit from 'p-limit'
import { countQueries, type Origin } from './origin.ts'
import { AREAS, type Area, PERSONS, type Person, SQL } from './sql.ts'

export interface FakeDbOptions {
  /** Time one statement takes. Default 50 ms. */
  queryMs?: number
  /** Statements that run at once, like a database connection pool; the rest queue. Default 10. */
  connections?: number
}

/**
 * An in-process stand-in for MySQL so the demo runs on a fresh machine: the persons and areas
 * tables, a fixed latency per statement and a bounded number of connections, so that a herd
 * queues exactly as it would in front of a real database. It answers only the demo's statements.
 */
export function fakeDb(options: FakeDbOptions = {}): Origin {
  const queryMs = options.queryMs ?? 50
  const connections = options.connections ?? 10
  const persons = new Map<number, Person>(PERSONS.map((name, i) => [i + 1, { employ_id: i + 1, name }]))
  const areas: Area[] = AREAS.map((name, i) => ({ id: i + 1, name }))
  const limit = pLimit(connections)

  const run = (sql: string, params: unknown[]): [unknown, unknown] => {
    switch (sql) {
      case SQL.personById: {
        const row = persons.get(Number(params[0]))
        return [row ? [{ ...row }] : [], []]
      }
      case SQL.areas:
        return [areas.map((a) => ({ ...a })), []]
      case SQL.renamePerson: {
        const row = persons.get(Number(params[1]))
        if (row) row.name = String(params[0])
        return [{ affectedRows: row ? 1 : 0 }, undefined]
      }
      default:
        throw new Error(`fake db: unsupported statement ${JSON.stringify(sql)}`)
    }
  }

  const counted = countQueries({
    query: (sql: string, values?: unknown) =>
      limit(async () => {
        await new Promise((resolve) => setTimeout(resolve, queryMs))
        return run(sql, (values as unknown[] | undefined) ?? [])
      }),
  })
  return {
    description: `in-process fake DB (${queryMs} ms per query, ${connections} connections)`,
    pool: counted.pool,
    get queries() {
      return counted.count()
    },
    takePeak: counted.takePeak,
    close: async () => {},
  }
}
