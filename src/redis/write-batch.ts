import type { Socket } from 'node:net'
import type { RedisClient } from './client.ts'

/**
 * Commands sent in one tick leave in one write. ioredis writes each command to its socket at
 * once, one syscall each, and on loopback a syscall (with the wake-up of redis-server it causes)
 * costs more than everything else a hit does. From the second command of a tick on, the socket
 * is corked until the next tick, so the 64 GETs that 64 callers send in the same tick leave in
 * two writes (the first at once, the rest in one `writev`), without ioredis's auto-pipelining
 * (which builds a pipeline object per batch and measured no faster). Redis then answers them in
 * one read as well. A lone command (one caller) is written at once, as before. The uncork runs
 * before any I/O, so nothing waits on it. A Cluster client spreads commands over many sockets:
 * left as it is.
 */
export class WriteBatch {
  readonly #client: RedisClient
  /** Commands sent this tick (0: none yet, no tick end scheduled). */
  #sent = 0
  #corked: Socket | undefined

  constructor(client: RedisClient) {
    this.#client = client
  }

  /** Called just before a command is sent: holds it, and the rest of this tick's, when it is not the tick's first. */
  hold(): void {
    if (this.#sent++ === 0) {
      process.nextTick(this.#release)
      return
    }
    if (this.#corked !== undefined || this.#client.isCluster) return
    const stream = (this.#client as { stream?: Socket }).stream
    if (!stream || typeof stream.cork !== 'function') return
    stream.cork()
    this.#corked = stream
  }

  readonly #release = (): void => {
    this.#sent = 0
    const stream = this.#corked
    this.#corked = undefined
    stream?.uncork()
  }
}
