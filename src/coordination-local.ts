/**
 * The null objects of coordination: what a store that nobody else shares offers, and what a cache
 * with `lock: false` uses. The read path calls them like the real ones and never checks for a
 * missing part.
 */
import {
  type Coordinator,
  gens,
  type InvalidationChannel,
  type KeyLock,
  type LockDecision,
  type LockLease,
} from './coordination.ts'
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
 * is still announced on `channel`, so other processes drop their copies of `key`.
 */
export function unheldLease(channel: InvalidationChannel, key: string): LockLease {
  return {
    succeed: (stored, receipt) => (stored ? channel.publish({ kind: 'ready', key, ...gens(receipt) }) : done),
    fail: () => done,
    release: () => done,
  }
}

/** No lock: every process loads for itself, under a lease that holds nothing. */
export function unlockedLock(channel: InvalidationChannel): KeyLock {
  return {
    waitMs: 0,
    coordinate: (key) => Promise.resolve<LockDecision>({ kind: 'lead', lease: unheldLease(channel, key) }),
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
