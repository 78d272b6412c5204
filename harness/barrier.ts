/** A promise and the functions that settle it: one side awaits, the other says "now". */
export interface Deferred<T = void> {
  promise: Promise<T>
  resolve(value: T): void
  reject(reason: unknown): void
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (reason: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * A loader that announces each call and holds it until the test opens the gate: the test waits
 * for `started` (the load has begun) instead of guessing with a sleep, and decides when it ends.
 */
export function gatedLoader<T>(value: (call: number) => T) {
  let started = deferred()
  const gate = deferred()
  const state = { calls: 0 }
  const loader = async (): Promise<T> => {
    state.calls += 1
    const call = state.calls
    started.resolve()
    await gate.promise
    return value(call)
  }
  return Object.assign(loader, {
    state,
    /** Resolves once the loader has been called (again, after `rearm`). */
    get started() {
      return started.promise
    },
    /** Lets every held and future call finish. */
    open: () => gate.resolve(),
    /** Makes `started` wait for the next call. */
    rearm: () => {
      started = deferred()
    },
  })
}

/**
 * Waits until `check` holds, looking again every few milliseconds: for state the test can only
 * observe (a key written, a counter moved), never as a fixed pause. Fails after `timeoutMs`
 * naming `what`.
 */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A prom-client counter's value for the series whose labels include `labels`. */
export async function counterValue(
  registry: { getSingleMetric(name: string): unknown },
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = registry.getSingleMetric(name) as
    | { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> }
    | undefined
  if (!metric) return 0
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0)
}
