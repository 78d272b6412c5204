import ms from 'ms'
import { CorralConfigError } from './errors.ts'

/**
 * A length of time: milliseconds, or a string in the `ms` package's syntax: a number and one unit,
 * such as '250ms', '5s', '10m', '2h', '1d', '1.5h', '5 minutes', '2 weeks'.
 */
export type Duration = number | string

const EXPECTED =
  'must be a duration >= 0: milliseconds or a string such as "250ms", "5s", "10m", "5 minutes", "2h", "1d"'

/**
 * Parses a duration into milliseconds. `Infinity` is allowed (never expires); negatives, NaN
 * and strings `ms` cannot read throw a CorralConfigError naming `option`.
 */
export function toMs(option: string, value: Duration): number {
  if (typeof value === 'number') {
    if (Number.isNaN(value) || value < 0) throw new CorralConfigError(option, value, EXPECTED)
    return value
  }
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = ms(value.trim() as ms.StringValue) as number | undefined
    if (typeof parsed === 'number' && Number.isFinite(parsed) && parsed >= 0) return parsed
  }
  throw new CorralConfigError(option, value, EXPECTED)
}

/** A duration that must end: finite and above zero (a timeout), defaulting to `fallbackMs`. */
export function positiveMs(option: string, value: Duration | undefined, fallbackMs: number): number {
  const parsed = toMs(option, value ?? fallbackMs)
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new CorralConfigError(option, value, 'must be a finite duration > 0')
  return parsed
}
