import HashRing from 'hashring'
import { MemcacheClient } from 'memcache-client'
import { CorralConfigError } from '../errors.ts'

export type { MemcacheClient } from 'memcache-client'

/** One Memcached server (or the client you passed): where the items of some keys live. */
export interface MemcachedNode {
  /** `host:port`, or 'client' for a client you passed. */
  readonly id: string
  readonly client: MemcacheClient
}

const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/

/** Checks `servers` (non-empty `host:port` strings, no duplicates) and returns them. */
export function parseServers(servers: unknown): string[] {
  if (!Array.isArray(servers) || servers.length === 0) {
    throw new CorralConfigError('store.servers', servers, "must be a non-empty array of 'host:port' strings")
  }
  for (const server of servers) {
    const port = typeof server === 'string' ? ADDRESS.exec(server)?.[1] : undefined
    if (port === undefined || Number(port) < 1 || Number(port) > 65_535) {
      throw new CorralConfigError('store.servers', server, "must be 'host:port' with a port from 1 to 65535")
    }
  }
  if (new Set(servers).size !== servers.length) {
    throw new CorralConfigError('store.servers', servers, 'must not name a server twice')
  }
  return servers as string[]
}

/**
 * A client corral opens for one server: one connection (commands are pipelined on it, so replies
 * come back in the order they were sent), a command timeout and a connect timeout of the store's
 * timeout, so a paused or unreachable server fails a command instead of holding it.
 */
export function ownedClient(server: string, timeoutMs: number): MemcacheClient {
  return new MemcacheClient({
    server: { server, maxConnections: 1 },
    cmdTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    noDelay: true,
    keepAlive: 30_000,
  })
}

/**
 * The servers items are spread over: a key's server comes from a consistent hash ring (ketama,
 * as libmemcached and most clients place keys), so adding a server moves only a share of the keys.
 */
export class MemcachedNodes {
  readonly all: readonly MemcachedNode[]
  readonly #ring: HashRing | undefined
  readonly #byId: Map<string, MemcachedNode>

  constructor(nodes: MemcachedNode[]) {
    this.all = nodes
    this.#byId = new Map(nodes.map((node) => [node.id, node]))
    this.#ring = nodes.length > 1 ? new HashRing(nodes.map((node) => node.id)) : undefined
  }

  /** The node that holds the item named `item`. */
  of(item: string): MemcachedNode {
    if (!this.#ring) return this.all[0] as MemcachedNode
    return this.#byId.get(this.#ring.get(item)) as MemcachedNode
  }

  /** Items grouped by the node that holds them, with each item's position in `items`. */
  group(items: readonly string[]): Map<MemcachedNode, { item: string; at: number }[]> {
    const groups = new Map<MemcachedNode, { item: string; at: number }[]>()
    items.forEach((item, at) => {
      const node = this.of(item)
      const list = groups.get(node)
      if (list) list.push({ item, at })
      else groups.set(node, [{ item, at }])
    })
    return groups
  }
}

const REPLY = /^(?:NOT_FOUND|NOT_STORED|EXISTS|ERROR|CLIENT_ERROR|SERVER_ERROR)\b/

/** True when `error` is a Memcached reply (the server answered), not a lost or late connection. */
export function isReply(error: unknown): boolean {
  return REPLY.test(String((error as Error)?.message ?? ''))
}

/** True when Memcached answered `reply` (e.g. NOT_FOUND, EXISTS) to a command. */
export function replied(error: unknown, reply: string): boolean {
  return String((error as Error)?.message ?? '').startsWith(reply)
}

/** An item's bytes as Memcached returned them (a Buffer for what corral wrote; another client's string otherwise). */
export function itemBytes(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value
  if (typeof value === 'string') return Buffer.from(value)
  if (typeof value === 'number') return Buffer.from(String(value))
  return undefined
}
