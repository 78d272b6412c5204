import { createRequire } from 'node:module'
import { LRUCache } from 'lru-cache'
import type { TableColumnAst } from 'node-sql-parser'
import { UnsafeQueryError, type UnsafeQueryReason } from '../errors.ts'

// The MariaDB build alone (a tenth of the all-dialects bundle); it is CommonJS without named ESM exports.
const { Parser } = createRequire(import.meta.url)(
  'node-sql-parser/build/mariadb.js',
) as typeof import('node-sql-parser')
const parser = new Parser()
const DIALECT = { database: 'MariaDB' }

/** Carried by every cached read; a write whose tables cannot be told invalidates it (every read). */
export const EVERY_TABLE = 'table:*'

/** Literal node types of the parser's AST: a value written into the SQL text. */
const LITERALS = new Set([
  'number',
  'bigint',
  'string',
  'single_quote_string',
  'double_quote_string',
  'natural_string',
  'hex_string',
  'full_hex_string',
  'bit_string',
  'bool',
  'boolean',
  'null',
  'date',
  'datetime',
  'time',
  'timestamp',
  'regex_string',
])

/** Functions that change state (locks, sequences, files) or just wait: never cached. */
const SIDE_EFFECTS = new Set([
  'GET_LOCK',
  'RELEASE_LOCK',
  'RELEASE_ALL_LOCKS',
  'IS_FREE_LOCK',
  'IS_USED_LOCK',
  'SLEEP',
  'BENCHMARK',
  'LOAD_FILE',
  'NEXTVAL',
  'SETVAL',
  'LASTVAL',
  'MASTER_POS_WAIT',
  'MASTER_GTID_WAIT',
  'SOURCE_POS_WAIT',
])

/** Keys of the AST under which an expression decides which rows come back. */
const PREDICATES: Record<string, string> = { where: 'WHERE', having: 'HAVING', on: 'ON', cond: 'CASE WHEN' }

type Node = Record<string, unknown>

/** Verdicts per SQL text: the same statement is checked once, whatever its parameters. */
const reads = new LRUCache<string, { tags: string[] } | { error: UnsafeQueryError }>({ max: 2_000 })

/**
 * The `table:<name>` tags of a statement `query` may cache, or an UnsafeQueryError: it must be a
 * single SELECT (WITH … SELECT and UNION included), not locking, not SELECT … INTO, with no
 * side-effecting function or variable, and no literal in a predicate (WHERE, HAVING, ON, CASE
 * WHEN, ORDER BY / GROUP BY expressions) of any of its SELECTs: those values come as `?`.
 */
export function readTags(sql: string): string[] {
  let verdict = reads.get(sql)
  if (!verdict) {
    try {
      verdict = { tags: checkRead(sql) }
    } catch (error) {
      if (!(error instanceof UnsafeQueryError)) throw error
      verdict = { error }
    }
    reads.set(sql, verdict)
  }
  if ('error' in verdict) throw verdict.error
  return verdict.tags
}

function checkRead(sql: string): string[] {
  let ast: unknown
  try {
    ast = parser.astify(sql, DIALECT)
  } catch {
    throw refuse('unparsable', sql, 'the MariaDB/MySQL parser cannot read it')
  }
  if (Array.isArray(ast)) {
    if (ast.length !== 1) throw refuse('multiple-statements', sql, `${ast.length} statements`)
    ast = ast[0]
  }
  const statement = ast as Node
  if (statement.type !== 'select')
    throw refuse('not-a-read', sql, `a ${String(statement.type).toUpperCase()} statement`)
  inspectSelect(statement, sql)
  return tagsOf(parser.tableList(sql, DIALECT))
}

/** One SELECT (and the SELECTs it unions with): where literals may and may not be. */
function inspectSelect(select: Node, sql: string): void {
  const into = select.into as Node | null | undefined
  if (into && (into.position || into.expr)) throw refuse('select-into', sql, 'SELECT … INTO writes')
  if (select.locking_read) throw refuse('locking-read', sql, String(select.locking_read))
  for (const cte of (select.with as Node[] | null) ?? []) walk(cte.stmt, undefined, sql)
  walk(select.columns, undefined, sql)
  walk(select.from, undefined, sql)
  walk(select.where, 'WHERE', sql)
  walk(select.having, 'HAVING', sql)
  walk(select.window, undefined, sql)
  // A bare number in ORDER BY / GROUP BY is a column position; anything else there is an expression.
  for (const item of listOf(select.orderby))
    if ((item.expr as Node)?.type !== 'number') walk(item.expr, 'ORDER BY', sql)
  const groupby = select.groupby as Node | Node[] | null
  const groups = Array.isArray(groupby) ? groupby : listOf(groupby?.columns)
  for (const item of groups) if (item.type !== 'number') walk(item, 'GROUP BY', sql)
  if (select._next) inspectSelect(select._next as Node, sql)
}

function listOf(value: unknown): Node[] {
  return Array.isArray(value) ? (value as Node[]) : []
}

/** Walks an expression; `where` names the predicate it is in, if any. */
function walk(node: unknown, where: string | undefined, sql: string): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, where, sql)
    return
  }
  if (node === null || typeof node !== 'object') return
  const n = node as Node
  // A subquery: its own select list is not a predicate, its own WHERE is.
  if (n.ast && typeof n.ast === 'object') {
    inspectSelect(n.ast as Node, sql)
    return
  }
  if (n.type === 'select' && 'columns' in n) {
    inspectSelect(n, sql)
    return
  }
  if (n.type === 'assign') throw refuse('side-effect', sql, 'an assignment (:=)')
  if (n.type === 'var') throw refuse('variable', sql, 'a variable: the result would depend on the session')
  if (n.type === 'column_ref') {
    // The parser reads `1e3` as a column name; MySQL reads a number. No column name starts with a
    // digit here, quoted or not, since the two cannot be told apart.
    if (where !== undefined && /^[\d.]/.test(columnName(n))) throw literalIn(n, where, sql)
    return
  }
  if (n.type === 'function') {
    const name = functionName(n)
    if (SIDE_EFFECTS.has(name)) throw refuse('side-effect', sql, `${name}()`)
    walk(n.args, where, sql)
    walk(n.over, where, sql)
    return
  }
  // `x IS NULL` / `IS NOT NULL` test for absence; that NULL is not a value anyone passes in.
  if (n.type === 'binary_expr' && /^IS( NOT)?$/i.test(String(n.operator)) && (n.right as Node)?.type === 'null') {
    walk(n.left, where, sql)
    return
  }
  if (where !== undefined && isLiteral(n)) throw literalIn(n, where, sql)
  for (const [key, value] of Object.entries(n)) walk(value, where ?? PREDICATES[key], sql)
}

/**
 * A value written in the text: a literal type, or any other node carrying a plain value that is
 * not a placeholder (`?`, `:name`) or a keyword-like name (CURRENT_TIMESTAMP): unknown node kinds
 * count as literals rather than slip through.
 */
function isLiteral(n: Node): boolean {
  if (typeof n.type !== 'string') return false
  if (LITERALS.has(n.type)) return true
  const value = n.value
  if (value === undefined || (typeof value === 'object' && value !== null)) return false
  if (n.type === 'origin') return value !== '?' && !/^[A-Z_]+$/i.test(String(value))
  if (n.type === 'param' || n.type === 'star') return false
  if (n.type === 'default') return /^[\d.+-]/.test(String(value))
  return true
}

function literalIn(n: Node, where: string, sql: string): UnsafeQueryError {
  const kind = n.type === 'column_ref' ? 'number' : String(n.type).replace(/_/g, ' ')
  return refuse('literal', sql, `a ${kind} literal in ${where}: pass it as a ? parameter`)
}

function columnName(n: Node): string {
  const column = n.column as string | { expr?: { value?: unknown } } | undefined
  return typeof column === 'string' ? column : String(column?.expr?.value ?? '')
}

function functionName(n: Node): string {
  const name = n.name as { name?: { value?: unknown }[] } | string | undefined
  if (typeof name === 'string') return name.toUpperCase()
  return (name?.name ?? [])
    .map((part) => String(part.value))
    .join('.')
    .toUpperCase()
}

/**
 * The `table:<name>` tags a write touches, for invalidation: every table the statement names
 * (INSERT … SET, REPLACE, INSERT … SELECT, multi-table UPDATE/DELETE, TRUNCATE, DROP, ALTER,
 * RENAME…). LOAD DATA / LOAD XML, which the parser does not read, by their `INTO TABLE` name.
 * Anything else it cannot read, or a statement naming no table (CALL), gives `table:*`.
 */
export function tableTags(sql: string): string[] {
  const tables = tablesOf(sql) ?? tablesOf(withoutModifiers(sql))
  const tags = tables ? tagsOf(tables) : []
  if (tags.length > 0) return tags
  const loaded = LOAD_INTO.exec(stripped(sql))
  return loaded ? [tag(unquote(loaded[1] as string))] : [EVERY_TABLE]
}

function tablesOf(sql: string): string[] | undefined {
  try {
    return parser.tableList(sql, DIALECT)
  } catch {
    return undefined
  }
}

/** `UPDATE LOW_PRIORITY IGNORE t …` means `UPDATE t …` for our purpose; the parser reads the latter. */
function withoutModifiers(sql: string): string {
  return stripped(sql).replace(
    /^\s*(UPDATE|INSERT|REPLACE|DELETE)((?:\s+(?:LOW_PRIORITY|HIGH_PRIORITY|DELAYED|QUICK|IGNORE))+)\b/i,
    '$1',
  )
}

const NAME = '(?:`(?:[^`]|``)+`|[\\w$]+)'
const LOAD_INTO = new RegExp(
  `^\\s*LOAD\\s+(?:DATA|XML)\\b[\\s\\S]*?\\bINTO\\s+TABLE\\s+(${NAME}(?:\\s*\\.\\s*${NAME})?)`,
  'i',
)

/** The SQL with comments removed and string literals emptied, so neither can hide or fake a name. */
function stripped(sql: string): string {
  return sql.replace(
    /\/\*[\s\S]*?\*\/|--[^\n]*|#[^\n]*|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|(`(?:[^`]|``)*`)/g,
    (m, ident) => (ident ? ident : m.startsWith("'") ? "''" : m.startsWith('"') ? '""' : ' '),
  )
}

/** `schema`.`table` → table, backticks removed. */
function unquote(name: string): string {
  const parts = name.match(new RegExp(NAME, 'g')) ?? [name]
  return (parts[parts.length - 1] as string).replace(/^`|`$/g, '').replace(/``/g, '`')
}

/** The parser's `action::schema::table` list as tags, schema dropped and names lower-cased. */
function tagsOf(tables: TableColumnAst['tableList'] | string[]): string[] {
  const tags = new Set<string>()
  for (const entry of tables) {
    const table = entry.split('::').slice(2).join('::')
    if (table && table !== 'null') tags.add(tag(table))
  }
  return [...tags]
}

/**
 * A table's tag: lower-cased (MySQL folds table names on many systems; a shared tag only costs an
 * extra invalidation) and without its schema, so `test.persons` and `persons` meet.
 */
function tag(table: string): string {
  return `table:${table.toLowerCase()}`
}

function refuse(reason: UnsafeQueryReason, sql: string, detail: string): UnsafeQueryError {
  return new UnsafeQueryError(reason, sql, detail)
}
