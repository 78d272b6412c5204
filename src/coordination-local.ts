/**
 * The null objects of coordination: what a store that nobody else shares offers, and what a cache
 * with `lock: false` uses. The read path calls them like the real ones and never checks for a
 * missing part.
 */
import {
  type BatchLease,
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
const settled = () => done

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

/** The decision of an unlocked lock on the silent channel, for every key: lead, and tell nobody. */
const leadSilently: Promise<LockDecision> = Promise.resolve({
  kind: 'lead',
  lease: { announce: undefined, succeed: settled, fail: settled, release: settled },
})

/**
 * A lease that holds no lock: nothing to release, no waiter to tell of a failure; a stored value
 * is still announced on `channel`, so other processes drop their copies of `key` (by the write
 * itself when the store can: see LockLease.announce).
 */
export function unheldLease(channel: InvalidationChannel, key: string): LockLease {
  const announce = channel.announcement?.({ kind: 'ready', key })
  return {
    announce,
    succeed(stored, receipt) {
      return stored && !announce ? channel.publish({ kind: 'ready', key, ...gens(receipt) }) : done
    },
    fail: settled,
    release: settled,
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
    finish: async (written, _failed, generations) => {
      if (!canAnnounce) await announceWritten(channel, written, generations)
    },
    release: () => done,
  }
}

/**
 * Announces a batch's written keys as "drop" messages, a bounded number of keys each; the first
 * also carries the generations the writes moved to.
 */
export async function announceWritten(
  channel: Pick<InvalidationChannel, 'publish'>,
  written: readonly string[],
  generations: readonly number[] = [],
): Promise<void> {
  for (let i = 0; i < written.length; i += KEYS_PER_MESSAGE) {
    const keys = written.slice(i, i + KEYS_PER_MESSAGE)
    await channel.publish(
      i === 0 && generations.length > 0 ? { kind: 'drop', keys, gens: [...generations] } : { kind: 'drop', keys },
    )
  }
}

/** No lock: every process loads for itself, under a lease that holds nothing. */
export function unlockedLock(channel: InvalidationChannel): KeyLock {
  return {
    waitMs: 0,
    coordinates: false,
    silent: channel === silentChannel,
    // On the silent channel a lease has nothing to say to anyone: one decision serves every key.
    coordinate: (key) =>
      channel === silentChannel
        ? leadSilently
        : Promise.resolve<LockDecision>({ kind: 'lead', lease: unheldLease(channel, key) }),
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
