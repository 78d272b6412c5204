/** The logging surface corral uses; pino, winston and console all fit it. */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void
  error(message: string, details?: Record<string, unknown>): void
  /** Normal events worth a line when debugging (optional: pino and winston have it, console too). */
  debug?(message: string, details?: Record<string, unknown>): void
}

/** Logs nothing: for callers who count failures through metrics instead. */
export const silentLogger: Logger = { warn() {}, error() {} }

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
