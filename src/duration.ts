import { CorralConfigError } from './errors.ts'

/** A length of time: milliseconds, or a string such as '250ms', '5s', '10m', '2h', '1d'. */
export type Duration = number | string

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/

/**
 * Parses a duration into milliseconds. `Infinity` is allowed (never expires); negatives, NaN
 * and unknown units throw a CorralConfigError naming `option`.
 */
export function toMs(option: string, value: Duration): number {
  if (typeof value === 'number') {
    if (Number.isNaN(value) || value < 0) {
      throw new CorralConfigError(option, value, 'must be a duration >= 0 (ms or a string like "5s")')
    }
    return value
  }
  if (typeof value === 'string') {
    const match = PATTERN.exec(value)
    if (match?.[1] && match[2]) return Number(match[1]) * (UNIT_MS[match[2]] as number)
  }
  throw new CorralConfigError(option, value, 'must be a duration: milliseconds or "250ms", "5s", "10m", "2h", "1d"')
}
