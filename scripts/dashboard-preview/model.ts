/** The parts of grafana/dashboard.json the preview reads, and Grafana's variable and legend substitution. */
import { RATE_INTERVAL } from './settings.ts'

export interface Target {
  expr?: string
  legendFormat?: string
  refId?: string
}
export interface ThresholdStep {
  color: string
  value: number | null
}
export interface Panel {
  id: number
  type: string
  title: string
  description?: string
  gridPos: { x: number; y: number; w: number; h: number }
  targets?: Target[]
  fieldConfig?: {
    defaults?: {
      unit?: string
      min?: number
      max?: number
      decimals?: number
      thresholds?: { mode?: string; steps: ThresholdStep[] }
    }
  }
  options?: { legend?: { calcs?: string[] }; reduceOptions?: { calcs?: string[] } }
}
export interface Dashboard {
  title: string
  panels: Panel[]
}

/** What Grafana sends for "All" on every variable. */
export function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$cache', '.*')
    .replaceAll('$job', '.*')
    .replaceAll('$instance', '.*')
}

/** Grafana's `{{label}}` legend templates; an empty format falls back to the series' labels. */
export function legendOf(format: string | undefined, metric: Record<string, string>): string {
  if (format) return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => metric[name] ?? '')
  const labels = Object.entries(metric).map(([k, v]) => `${k}="${v}"`)
  return labels.length > 0 ? `{${labels.join(', ')}}` : 'value'
}
