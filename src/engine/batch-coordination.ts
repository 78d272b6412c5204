import type { KeyMessage } from '../coordination.ts'
import { RemoteLoaderError } from '../errors.ts'
import type { Policy } from '../options.ts'
import { withTimeout } from '../timers.ts'
import type { BatchItem } from './batch-load.ts'
import { mayStandIn } from './entry-building.ts'
import { beginAll } from './fenced-write.ts'
import type { EngineParts } from './parts.ts'
import { validBegun } from './tag-voiding.ts'

/**
 * Waits for the processes that hold some of a batch's keys, as a single key's waiter does: until
 * one of them announces a key (woken by the invalidation channel), or the first of their locks would expire (a
 * holder may have died), or the deadline. Keys announced ready are read and settled; keys
 * announced failed settle stale or with the holder's error. Returns the keys still unsettled, for
 * the caller to try the lock on again (taking over from a dead holder).
 */
export async function waitForOthers(
  parts: EngineParts,
  items: BatchItem[],
  deadlineMs: number,
  policy: Policy,
): Promise<BatchItem[]> {
  const channel = parts.channel
  const listening = await channel.subscribe()
  const heard = new Map<string, KeyMessage>()
  let wake: () => void = () => {}
  const woken = new Promise<void>((resolve) => {
    wake = resolve
  })
  // Listen before reading the locks' time left, so an announcement in between is not missed.
  const hear = (key: string) => (message: KeyMessage) => {
    heard.set(key, message)
    wake()
  }
  const stops = listening ? items.map((item) => channel.listen(item.storeKey, hear(item.storeKey))) : []
  const started = performance.now()
  try {
    const left = await parts.lock.msLeft(items.map((item) => item.storeKey))
    const wait = Math.max(0, Math.min(deadlineMs - Date.now(), left + 5))
    if (heard.size === 0 && wait > 0) await withTimeout(woken, wait, () => undefined)
    // Announcements of one batch come a chunk at a time: let the rest of a burst arrive.
    if (heard.size > 0) await new Promise((resolve) => setImmediate(resolve))
  } finally {
    for (const stop of stops) stop()
  }
  parts.metrics.lockWait((performance.now() - started) / 1_000)

  const unsettled: BatchItem[] = []
  const ready: BatchItem[] = []
  for (const item of items) {
    const message = heard.get(item.storeKey)
    if (!message) unsettled.push(item)
    else if (message.kind === 'ready') ready.push(item)
    else if (mayStandIn(item.seen, Date.now(), policy))
      item.settle.resolve({ value: item.seen.value, stale: 'origin_error' })
    else item.settle.reject(remoteError(item.storeKey, message.detail))
  }
  if (ready.length === 0) return unsettled
  const read = await beginAll(
    parts,
    ready.map((item) => item.storeKey),
  )
  const valid = await validBegun(
    parts,
    read.filter((b) => b !== undefined),
  )
  let j = 0
  ready.forEach((item, i) => {
    const entry = read[i] ? valid[j++]?.entry : undefined
    if (entry && Date.now() < entry.freshUntilMs) {
      parts.metrics.coalesced('distributed')
      item.settle.resolve({ value: entry.value })
    } else unsettled.push(item) // announced but not readable (not cacheable, or overwritten): try again
  })
  return unsettled
}

function remoteError(key: string, detail: string): RemoteLoaderError {
  try {
    const { name, message } = JSON.parse(detail) as { name?: string; message?: string }
    return new RemoteLoaderError(key, String(name ?? 'Error'), String(message ?? ''))
  } catch {
    return new RemoteLoaderError(key, 'Error', 'unknown')
  }
}
