import { spawnWorker, type Worker } from './child.ts'

/** What every fleet worker says: `started` once able to work, and replies carrying the command's `id`. */
export interface FleetReply {
  id?: number
  event?: string
  loads?: number
  counts?: Record<string, number>
}

let nextId = 0

/**
 * Starts `n` child processes running `worker`, each given `config` as JSON in the environment
 * variable `configVar`, and resolves once every one has said it started.
 */
export async function startFleet<M extends FleetReply>(
  worker: string,
  n: number,
  config: object,
  { configVar = 'FLEET_CONFIG', startMs = 20_000 }: { configVar?: string; startMs?: number } = {},
): Promise<Worker<M>[]> {
  const workers = Array.from({ length: n }, () => spawnWorker<M>(worker, [], { [configVar]: JSON.stringify(config) }))
  await Promise.all(workers.map((w) => w.waitFor((m) => m.event === 'started', startMs)))
  return workers
}

/** Sends one command and waits for the reply with its id. */
export function ask<M extends FleetReply>(worker: Worker<M>, command: object, timeoutMs = 20_000): Promise<M> {
  const id = ++nextId
  worker.send({ id, ...command })
  return worker.waitFor((m) => m.id === id, timeoutMs)
}

/** Asks every worker to exit, gives them 3 s, then kills what is left. */
export async function stopFleet<M>(workers: Worker<M>[]): Promise<void> {
  for (const w of workers) w.send({ op: 'exit' })
  await Promise.all(workers.map((w) => Promise.race([w.exited, new Promise((r) => setTimeout(r, 3_000))])))
  await Promise.all(workers.map((w) => w.kill('SIGKILL').catch(() => null)))
}

/** Fires `callers` concurrent wraps of each key in every worker at one instant; sums loads and results. */
export async function burst<M extends FleetReply>(
  workers: Worker<M>[],
  keys: string[],
  callers: number,
  extra: object = {},
): Promise<{ loads: number; counts: Record<string, number> }> {
  const at = Date.now() + 500
  const replies = await Promise.all(
    workers.map((w) => ask(w, { op: 'burst', keys, callers, at, loaderMs: 150, ...extra })),
  )
  const counts: Record<string, number> = {}
  for (const r of replies) for (const [k, v] of Object.entries(r.counts ?? {})) counts[k] = (counts[k] ?? 0) + v
  return { loads: replies.reduce((sum, r) => sum + (r.loads ?? 0), 0), counts }
}
