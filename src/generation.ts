/**
 * How an L1 tier knows it missed nothing. Every write in a namespace (set, delete, a load's
 * commit, a tag invalidation) moves the namespace's generation, a counter in the shared store,
 * in the same script as the write; its bus message carries the generation it moved to. A tier
 * that heard every generation up to the store's current one missed no write. One that finds a
 * gap (a message lost with a killed subscriber, a publish refused or skipped, a message from a
 * cache of another name) drops all it holds: it cannot know which keys changed.
 */
export class GenerationWatch {
  readonly #read: () => Promise<number>
  readonly #onMissed: () => void
  readonly #periodMs: number
  readonly #settleMs: number
  /** Every generation up to this one is accounted for; undefined until the first read. */
  #base: number | undefined
  /** Generations above `#base` heard on the bus or from this process's own writes. */
  readonly #heard = new Set<number>()
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  #closed = false
  /** Whether the last check could read the store's generation. */
  #lastReadOk = false

  /**
   * `read` returns the store's current generation (it rejects when the store cannot answer: then
   * nothing is dropped, see `check`). A gap is acted on after `settleMs`, the time a message
   * already published may still be on its way; checks run so that a missed write is acted on
   * within `verifyAfterMs` of the check before it.
   */
  constructor(options: {
    read: () => Promise<number>
    onMissed: () => void
    verifyAfterMs: number
    settleMs?: number
  }) {
    this.#read = options.read
    this.#onMissed = options.onMissed
    this.#settleMs = Math.min(options.settleMs ?? 50, Math.floor(options.verifyAfterMs / 4))
    this.#periodMs = Math.max(5, options.verifyAfterMs - this.#settleMs)
  }

  /** True once a first generation was read: before that, nothing read from the store may be kept. */
  get ready(): boolean {
    return this.#base !== undefined
  }

  /** Starts the periodic check (the timer never holds the process open) and runs one now. */
  start(): void {
    if (this.#timer || this.#closed) return
    this.#timer = setInterval(() => void this.check(), this.#periodMs)
    this.#timer.unref()
    void this.check()
  }

  /** Records a generation learned from a bus message or from a write made here. */
  heard(generation: number): void {
    if (!Number.isSafeInteger(generation) || generation <= (this.#base ?? 0)) return
    this.#heard.add(generation)
  }

  /**
   * Compares the store's generation with what was heard; drops the tier's content on a gap. When
   * the store cannot be read (an outage), nothing changes: no write can land there meanwhile, and
   * the check after it comes back settles what was missed before. Concurrent calls share one check.
   */
  check(): Promise<void> {
    this.#checking ??= this.#compare().finally(() => {
      this.#checking = undefined
    })
    return this.#checking
  }

  /** Runs a check that starts now (after the one in flight, if any): for what happened after a loss. */
  async checkAfresh(): Promise<boolean> {
    await this.#checking
    await this.check()
    return this.#lastReadOk
  }

  stop(): void {
    this.#closed = true
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async #compare(): Promise<void> {
    let current: number
    try {
      current = await this.#read()
      this.#lastReadOk = true
    } catch {
      this.#lastReadOk = false
      return
    }
    if (this.#closed) return
    const base = this.#base
    if (base === undefined) {
      this.#advance(current)
      return
    }
    // A counter that went back means the store lost its data (restarted empty, flushed). Lost data
    // makes no copy wrong; a write missed before it would. Copies go only if something heard
    // shows a gap (see docs/tiers.md for the one write this cannot see: one made just before the
    // loss whose message was lost too).
    if (current < base) {
      const last = Math.max(base, ...this.#heard)
      if (!this.#complete(base, last)) this.#onMissed()
      this.#heard.clear()
      this.#base = current
      return
    }
    if (!this.#complete(base, current)) {
      await new Promise((resolve) => setTimeout(resolve, this.#settleMs).unref())
      if (this.#closed) return
      if (!this.#complete(base, current)) this.#onMissed()
    }
    this.#advance(current)
  }

  /** Whether every generation in (from, to] was heard. */
  #complete(from: number, to: number): boolean {
    if (to - from > this.#heard.size) return false
    for (let g = from + 1; g <= to; g++) if (!this.#heard.has(g)) return false
    return true
  }

  #advance(to: number): void {
    this.#base = Math.max(this.#base ?? to, to)
    for (const g of this.#heard) if (g <= this.#base) this.#heard.delete(g)
  }
}
