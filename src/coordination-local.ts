/**
 * The null objects of coordination: what a store that nobody else shares offers, and what a cache
 * with `lock: false` uses. The read path calls them like the real ones and never checks for a
 * missing part.
 */
import type { BatchLease, Coordinator, InvalidationChannel, KeyLock, LockDecision, LockLease } from './coordination.ts'
import { CorralConfigError } from './errors.ts'

const noop = () => {}
const done = Promise.resolve()

/** A channel that reaches nobody: never live, publishes nowhere, never calls a listener. */
export const silentChannel: InvalidationChannel = {
  live: false,
  listening: 0,
  subscribe: () => Promise.resolve(false),
  publish: () => done,
  listen: () => noop,
  onOthers: noop,
  onLost: noop,
  close: () => done,
}

/**
 * A lease that holds no lock: nothing to release, no waiter to tell of a failure; a stored value
 * is still announced on `channel`, so other processes drop their copies of `key` (by the write
 * itself when the store can: see LockLease.announce).
 */
export function unheldLease(channel: InvalidationChannel, key: string): LockLease {
  const announce = channel.announcement?.({ kind: 'ready', key })
  return {
    announce,
    succeed: (stored) => (stored && !announce ? channel.publish({ kind: 'ready', key }) : done),
    fail: () => done,
    release: () => done,
  }
}

/** Keys per "drop" message when a batch's writes are announced apart from the writes. */
const KEYS_PER_MESSAGE = 1_000

/** A batch's lease that holds no lock: written keys are still announced, by the writes when the store can. */
export function unheldBatchLease(channel: InvalidationChannel): BatchLease {
  const canAnnounce = channel.announcement?.({ kind: 'drop', keys: [] }) !== undefined
  return {
    announce: canAnnounce
      ? (keys) => channel.announcement?.({ kind: 'drop', keys }) ?? { channel: '', message: '' }
      : undefined,
    finish: async (written) => {
      if (canAnnounce) return
      for (let i = 0; i < written.length; i += KEYS_PER_MESSAGE) {
        await channel.publish({ kind: 'drop', keys: written.slice(i, i + KEYS_PER_MESSAGE) })
      }
    },
    release: () => done,
  }
}

/** No lock: every process loads for itself, under a lease that holds nothing. */
export function unlockedLock(channel: InvalidationChannel): KeyLock {
  return {
    waitMs: 0,
    coordinates: false,
    coordinate: (key) => Promise.resolve<LockDecision>({ kind: 'lead', lease: unheldLease(channel, key) }),
    tryMany: (keys) => Promise.resolve({ load: [{ keys: [...keys], lease: unheldBatchLease(channel) }], taken: [] }),
    msLeft: () => Promise.resolve(0),
  }
}

/** What a store in this process only coordinates: nothing. */
export const localCoordinator: Coordinator = {
  crossProcess: false,
  channel: silentChannel,
  lock(settings) {
    if (settings.clients) {
      throw new CorralConfigError(
        'lock.clients',
        '[clients]',
        'needs a store shared by processes (redisStore): a lock coordinates processes that share a store',
      )
    }
    return unlockedLock(silentChannel)
  },
}
