/** Every panel's queries through Prometheus' /api/v1/query_range. */
import { legendOf, type Panel, substitute } from './model.ts'
import { STEP_S } from './settings.ts'

export interface Series {
  legend: string
  /** [unix seconds, value]; NaN for a missing or non-finite sample. */
  points: [number, number][]
}
export interface PanelData {
  panel: Panel
  series: Series[]
  errors: string[]
}

export interface RangeResult {
  status: string
  error?: string
  data?: { result: { metric: Record<string, string>; values: [number, string][] }[] }
}

export async function queryPanels(
  prometheus: string,
  panels: Panel[],
  start: number,
  end: number,
): Promise<PanelData[]> {
  const out: PanelData[] = []
  for (const panel of panels) {
    if (panel.type === 'row') continue
    const data: PanelData = { panel, series: [], errors: [] }
    for (const target of panel.targets ?? []) {
      const params = new URLSearchParams({
        query: substitute(target.expr ?? ''),
        start: String(start),
        end: String(end),
        step: String(STEP_S),
      })
      const res = (await (await fetch(`${prometheus}/api/v1/query_range?${params}`)).json()) as RangeResult
      if (res.status !== 'success') {
        data.errors.push(`${target.refId}: ${res.error ?? res.status}`)
        continue
      }
      const series = (res.data?.result ?? []).map((r) => ({
        legend: legendOf(target.legendFormat, r.metric),
        points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]),
      }))
      series.sort((a, b) => a.legend.localeCompare(b.legend))
      data.series.push(...series)
    }
    out.push(data)
  }
  return out
}
