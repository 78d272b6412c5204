import { nowMicros } from '../clock.ts'
import type { Announcement, Begun, FencedWrite, FenceToken, Receipt } from '../stores/store.ts'
import type { BuiltEntry } from './entry-building.ts'
import { type EngineParts, storeFailed } from './parts.ts'

/**
 * Begins loads of `storeKeys`: each entry with its fence token, in as few round trips as the
 * store allows. A key the store could not answer for gets no token (its load is not written).
 */
export async function beginAll(parts: EngineParts, storeKeys: readonly string[]): Promise<(Begun | undefined)[]> {
  const { store } = parts
  if (storeKeys.length === 0) return []
  if (store.beginMany) {
    try {
      return await store.beginMany(storeKeys)
    } catch (error) {
      storeFailed(parts, 'begin', error)
      return storeKeys.map(() => undefined)
    }
  }
  let failed: unknown
  const begun = await Promise.all(
    storeKeys.map((key) =>
      store.begin(key).catch((error) => {
        failed = error
        return undefined
      }),
    ),
  )
  if (failed !== undefined) storeFailed(parts, 'begin', failed)
  return begun
}

/** Begins one load; undefined (and counted) when the store cannot answer. */
export async function beginOne(parts: EngineParts, storeKey: string): Promise<Begun | undefined> {
  try {
    return await parts.store.begin(storeKey)
  } catch (error) {
    storeFailed(parts, 'begin', error)
    return undefined
  }
}

/** When a load began, on the store's clock when the store has one. */
export function bornAt(begun: Begun | undefined): number {
  return begun?.nowUs ?? nowMicros()
}

/**
 * Writes one loaded entry if the fence still allows; `announce` goes out with it when it lands.
 * The write's receipt, or undefined if not written.
 */
export async function commitOne(
  parts: EngineParts,
  write: FencedWrite,
  announce?: Announcement,
): Promise<Receipt | undefined> {
  try {
    const receipt = await parts.store.commit(write.key, write.entry, write.payload, write.ttlMs, write.token, announce)
    countWrite(parts, write.key, receipt !== undefined)
    return receipt
  } catch (error) {
    storeFailed(parts, 'commit', error)
    return undefined
  }
}

/**
 * `commitOne` of a built entry, answered without a promise when the store writes at once
 * (`commitNow`) and no announcement goes with the write; otherwise `commitOne`'s promise.
 */
export function commitBuilt(
  parts: EngineParts,
  key: string,
  built: BuiltEntry,
  token: FenceToken,
  announce?: Announcement,
): Receipt | undefined | Promise<Receipt | undefined> {
  const { store } = parts
  if (!store.commitNow || announce) {
    return commitOne(
      parts,
      { key, entry: built.entry, payload: built.payload, ttlMs: built.storeTtlMs, token },
      announce,
    )
  }
  try {
    const receipt = store.commitNow(key, built.entry, built.payload, built.storeTtlMs, token)
    countWrite(parts, key, receipt !== undefined)
    return receipt
  } catch (error) {
    storeFailed(parts, 'commit', error)
    return undefined
  }
}

/** Writes a batch's loaded entries under their fences, in as few round trips as the store allows. */
export async function commitAll(
  parts: EngineParts,
  writes: readonly FencedWrite[],
  announce?: (keys: string[]) => Announcement,
): Promise<(Receipt | undefined)[]> {
  const { store } = parts
  if (writes.length === 0) return []
  if (store.commitMany) {
    try {
      const written = await store.commitMany(writes, announce)
      for (let i = 0; i < writes.length; i++)
        countWrite(parts, (writes[i] as FencedWrite).key, written[i] !== undefined)
      return written
    } catch (error) {
      storeFailed(parts, 'commit', error)
      return writes.map(() => undefined)
    }
  }
  // A store without commitMany has no channel of its own to announce on: the lease announces.
  return Promise.all(writes.map((w) => commitOne(parts, w)))
}

/** Overlapping loads are normal without `lock` (and at a cold start, common): counted, not a warning. */
function countWrite(parts: EngineParts, key: string, written: boolean): void {
  parts.metrics.fencedWrite(written ? 'written' : 'superseded')
  if (!written) parts.logger.debug?.('a newer write or load won; this result was not stored', { key })
}
