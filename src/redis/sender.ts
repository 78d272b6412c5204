import { createHash } from 'node:crypto'
import { Command } from 'ioredis'
import type { RedisClient } from './client.ts'
import { CommandWatch } from './command-watch.ts'
import { encodeCommand, type KeyRange } from './resp.ts'

export type Arg = string | number | Buffer

/**
 * Arguments from which a command is a batch's chunk: written by encodeCommand (resp.ts) rather
 * than by ioredis, and sent as a write of its own (write-batch.ts).
 */
export const CHUNK_ARGS = 64

/**
 * A command whose bytes were written beforehand (resp.ts): ioredis queues it, times it and reads
 * its reply as any other, and writes these bytes for it. Only on a single Redis: a Cluster client
 * routes a command by its key arguments, which this one does not carry.
 */
class EncodedCommand extends Command {
  readonly #bytes: Buffer

  constructor(name: string, bytes: Buffer, options: ConstructorParameters<typeof Command>[2]) {
    super(name, [], options)
    this.#bytes = bytes
  }

  override toWritable(): Buffer {
    return this.#bytes
  }
}

/** A Lua script sent by its SHA1, and in full the first time on each connection. */
export class LuaScript {
  readonly lua: string
  readonly sha: string
  /** Connections (sockets) this script was sent in full on: their Redis has it cached. */
  readonly sentOn = new WeakSet<object>()

  constructor(lua: string) {
    this.lua = lua
    this.sha = createHash('sha1').update(lua).digest('hex')
  }
}

/**
 * Sends the commands a hit, a miss and a batch are made of (reads, commits) as ioredis `Command`s
 * of corral's own, so a client passed in without a `commandTimeout` is timed by one CommandWatch
 * for the store (one interval timer) instead of a timer armed and cleared per command: on a
 * Redis hit that timer cost 1-2 µs of CPU, a tenth of the hit. On clients corral opened (their
 * own watch) and clients with a `commandTimeout` (ioredis's timer) nothing more is watched.
 */
export class CommandSender {
  readonly #client: RedisClient
  readonly #watch: CommandWatch | undefined
  readonly #keyPrefix: string | undefined

  /** `watchMs`: the timeout to watch every command with, or undefined when someone else times them. */
  constructor(client: RedisClient, watchMs: number | undefined) {
    this.#client = client
    this.#watch = watchMs === undefined ? undefined : new CommandWatch(watchMs)
    this.#keyPrefix = (client.options as { keyPrefix?: string } | undefined)?.keyPrefix || undefined
  }

  /** One command; `buffers`: the reply's strings as Buffers (the `...Buffer` methods of ioredis). */
  send<T>(name: string, args: Arg[], buffers: boolean): Promise<T> {
    const replyEncoding = buffers ? null : 'utf8'
    const command =
      args.length >= CHUNK_ARGS && !this.#client.isCluster
        ? new EncodedCommand(name, encodeCommand(name, args, this.#keysOf(name, args)), { replyEncoding })
        : new Command(name, args, { replyEncoding, ...(this.#keyPrefix ? { keyPrefix: this.#keyPrefix } : {}) })
    const sent = this.#client.sendCommand(command) as Promise<T>
    // Refused at once (not connected, no offline queue): nothing to wait for.
    if (this.#watch && !command.isSettled) this.#watch.add(command)
    return sent
  }

  /**
   * A script: in full the first time on a connection (which caches it in that Redis), then by its
   * SHA1; when Redis answers NOSCRIPT (SCRIPT FLUSH, a failover), once more in full. Sending it in
   * full first, rather than waiting for a NOSCRIPT, keeps a fresh Redis's first write in order with
   * the commands sent after it: a read sent meanwhile would otherwise overtake the write.
   */
  script<T>(script: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    // A Cluster client has a socket per node: there the SHA1 goes first, and NOSCRIPT is answered.
    const socket = (this.#client as { stream?: object }).stream
    if (socket !== undefined && !script.sentOn.has(socket)) {
      script.sentOn.add(socket)
      return this.send<T>('eval', [script.lua, keys.length, ...keys, ...args], false)
    }
    return this.send<T>('evalsha', [script.sha, keys.length, ...keys, ...args], false).catch((error: unknown) => {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error
      return this.send<T>('eval', [script.lua, keys.length, ...keys, ...args], false)
    })
  }

  /** Where `name`'s key arguments are, for the client's keyPrefix (the commands this sender sends: reads and scripts). */
  #keysOf(name: string, args: readonly Arg[]): KeyRange | undefined {
    const prefix = this.#keyPrefix
    if (!prefix) return undefined
    if (name === 'eval' || name === 'evalsha') return { from: 2, to: 2 + Number(args[1]), prefix }
    return { from: 0, to: args.length, prefix }
  }

  /** Stops the watch's clock (the store closes). */
  stop(): void {
    this.#watch?.stop()
  }
}
