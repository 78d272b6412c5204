import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { UnsafeQueryError } from '../src/index.ts'
import { readTags } from '../src/integrations/mysql.ts'

const hex = (max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 1, maxLength: max })

/** A value an attacker (or a careless format string) writes into the SQL text. */
const literal = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map((d) => String(d)),
  fc.string({ maxLength: 12 }).map((s) => `'${s.replace(/['\\]/g, '')}'`),
  fc.string({ maxLength: 12 }).map((s) => `"${s.replace(/["\\]/g, '')}"`),
  hex(12).map((h) => `0x${h.length % 2 ? `0${h}` : h}`),
  hex(8).map((h) => `X'${h.length % 2 ? `0${h}` : h}'`),
  fc.constantFrom("b'0101'", 'TRUE', 'FALSE', 'NULL', "DATE '2020-01-01'", "N'x'", '1e3', '.5'),
)
const column = fc.constantFrom('id', 'name', '`name`', 'p.id', 'password')
const table = fc.constantFrom('persons', '`persons`', 'test.persons', 'admins')
const space = fc.constantFrom(' ', '  ', '\n', ' /**/ ', '/**/', ' -- x\n')
const op = fc.constantFrom('=', '<>', '!=', '<', '>=', 'LIKE', '<=>')
/** The parser does not read `<=>`: a statement using it is refused as unparsable, so clean ones avoid it. */
const cleanOp = fc.constantFrom('=', '<>', '!=', '<', '>=', 'LIKE')

/** Where a literal ends up: the shapes injections take, from `id = 0 OR 1=1` to a UNION. */
const injection = fc.oneof(
  literal,
  fc.tuple(literal, column, op, literal).map(([a, c, o, b]) => `${a} OR ${c} ${o} ${b}`),
  fc.tuple(literal, literal).map(([a, b]) => `? OR ${a} = ${b}`),
  fc.tuple(column, table, column, literal).map(([c, t, w, l]) => `? UNION SELECT ${c} FROM ${t} WHERE ${w} = ${l}`),
  fc.tuple(literal).map(([l]) => `? AND (${l})`),
  fc.tuple(literal).map(([l]) => `(SELECT ${'id'} FROM admins WHERE id = ${l})`),
  fc.tuple(literal).map(([l]) => `CASE WHEN 1 THEN ${l} END`),
)

/** A SELECT with the injection in one of its predicates. */
const injected = fc
  .tuple(
    fc.constantFrom('*', 'id, name', 'COUNT(*) AS n'),
    table,
    column,
    op,
    injection,
    space,
    fc.constantFrom('where', 'having', 'join', 'in', 'cte', 'order'),
    fc.boolean(),
  )
  .map(([cols, t, c, o, inj, s, place, lower]) => {
    const sql =
      place === 'where'
        ? `SELECT ${cols} FROM${s}${t} WHERE ${c} ${o} ${inj}`
        : place === 'having'
          ? `SELECT name, COUNT(*) AS n FROM ${t} GROUP BY name HAVING n ${o} ${inj}`
          : place === 'join'
            ? `SELECT * FROM ${t} p JOIN areas a ON a.id = p.area_id AND a.name ${o} ${inj}`
            : place === 'in'
              ? `SELECT ${cols} FROM ${t} WHERE ${c} IN (?, ${inj})`
              : place === 'cte'
                ? `WITH x AS (SELECT * FROM ${t} WHERE ${c} ${o} ${inj}) SELECT * FROM x`
                : `SELECT ${cols} FROM ${t} WHERE ${c} = ? ORDER BY IF(${c} ${o} ${inj}, 0, 1)`
    return lower ? sql.toLowerCase() : sql
  })

/** The same shapes with only placeholders: these must pass, or the property above proves nothing. */
const clean = fc
  .tuple(table, column, cleanOp, space, fc.constantFrom('where', 'in', 'cte', 'join', 'having'))
  .map(([t, c, o, s, place]) =>
    place === 'where'
      ? `SELECT * FROM${s}${t} WHERE ${c} ${o} ?`
      : place === 'in'
        ? `SELECT * FROM ${t} WHERE ${c} IN (?) AND ${c} IS NOT NULL LIMIT 10`
        : place === 'cte'
          ? `WITH x AS (SELECT * FROM ${t} WHERE ${c} ${o} ?) SELECT * FROM x ORDER BY 1`
          : place === 'join'
            ? `SELECT * FROM ${t} p JOIN areas a ON a.id = p.area_id AND a.name ${o} ?`
            : `SELECT name, COUNT(*) AS n FROM ${t} WHERE LOWER(${c}) ${o} CAST(? AS CHAR) GROUP BY name HAVING COUNT(*) > ?`,
  )

describe('the read guard (property)', () => {
  it('accepts no statement with a literal injected into a predicate', () => {
    fc.assert(
      fc.property(injected, (sql) => {
        let refused: unknown
        try {
          readTags(sql)
        } catch (error) {
          refused = error
        }
        expect(refused, sql).toBeInstanceOf(UnsafeQueryError)
        expect(['literal', 'unparsable']).toContain((refused as UnsafeQueryError).reason)
      }),
      { numRuns: 500 },
    )
  })

  it('accepts the same shapes written with placeholders', () => {
    fc.assert(
      fc.property(clean, (sql) => {
        const tags = readTags(sql)
        expect(tags.includes('table:persons') || tags.includes('table:admins'), sql).toBe(true)
      }),
      { numRuns: 100 },
    )
  })
})
