/** Turning one scenario's measurements into the JSON, the Markdown table and the SVG chart. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'

const RESULTS = fileURLToPath(new URL('./results', import.meta.url))

export type Histogram = ReturnType<typeof hdr.build>

/** Latencies in microseconds, 1 µs to 10 min, 3 significant digits. */
export function histogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
}

/** p50 / p99 / max of a histogram of microseconds, in milliseconds (2 decimals). */
export function summary(h: Histogram): { p50Ms: number; p99Ms: number; maxMs: number } {
  if (h.totalCount === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 }
  const ms = (us: number) => Math.round(us / 10) / 100
  return { p50Ms: ms(h.getValueAtPercentile(50)), p99Ms: ms(h.getValueAtPercentile(99)), maxMs: ms(h.maxValue) }
}

export interface Column<R> {
  title: string
  right?: boolean
  value(row: R): string
}

export function markdownTable<R>(rows: R[], columns: Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)))
  const widths = columns.map((c, i) => Math.max(c.title.length, 3, ...cells.map((row) => (row[i] as string).length)))
  const pad = (s: string, i: number) =>
    columns[i]?.right ? s.padStart(widths[i] as number) : s.padEnd(widths[i] as number)
  const line = (row: string[]) => `| ${row.map(pad).join(' | ')} |`
  const rule = `| ${widths.map((w, i) => (columns[i]?.right ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`
  return [line(columns.map((c) => c.title)), rule, ...cells.map(line)].join('\n')
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US')
export const fmtMs = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2))

const COLORS = [
  '#d62728',
  '#ff7f0e',
  '#9467bd',
  '#1f77b4',
  '#2ca02c',
  '#17becf',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
]

export interface ChartSeries {
  name: string
  /** Values per bin, in queries per second. */
  values: number[]
}

export interface ChartOptions {
  title: string
  subtitle: string
  binMs: number
  series: ChartSeries[]
  /** Shaded intervals (seconds), e.g. the Redis outage. */
  bands?: { fromS: number; toS: number; label: string }[]
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * A line chart of origin queries per second over time, one line per contender, on a log scale
 * (naive cache-aside and corral differ by orders of magnitude; 0 sits on the bottom axis).
 */
export function svgChart(o: ChartOptions): string {
  const W = 960
  const H = 420
  // The subtitle wraps at a comma when it is too long for one line.
  const lines: string[] = []
  let rest = o.subtitle
  while (rest.length > 125) {
    const cut = rest.lastIndexOf(', ', 125)
    if (cut < 0) break
    lines.push(rest.slice(0, cut + 1))
    rest = rest.slice(cut + 2)
  }
  lines.push(rest)
  const m = { l: 64, r: 210, t: 44 + 16 * lines.length, b: 48 }
  const pw = W - m.l - m.r
  const ph = H - m.t - m.b
  const bins = Math.max(1, ...o.series.map((s) => s.values.length))
  const maxX = (bins * o.binMs) / 1000
  const peak = Math.max(1, ...o.series.flatMap((s) => s.values))
  const decades = Math.max(1, Math.ceil(Math.log10(peak + 1)))
  const x = (sec: number) => m.l + (sec / maxX) * pw
  // log10(1 + q): 0 -> bottom, 1 -> a tenth of the first decade above it.
  const y = (q: number) => m.t + ph - (Math.log10(1 + q) / decades) * ph
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.l}" y="22" font-size="15" font-weight="600">${esc(o.title)}</text>`,
    ...lines.map((line, i) => `<text x="${m.l}" y="${40 + 16 * i}" fill="#555">${esc(line)}</text>`),
  )
  for (const b of o.bands ?? []) {
    out.push(
      `<rect x="${x(b.fromS).toFixed(1)}" y="${m.t}" width="${(x(b.toS) - x(b.fromS)).toFixed(1)}" height="${ph}" fill="#f3d9d9"/>`,
      `<text x="${(x(b.fromS) + 4).toFixed(1)}" y="${m.t + 14}" fill="#a33">${esc(b.label)}</text>`,
    )
  }
  for (let d = 0; d <= decades; d++) {
    const q = 10 ** d
    const yy = y(q - (d === 0 ? 1 : 0)).toFixed(1)
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${yy}" y2="${yy}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#555">${d === 0 ? '0' : q.toLocaleString('en-US')}</text>`,
    )
  }
  const stepS = maxX > 40 ? 10 : maxX > 16 ? 5 : maxX > 6 ? 2 : 1
  for (let s = 0; s <= maxX + 1e-9; s += stepS) {
    const xx = x(s).toFixed(1)
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#555"/>`,
      `<text x="${xx}" y="${m.t + ph + 18}" text-anchor="middle" fill="#555">${s}</text>`,
    )
  }
  out.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle" fill="#333">seconds since the load started</text>`,
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">origin queries/s (log scale)</text>`,
  )
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]
    const pts = s.values.map((q, b) => `${x(((b + 0.5) * o.binMs) / 1000).toFixed(1)},${y(q).toFixed(1)}`).join(' ')
    out.push(
      `<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"/>`,
      `<line x1="${m.l + pw + 14}" x2="${m.l + pw + 38}" y1="${m.t + 10 + i * 20}" y2="${m.t + 10 + i * 20}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${m.l + pw + 44}" y="${m.t + 10 + i * 20}" dominant-baseline="middle">${esc(s.name)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** Writes results/<scenario>.json and .svg (results/<scenario>.quick.* for --quick runs). */
export async function write(scenario: string, quick: boolean, result: unknown, svg: string): Promise<void> {
  await mkdir(RESULTS, { recursive: true })
  const base = join(RESULTS, quick ? `${scenario}.quick` : scenario)
  await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`)
  await writeFile(`${base}.svg`, svg)
  process.stderr.write(`wrote ${base}.json and ${base}.svg\n`)
}
