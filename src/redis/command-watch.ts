import type { Command } from 'ioredis'
import { StoreUnavailableError } from '../errors.ts'

/** The watch's clock ticks this many times per timeout; a command fails after one tick more. */
const TICKS = 8

/** Sent commands kept before the settled ones at the front are cut off. */
const COMPACT_AFTER = 1_024

/**
 * The timeout of every command on a connection corral opened, kept by one timer for the whole
 * connection instead of one timer per command (ioredis's `commandTimeout` arms and clears one per
 * command, on every hit).
 *
 * Redis answers a connection's commands in the order they were sent, so the commands still
 * waiting are the newest ones: the watch keeps them in that order and only the oldest can be
 * overdue. Its clock is its own ticks, `timeout / TICKS` apart: a tick the event loop could not
 * run (it was blocked by a big batch, a long GC) is not counted, so a stall of this process never
 * looks like Redis being slow. A command fails after TICKS + 1 ticks, so between the timeout and
 * an eighth more; the verdict waits for the loop's next I/O phase, so a reply that already
 * arrived is read first.
 */
export class CommandWatch {
  readonly #timeoutMs: number
  readonly #tickMs: number
  /** Ticks counted since the watch started. */
  #ticks = 0
  /** Commands in the order sent, from `#head` on; and the tick each was sent at. */
  #sent: Command[] = []
  #sentAt: number[] = []
  #head = 0
  #timer: NodeJS.Timeout | undefined

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
    this.#tickMs = Math.max(1, timeoutMs / TICKS)
  }

  /** Watches a command just handed to the connection. */
  add(command: Command): void {
    this.#sent.push(command)
    this.#sentAt.push(this.#ticks)
    if (this.#timer === undefined) this.#timer = setInterval(this.#tick, this.#tickMs).unref()
  }

  /** Stops the clock and forgets the commands; any still waiting are left to the connection (closing settles them). */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#sent.length = 0
    this.#sentAt.length = 0
    this.#head = 0
  }

  readonly #tick = (): void => {
    this.#ticks++
    const sent = this.#sent
    let head = this.#head
    while (head < sent.length && (sent[head] as Command).isSettled) head++
    if (head === sent.length) {
      // Nothing waits: the clock stops until the next command.
      this.stop()
      return
    }
    this.#head = head
    if (head >= COMPACT_AFTER) {
      this.#sent = sent.slice(head)
      this.#sentAt = this.#sentAt.slice(head)
      this.#head = 0
    }
    if (this.#ticks - (this.#sentAt[this.#head] as number) > TICKS) setImmediate(this.#expire)
  }

  /** Fails every command still unanswered after TICKS + 1 ticks (run after the I/O phase read what had arrived). */
  readonly #expire = (): void => {
    const last = this.#ticks - TICKS - 1
    const sent = this.#sent
    const sentAt = this.#sentAt
    for (let i = this.#head; i < sent.length && (sentAt[i] as number) <= last; i++) {
      const command = sent[i] as Command
      if (!command.isSettled) {
        command.reject(new StoreUnavailableError(`redis did not answer within ${this.#timeoutMs} ms`))
      }
    }
  }
}
