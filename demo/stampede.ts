import type { Origin } from './origin.ts'

/** How the demo reads a person: through corral, cache-aside (get, query, set), or straight from the origin. */
export type Mode = 'corral' | 'aside' | 'off'

export const MODE_LABELS: Record<Mode, string> = {
  off: 'no cache',
  aside: 'cache-aside (get, query, set)',
  corral: 'corral',
}

/** One herd, as the page and `npm run demo:herd` show it. */
export interface HerdRun {
  mode: Mode
  label: string
  requests: number
  ids: number
  /** Statements that reached the origin during the run. */
  queries: number
  /** Callers that joined a load already running instead of starting their own. */
  coalesced: number
  /** The most statements running on the origin at once. */
  peakConcurrentQueries: number
  /** Until the last request was answered. */
  ms: number
  p50Ms: number
  p99Ms: number
  errors: number
  at: number
}

export interface HerdOptions {
  mode: Mode
  requests: number
  ids: number
  /** Reads person `id` the way `mode` says. */
  read: (id: number, mode: Mode) => Promise<unknown>
  origin: Origin
  /** corral's count of coalesced callers so far (from its metrics). */
  coalesced: () => Promise<number>
  /** Empties the cache of persons, so every mode starts cold. */
  makeCold: () => Promise<void>
}

/**
 * A cold start, fired inside the server: every request starts in the same tick, as a burst of
 * clients would arrive, which a browser (six connections per host) cannot send.
 */
export async function runHerd(options: HerdOptions): Promise<HerdRun> {
  const { mode, requests, ids, origin } = options
  await options.makeCold()
  const queriesBefore = origin.queries
  const coalescedBefore = await options.coalesced()
  origin.takePeak()
  let errors = 0
  const latencies: number[] = []
  const started = performance.now()
  await Promise.all(
    Array.from({ length: requests }, async (_, i) => {
      const t = performance.now()
      try {
        await options.read((i % ids) + 1, mode)
      } catch {
        errors += 1
      }
      latencies.push(performance.now() - t)
    }),
  )
  const ms = performance.now() - started
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return {
    mode,
    label: MODE_LABELS[mode],
    requests,
    ids,
    queries: origin.queries - queriesBefore,
    coalesced: (await options.coalesced()) - coalescedBefore,
    peakConcurrentQueries: origin.takePeak(),
    ms: Math.round(ms),
    p50Ms: Math.round(at(0.5)),
    p99Ms: Math.round(at(0.99)),
    errors,
    at: Date.now(),
  }
}
