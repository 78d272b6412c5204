import type { Socket } from 'node:net'
import type { RedisClient } from './client.ts'

/**
 * Commands sent in one tick leave in one write. ioredis writes each command to its socket at
 * once, one syscall each, and on loopback a syscall (with the wake-up of redis-server it causes)
 * costs more than everything else a hit does. Corking the socket until the next tick turns the
 * 64 GETs that 64 callers send in the same tick into one `writev`, without ioredis's
 * auto-pipelining (which builds a pipeline object per batch and measured no faster). Redis then
 * answers them in one read as well. The delay is nothing: the uncork runs before any I/O.
 * A Cluster client spreads commands over many sockets: left as it is.
 */
export class WriteBatch {
  readonly #client: RedisClient
  #corked: Socket | undefined

  constructor(client: RedisClient) {
    this.#client = client
  }

  /** Holds this tick's writes on the client's socket until the next tick. */
  hold(): void {
    if (this.#corked !== undefined || this.#client.isCluster) return
    const stream = (this.#client as { stream?: Socket }).stream
    if (!stream || typeof stream.cork !== 'function') return
    stream.cork()
    this.#corked = stream
    process.nextTick(this.#release)
  }

  readonly #release = (): void => {
    const stream = this.#corked
    this.#corked = undefined
    stream?.uncork()
  }
}
