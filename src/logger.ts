/**
 * The logging surface corral calls: a message, then details. console and winston take their
 * arguments in this order; pino (and bunyan) take the details first, and `adaptLogger` turns them
 * around so no detail is dropped.
 */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void
  error(message: string, details?: Record<string, unknown>): void
}

/** Logs nothing: for callers who count failures through metrics instead. */
export const silentLogger: Logger = { warn() {}, error() {} }

/**
 * True for loggers that want `(details, message)`: pino (it has `bindings()` and numeric
 * `levels.values`) and bunyan (it has `fields` and `streams`).
 */
function wantsDetailsFirst(logger: object): boolean {
  const l = logger as { bindings?: unknown; levels?: { values?: unknown }; fields?: unknown; streams?: unknown }
  const pino = typeof l.bindings === 'function' && typeof l.levels?.values === 'object'
  const bunyan = typeof l.fields === 'object' && Array.isArray(l.streams)
  return pino || bunyan
}

/**
 * Wraps the logger given as the `logger` option so corral can always call `(message, details)`:
 * pino and bunyan get `(details, message)`, others (console, winston, anything with `warn` and
 * `error`) are called as they are.
 */
export function adaptLogger(logger: Logger): Logger {
  if (!wantsDetailsFirst(logger)) return logger
  const target = logger as unknown as Record<'warn' | 'error', (details: object, message: string) => void>
  return {
    warn: (message, details) => target.warn({ ...details }, message),
    error: (message, details) => target.error({ ...details }, message),
  }
}

/**
 * The default: console, with one line per distinct message per interval, so a store that is down
 * under heavy traffic does not write a line per request.
 */
export function throttledConsoleLogger(intervalMs = 10_000): Logger {
  const lastAt = new Map<string, number>()
  const emit = (level: 'warn' | 'error', message: string, details?: Record<string, unknown>) => {
    const now = Date.now()
    const last = lastAt.get(message)
    if (last !== undefined && now - last < intervalMs) return
    if (lastAt.size > 1_000) lastAt.clear()
    lastAt.set(message, now)
    console[level](`[corral] ${message}`, details ?? '')
  }
  return { warn: (m, d) => emit('warn', m, d), error: (m, d) => emit('error', m, d) }
}
