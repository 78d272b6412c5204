import { Cluster, type Command, Redis, type RedisOptions } from 'ioredis'
import { withStoreTimeout } from '../timers.ts'
import { CommandWatch } from './command-watch.ts'

/** The least a first connection is given: a TCP connect, the ready check, AUTH or TLS if asked. */
export const FIRST_CONNECT_MIN_MS = 1_000

/** A standalone ioredis client or a Cluster client: corral works with either. */
export type RedisClient = Redis | Cluster

/**
 * Options for clients corral creates: RESP2 (ioredis 6 defaults to RESP3 with a new decoder), no
 * offline queue so a down Redis fails at once instead of piling up callers, and reconnection
 * forever with a capped backoff. No `commandTimeout`: the connection's CommandWatch times every
 * command with one timer, and does not count a stall of this process's event loop as Redis being
 * slow, where ioredis's timer (one per command) does.
 */
export function ownedClientOptions(timeoutMs: number): RedisOptions {
  return {
    protocol: 2,
    enableOfflineQueue: false,
    connectTimeout: Math.max(FIRST_CONNECT_MIN_MS, timeoutMs),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1_000),
  }
}

/** A connection corral opened: every command it sends is timed by its CommandWatch. */
export class WatchedRedis extends Redis {
  readonly #timing: CommandWatch

  constructor(url: string, timeoutMs: number) {
    super(url, ownedClientOptions(timeoutMs) as RedisOptions & { replyMapping?: 'legacy' })
    const timing = new CommandWatch(timeoutMs)
    this.#timing = timing
    this.once('end', () => timing.stop())
  }

  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    const sent = super.sendCommand(command, stream)
    // Refused at once (no connection, no offline queue): nothing to wait for. The constructor's
    // own connect sends nothing before the watch exists.
    if (!command.isSettled) this.#timing.add(command)
    return sent
  }
}

/** Opens a client on `url` with the fail-fast options above. */
export function createOwnedClient(url: string, timeoutMs: number): WatchedRedis {
  return new WatchedRedis(url, timeoutMs)
}

/** A second connection for SUBSCRIBE (a subscribed connection can run nothing else). */
export function duplicateForSubscribe(client: RedisClient): RedisClient {
  if (client instanceof Cluster) return client.duplicate()
  return client.duplicate({ enableOfflineQueue: true })
}

/** True when the client can take commands now. */
export function isReady(client: RedisClient): boolean {
  return client.status === 'ready'
}

/**
 * Waits for a client that is still connecting. Commands sent before the first connect fail at
 * once when the offline queue is off, so the first operations wait here: until the client is
 * ready (true), until a connection attempt fails (false at once: refused, reset), or for the
 * connect budget, `timeoutMs` but at least FIRST_CONNECT_MIN_MS (false). The budget is timed as
 * a store command is (`withStoreTimeout`): a handshake that finished while this process was busy
 * (a big batch, a long GC) is not taken for a Redis out of reach.
 */
export function whenReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  if (client.status === 'end' || client.status === 'close') return Promise.resolve(false)
  let settle!: (ready: boolean) => void
  const decided = new Promise<boolean>((resolve) => (settle = resolve))
  const onReady = () => settle(true)
  const onClose = () => settle(false)
  client.once('ready', onReady)
  client.once('close', onClose)
  const budget = Math.max(FIRST_CONNECT_MIN_MS, timeoutMs)
  return withStoreTimeout(decided, budget, () => false).finally(() => {
    client.off('ready', onReady)
    client.off('close', onClose)
  })
}
