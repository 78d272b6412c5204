import type { Command } from 'ioredis'
import { StoreUnavailableError } from '../errors.ts'

/** The watch's clock ticks this many times per timeout; a command fails after one tick more. */
const TICKS = 8

/** Answered slots at the front, behind an unanswered command, before the rest is moved down. */
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
  /**
   * Commands in the order sent, in slots `#head` to `#tail` - 1, and the tick each was sent at.
   * Answered commands are let go as soon as a new one is added (their slots cleared), and the
   * slots are reused from the start whenever every command is answered: a busy connection keeps
   * no answered command, nor a growing array, for the garbage collector to carry.
   */
  readonly #sent: (Command | undefined)[] = []
  readonly #sentAt: number[] = []
  #head = 0
  #tail = 0
  #timer: NodeJS.Timeout | undefined

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
    this.#tickMs = Math.max(1, timeoutMs / TICKS)
  }

  /** Watches a command just handed to the connection. */
  add(command: Command): void {
    this.#letGoAnswered()
    const at = this.#tail++
    this.#sent[at] = command
    this.#sentAt[at] = this.#ticks
    if (this.#timer === undefined) this.#timer = setInterval(this.#tick, this.#tickMs).unref()
  }

  /** Stops the clock and forgets the commands; any still waiting are left to the connection (closing settles them). */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#sent.fill(undefined, this.#head, this.#tail)
    this.#head = 0
    this.#tail = 0
  }

  /** Moves the head past answered commands, clearing their slots; all answered: the slots start over. */
  #letGoAnswered(): void {
    const sent = this.#sent
    let head = this.#head
    while (head < this.#tail && (sent[head] as Command).isSettled) sent[head++] = undefined
    if (head === this.#tail) {
      this.#head = 0
      this.#tail = 0
      return
    }
    if (head >= COMPACT_AFTER) {
      // A command long unanswered at the front while thousands behind it were: move the rest down.
      const live = this.#tail - head
      sent.copyWithin(0, head, this.#tail)
      this.#sentAt.copyWithin(0, head, this.#tail)
      sent.fill(undefined, live, this.#tail)
      this.#head = 0
      this.#tail = live
      return
    }
    this.#head = head
  }

  readonly #tick = (): void => {
    this.#ticks++
    this.#letGoAnswered()
    if (this.#head === this.#tail) {
      // Nothing waits: the clock stops until the next command.
      this.stop()
      return
    }
    if (this.#ticks - (this.#sentAt[this.#head] as number) > TICKS) setImmediate(this.#expire)
  }

  /** Fails every command still unanswered after TICKS + 1 ticks (run after the I/O phase read what had arrived). */
  readonly #expire = (): void => {
    const last = this.#ticks - TICKS - 1
    const sent = this.#sent
    const sentAt = this.#sentAt
    for (let i = this.#head; i < this.#tail && (sentAt[i] as number) <= last; i++) {
      const command = sent[i] as Command
      if (!command.isSettled) {
        command.reject(new StoreUnavailableError(`redis did not answer within ${this.#timeoutMs} ms`))
      }
    }
  }
}
