/** Rendering: one self-contained HTML page, the panels on their gridPos as inline SVG, Grafana's dark theme. */
import type { Dashboard, ThresholdStep } from './model.ts'
import type { PanelData, Series } from './query.ts'
import { CACHE_TTL, L1_ENTRIES, RATE_INTERVAL, REPLICAS, STEP_S } from './settings.ts'

const THEME = {
  page: '#111217',
  panel: '#181b1f',
  border: 'rgba(204, 204, 220, 0.12)',
  text: '#ccccdc',
  muted: 'rgba(204, 204, 220, 0.65)',
  grid: 'rgba(204, 204, 220, 0.08)',
  marker: 'rgba(255, 255, 255, 0.28)',
}
/** Grafana's named colors, as its thresholds and palettes use them. */
const NAMED: Record<string, string> = {
  green: '#73BF69',
  'dark-green': '#37872D',
  yellow: '#FADE2A',
  orange: '#FF9830',
  red: '#F2495C',
  blue: '#5794F2',
  purple: '#B877D9',
  text: '#ccccdc',
}
/** The classic palette, in order, for series without a color of their own. */
const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#705DA0']
/** Fixed colors for well-known legends, so that the same word has the same color on every panel. */
const LEGEND_COLORS: Record<string, string> = {
  'requests/s': '#5794F2',
  'origin calls/s': '#FF9830',
  hit: '#73BF69',
  stale: '#FADE2A',
  miss: '#F2495C',
  negative_hit: '#B877D9',
  success: '#73BF69',
  error: '#F2495C',
  timeout: '#FF9830',
  acquired: '#73BF69',
  contended: '#FADE2A',
  local: '#5794F2',
  distributed: '#B877D9',
  revalidate: '#73BF69',
  origin_error: '#F2495C',
  store_error: '#B877D9',
  early: '#5794F2',
  manual: '#B877D9',
  p50: '#73BF69',
  p95: '#FADE2A',
  p99: '#F2495C',
  key: '#5794F2',
  tag: '#FF9830',
}
/** Grafana applies these to a panel that sets no thresholds. */
const DEFAULT_THRESHOLDS: ThresholdStep[] = [
  { color: 'green', value: null },
  { color: 'red', value: 80 },
]

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)

const color = (name: string) => NAMED[name] ?? name

function trim(n: number, decimals: number): string {
  return n.toFixed(decimals).replace(/\.?0+$/, (m) => (m.includes('.') ? '' : m))
}

function autoDecimals(v: number): number {
  const a = Math.abs(v)
  if (a === 0 || a >= 100) return 0
  if (a >= 10) return 1
  if (a >= 1) return 2
  return 3
}

/** Formats a value in the panel's unit, the way Grafana writes it. */
export function format(v: number, unit: string | undefined, decimals?: number): string {
  if (!Number.isFinite(v)) return '—'
  switch (unit) {
    case 'percentunit':
      return `${(v * 100).toFixed(decimals ?? autoDecimals(v * 100))}%`
    case 'reqps':
      return `${trim(v, decimals ?? autoDecimals(v))} req/s`
    case 'ops':
      return `${trim(v, decimals ?? autoDecimals(v))} ops/s`
    case 's': {
      const a = Math.abs(v)
      if (a === 0) return '0 s'
      if (a < 1e-3) return `${trim(v * 1e6, decimals ?? autoDecimals(v * 1e6))} µs`
      if (a < 1) return `${trim(v * 1e3, decimals ?? autoDecimals(v * 1e3))} ms`
      return `${trim(v, decimals ?? autoDecimals(v))} s`
    }
    default: {
      const a = Math.abs(v)
      if (a >= 1e6) return `${trim(v / 1e6, 2)} Mil`
      if (a >= 1e3) return `${trim(v / 1e3, 2)} K`
      return trim(v, decimals ?? autoDecimals(v))
    }
  }
}

/** Round tick positions covering [min, max], and the decimals their labels need. */
function ticks(min: number, max: number, count: number): { values: number[]; decimals: number } {
  const raw = (max - min) / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const factor = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10
  const step = factor * magnitude
  const values: number[] = []
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) values.push(Number(v.toPrecision(12)))
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + (factor === 2.5 ? 1 : 0))
  return { values, decimals }
}

function thresholdColor(v: number, steps: ThresholdStep[]): string {
  let current = steps[0]?.color ?? 'green'
  for (const step of steps) if (step.value === null || v >= step.value) current = step.color
  return color(current)
}

export const finite = (s: Series) => s.points.map((p) => p[1]).filter(Number.isFinite)
const lastNotNull = (s: Series) => finite(s).at(-1) ?? Number.NaN

export interface Frame {
  start: number
  end: number
  markers: { t: number; n: number }[]
}

const clock = (t: number) => new Date(t * 1_000).toISOString().slice(11, 19)

/** Line paths (and fills to the zero line) of one series, broken where samples are missing. */
function paths(s: Series, x: (t: number) => number, y: (v: number) => number, base: number) {
  const segments: [number, number][][] = []
  let current: [number, number][] = []
  let previous = Number.NEGATIVE_INFINITY
  for (const [t, v] of s.points) {
    if (!Number.isFinite(v) || t - previous > STEP_S * 1.5) {
      if (current.length > 0) segments.push(current)
      current = []
    }
    if (Number.isFinite(v)) current.push([x(t), y(v)])
    previous = Number.isFinite(v) ? t : previous
  }
  if (current.length > 0) segments.push(current)
  const line = segments
    .map((seg) => seg.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join(''))
    .join('')
  const fill = segments
    .filter((seg) => seg.length > 1)
    .map((seg) => {
      const first = seg[0] as [number, number]
      const last = seg.at(-1) as [number, number]
      return `M${first[0].toFixed(1)},${base.toFixed(1)}${seg.map(([px, py]) => `L${px.toFixed(1)},${py.toFixed(1)}`).join('')}L${last[0].toFixed(1)},${base.toFixed(1)}Z`
    })
    .join('')
  // A lone sample between gaps has no line to draw: show it as a dot.
  const dots = segments.filter((seg) => seg.length === 1).map((seg) => seg[0] as [number, number])
  return { line, fill, dots }
}

function timeSeriesSvg(data: PanelData, width: number, height: number, frame: Frame): string {
  const defaults = data.panel.fieldConfig?.defaults ?? {}
  const unit = defaults.unit
  const values = data.series.flatMap(finite)
  let min = defaults.min ?? Math.min(0, ...values)
  let max = defaults.max ?? Math.max(...values, 0)
  if (defaults.max === undefined) max = max > min ? max * 1.08 : min + 1
  if (max <= min) max = min + 1
  const { values: yTicks, decimals: tickDecimals } = ticks(min, max, Math.max(2, Math.floor(height / 45)))
  if (defaults.max === undefined) max = Math.max(max, yTicks.at(-1) ?? max)
  if (defaults.min === undefined) min = Math.min(min, yTicks[0] ?? min)
  const left = 72
  const right = 10
  const top = 12
  const bottom = 20
  const w = width - left - right
  const h = height - top - bottom
  const x = (t: number) => left + ((t - frame.start) / (frame.end - frame.start)) * w
  const y = (v: number) => top + h - ((v - min) / (max - min)) * h
  const base = y(Math.max(min, Math.min(0, max)))
  const parts: string[] = []
  for (const v of yTicks) {
    if (v < min - 1e-12 || v > max + 1e-12) continue
    const py = y(v).toFixed(1)
    parts.push(`<line x1="${left}" x2="${left + w}" y1="${py}" y2="${py}" stroke="${THEME.grid}"/>`)
    // Seconds are scaled to ms / µs by `format`, which picks its own decimals.
    const label = format(v, unit, unit === 'percentunit' ? 0 : unit === 's' ? undefined : tickDecimals)
    parts.push(`<text x="${left - 6}" y="${py}" dy="4" text-anchor="end" class="axis">${escapeHtml(label)}</text>`)
  }
  const first = Math.ceil(frame.start / 15) * 15
  for (let t = first; t <= frame.end; t += 15) {
    const px = x(t).toFixed(1)
    parts.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${top + h}" stroke="${THEME.grid}"/>`)
    // A label cut by the panel's edge reads as a different time: leave it out.
    if (x(t) > 28 + left / 2 && x(t) < width - 28)
      parts.push(`<text x="${px}" y="${height - 5}" text-anchor="middle" class="axis">${clock(t)}</text>`)
  }
  for (const m of frame.markers) {
    const px = x(m.t).toFixed(1)
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${top}" y2="${top + h}" stroke="${THEME.marker}" stroke-dasharray="3,3"/>`,
      `<text x="${px}" y="${top - 2}" text-anchor="middle" class="marker">${m.n}</text>`,
    )
  }
  data.series.forEach((s, i) => {
    const c = seriesColor(s, i)
    const { line, fill, dots } = paths(s, x, y, base)
    if (fill) parts.push(`<path d="${fill}" fill="${c}" fill-opacity="0.1" stroke="none"/>`)
    if (line) parts.push(`<path d="${line}" fill="none" stroke="${c}" stroke-width="1.5" stroke-linejoin="round"/>`)
    for (const [px, py] of dots) parts.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="2" fill="${c}"/>`)
  })
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`
}

function seriesColor(s: Series, i: number): string {
  return LEGEND_COLORS[s.legend] ?? (PALETTE[i % PALETTE.length] as string)
}

function legendTable(data: PanelData): string {
  const unit = data.panel.fieldConfig?.defaults?.unit
  const decimals = data.panel.fieldConfig?.defaults?.decimals
  const calcs = data.panel.options?.legend?.calcs ?? []
  const names: Record<string, string> = { mean: 'Mean', max: 'Max', min: 'Min', lastNotNull: 'Last *', last: 'Last' }
  const calc = (s: Series, name: string) => {
    const v = finite(s)
    if (v.length === 0) return Number.NaN
    if (name === 'mean') return v.reduce((a, b) => a + b, 0) / v.length
    if (name === 'max') return Math.max(...v)
    if (name === 'min') return Math.min(...v)
    return v.at(-1) as number
  }
  const head = `<tr><th></th>${calcs.map((c) => `<th>${names[c] ?? c}</th>`).join('')}</tr>`
  const rows = data.series.map(
    (s, i) =>
      `<tr><td class="name"><span class="swatch" style="background:${seriesColor(s, i)}"></span>${escapeHtml(s.legend)}</td>${calcs
        .map((c) => `<td>${escapeHtml(format(calc(s, c), unit, decimals))}</td>`)
        .join('')}</tr>`,
  )
  return `<table class="legend">${head}${rows.join('')}</table>`
}

function statBody(data: PanelData, width: number, height: number): string {
  const defaults = data.panel.fieldConfig?.defaults ?? {}
  const s = data.series[0]
  if (!s) return noData()
  const value = lastNotNull(s)
  const c = Number.isFinite(value)
    ? thresholdColor(value, defaults.thresholds?.steps ?? DEFAULT_THRESHOLDS)
    : THEME.muted
  const values = finite(s)
  const min = defaults.min ?? Math.min(0, ...values)
  const max = defaults.max ?? Math.max(...values, 1e-9)
  const times = s.points.map((p) => p[0])
  const t0 = Math.min(...times)
  const t1 = Math.max(...times)
  const sparkHeight = Math.round(height * 0.55)
  const x = (t: number) => ((t - t0) / Math.max(1, t1 - t0)) * width
  const y = (v: number) => height - ((Math.min(max, v) - min) / Math.max(1e-12, max - min)) * sparkHeight
  const { line, fill } = paths(s, x, y, height)
  const text = format(value, defaults.unit, defaults.decimals)
  return `<div class="stat">
    <svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
      <path d="${fill}" fill="${c}" fill-opacity="0.18"/><path d="${line}" fill="none" stroke="${c}" stroke-width="1.5"/>
    </svg>
    <div class="big" style="color:${c}">${escapeHtml(text)}</div>
  </div>`
}

const noData = () => '<div class="nodata">No data</div>'

export function renderHtml(dashboard: Dashboard, panels: PanelData[], frame: Frame, notes: string[]): string {
  const pageWidth = 1600
  const pad = 16
  const gap = 8
  const rowHeight = 30
  const headerHeight = 112
  const colWidth = (pageWidth - 2 * pad + gap) / 24
  const blocks: string[] = []
  let bottom = 0
  for (const data of panels) {
    const { x, y, w, h } = data.panel.gridPos
    const left = pad + x * colWidth
    const top = headerHeight + y * (rowHeight + gap)
    const width = Math.round(w * colWidth - gap)
    const height = h * rowHeight + (h - 1) * gap
    bottom = Math.max(bottom, top + height)
    const innerWidth = width - 2
    let body: string
    if (data.errors.length > 0) {
      body = `<div class="nodata error">${escapeHtml(data.errors.join('; '))}</div>`
    } else if (data.series.length === 0) {
      body = noData()
    } else if (data.panel.type === 'stat') {
      body = statBody(data, innerWidth, height - 34)
    } else {
      const legendHeight = 22 + data.series.length * 21
      body = `${timeSeriesSvg(data, innerWidth, height - 34 - legendHeight, frame)}${legendTable(data)}`
    }
    blocks.push(
      `<section class="panel" style="left:${left.toFixed(1)}px;top:${top}px;width:${width}px;height:${height}px">
        <h2>${escapeHtml(data.panel.title)}</h2>${body}</section>`,
    )
  }
  // Rows: a title across the grid, as Grafana draws an expanded row.
  for (const row of dashboard.panels.filter((p) => p.type === 'row')) {
    const top = headerHeight + row.gridPos.y * (rowHeight + gap)
    blocks.push(`<div class="row" style="top:${top}px">${escapeHtml(row.title)}</div>`)
  }
  const range = `${clock(frame.start)} – ${clock(frame.end)} UTC`
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(dashboard.title)}</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; background: ${THEME.page}; color: ${THEME.text}; font: 13px/1.35 "DejaVu Sans", Inter, Helvetica, Arial, sans-serif; }
  .page { position: relative; width: ${pageWidth}px; height: ${bottom + pad}px; }
  header { position: absolute; left: ${pad}px; right: ${pad}px; top: 10px; }
  header h1 { margin: 0 0 6px; font-size: 20px; font-weight: 500; }
  header h1 small { font-size: 13px; color: ${THEME.muted}; font-weight: 400; margin-left: 10px; }
  .vars { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 6px; }
  .var { border: 1px solid ${THEME.border}; background: ${THEME.panel}; padding: 2px 8px; border-radius: 2px; }
  .var b { color: ${THEME.muted}; font-weight: 400; margin-right: 6px; }
  .notes { color: ${THEME.muted}; font-size: 12px; }
  .notes span { margin-right: 14px; white-space: nowrap; }
  .notes i { font-style: normal; color: ${THEME.text}; background: rgba(255,255,255,0.14); border-radius: 8px; padding: 0 5px; margin-right: 4px; }
  .row { position: absolute; left: ${pad}px; right: ${pad}px; height: ${rowHeight}px; padding-top: 6px; font-size: 16px; font-weight: 500; }
  .panel { position: absolute; background: ${THEME.panel}; border: 1px solid ${THEME.border}; border-radius: 2px; overflow: hidden; }
  .panel h2 { margin: 0; height: 34px; padding: 8px 10px 0; font-size: 14px; font-weight: 500; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  svg { display: block; }
  svg text.axis { fill: ${THEME.muted}; font-size: 11px; }
  svg text.marker { fill: ${THEME.text}; font-size: 10px; font-weight: 700; }
  .legend { border-collapse: collapse; margin: 0 10px; width: calc(100% - 20px); font-size: 12px; }
  .legend th { color: ${THEME.muted}; font-weight: 500; text-align: right; padding: 2px 6px; height: 20px; }
  .legend td { text-align: right; padding: 1px 6px; height: 21px; font-variant-numeric: tabular-nums; border-top: 1px solid ${THEME.border}; }
  .legend td.name { text-align: left; width: 50%; }
  .swatch { display: inline-block; width: 14px; height: 4px; border-radius: 2px; margin: 0 8px 3px 0; }
  .stat { position: relative; height: calc(100% - 34px); }
  .stat .spark { position: absolute; left: 0; bottom: 0; }
  .stat .big { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; font-size: 44px; font-weight: 500; padding-bottom: 10px; }
  .nodata { display: flex; align-items: center; justify-content: center; height: calc(100% - 34px); color: ${THEME.muted}; font-size: 16px; }
  .nodata.error { color: ${NAMED.red}; font-size: 12px; padding: 10px; }
</style></head>
<body><div class="page">
<header>
  <h1>${escapeHtml(dashboard.title)}<small>preview of grafana/dashboard.json, rendered from Prometheus query_range by scripts/dashboard-preview.ts (not Grafana)</small></h1>
  <div class="vars">
    <span class="var"><b>cache</b>All (.*)</span>
    <span class="var"><b>$__rate_interval</b>${RATE_INTERVAL}</span>
    <span class="var"><b>step</b>${STEP_S}s</span>
    <span class="var"><b>scrape</b>1s, ${REPLICAS} demo replicas on one Redis, CACHE_TTL=${CACHE_TTL}, L1 of ${L1_ENTRIES}</span>
    <span class="var"><b>range</b>${range}</span>
  </div>
  <div class="notes">${notes.map((n, i) => `<span><i>${i + 1}</i>${escapeHtml(n)}</span>`).join(' ')}</div>
</header>
${blocks.join('\n')}
</div></body></html>`
}
