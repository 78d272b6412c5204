/**
 * What the miss-path, fill and Redis-hit benches share: the row every loader returns, a loop that
 * keeps 64 calls in flight, timing and heap readings, medians and number formats.
 */
import { cpus, loadavg } from 'node:os'

/** Calls kept in flight by the loops (a service answering 64 requests at once). */
export const CONCURRENCY = 64

export function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/** Rounds per case; each figure in a table is the median of the rounds. */
export const ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 3)

/** A 200-byte row as JSON: what a database driver would hand back for a person. */
export function rowJson(i: number): string {
  const id = String(i).padStart(7, '0')
  const head = `{"id":${i},"name":"Person ${id}","email":"person${id}@example.com","team":"team-${i % 97}","bio":"`
  return `${head}${'b'.repeat(198 - head.length)}"}`
}

/** A row as a driver returns it: a fresh object with fresh strings each call, never shared between keys. */
export function row(i: number): Row {
  return JSON.parse(rowJson(i)) as Row
}

export interface Row {
  id: number
  name: string
  email: string
  team: string
  bio: string
}

/** Runs `fn(0..n-1)` with `concurrency` calls in flight: the next starts as soon as one settles. */
export async function inFlight(n: number, fn: (i: number) => Promise<unknown>, concurrency = CONCURRENCY) {
  let next = 0
  const worker = async () => {
    while (next < n) await fn(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

/** Wall time of `fn` in ms. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

/** Heap in use after a full collection (needs `node --expose-gc`; undefined without it). */
export function settledHeap(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return undefined
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Figures per case, one per round, and the medians and within-round ratios read from them. */
export class Rounds {
  readonly #figures = new Map<string, number[]>()

  add(id: string, figure: number): void {
    const list = this.#figures.get(id)
    if (list) list.push(figure)
    else this.#figures.set(id, [figure])
  }

  has(id: string): boolean {
    return this.#figures.has(id)
  }

  all(id: string): number[] {
    const list = this.#figures.get(id)
    if (!list?.length) throw new Error(`no figures for ${id}`)
    return list
  }

  median(id: string): number {
    return median(this.all(id))
  }

  /** Median over rounds of a / b within each round, so a slow round moves both sides together. */
  ratio(a: string, b: string): number {
    const bs = this.all(b)
    return median(this.all(a).map((x, i) => x / (bs[i] as number)))
  }

  /** Every figure of every case, for the record under a table. */
  perRound(format: (n: number) => string): string {
    return [...this.#figures].map(([id, xs]) => `${id} ${xs.map(format).join('/')}`).join('; ')
  }
}

export function fmtOps(ops: number): string {
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M`
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)}K`
  return ops.toFixed(0)
}

export function fmtRatio(x: number): string {
  return `${x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}x`
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)
}

export function fmtMb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`
}

export function fmtUs(us: number): string {
  return us >= 10 ? us.toFixed(1) : us.toFixed(2)
}

/** One line saying where and how the figures were taken. */
export function machine(): string {
  const [one] = loadavg()
  return `node ${process.version}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}, load average ${one?.toFixed(1)} at the start`
}

export const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`)
}

/** A markdown table. */
export function table(head: readonly string[], align: readonly ('l' | 'r')[], rows: readonly string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ]
}

/** Closes what a bench opened, last first, reporting (not throwing) what fails. */
export class Cleanups {
  readonly #list: Array<() => unknown> = []

  add(...fns: Array<() => unknown>): void {
    this.#list.push(...fns)
  }

  async run(): Promise<void> {
    for (const fn of this.#list.reverse()) {
      try {
        await fn()
      } catch (error) {
        log(`cleanup failed: ${String(error)}`)
      }
    }
    this.#list.length = 0
  }
}
