/**
 * How an L1 tier knows it missed nothing. Every write in a namespace (set, delete, a load's
 * commit, a tag invalidation) moves the namespace's generation, a counter in the shared store,
 * in the same script as the write; its bus message carries the generation it moved to. A tier
 * that heard every generation up to the store's current one missed no write. One that finds a
 * gap (a message lost with a killed subscriber, a publish refused or skipped, a message from a
 * cache of another name) reconciles what it holds with the store (src/stores/tiered.ts).
 */
export class GenerationWatch {
  readonly #read: () => Promise<number>
  readonly #reconcile: (found: Findings) => Promise<void> | void
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
  /** The store could not be reached since the last check that read it. */
  #cutOff = false

  /**
   * `read` returns the store's current generation (it rejects when the store cannot answer: then
   * nothing is dropped, see `check`). `reconcile` is told what a check found when it found
   * anything. A gap is acted on after `settleMs`, the time a message already published may still
   * be on its way; checks run so that a missed write is acted on within `verifyAfterMs` of the
   * check before it.
   */
  constructor(options: {
    read: () => Promise<number>
    reconcile: (found: Findings) => Promise<void> | void
    verifyAfterMs: number
    settleMs?: number
  }) {
    this.#read = options.read
    this.#reconcile = options.reconcile
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
   * The store could not take what was loaded or was to be written here: the next check that reads
   * it reports `cutOff`, so the tier can write back what it holds. (A failed read alone says
   * nothing the next check will not: the check's own read failing marks an outage.)
   */
  unreachable(): void {
    this.#cutOff = true
  }

  /**
   * The store answered: a watch whose last check could not read it checks now instead of at its
   * next period, so what an outage left to settle is settled as soon as the store is back.
   */
  reached(): void {
    if (!this.#lastReadOk && this.#base !== undefined && !this.#checking && !this.#closed) void this.check()
  }

  /**
   * Compares the store's generation with what was heard and reports what it found. When the store
   * cannot be read (an outage), nothing changes: no write can land there meanwhile, and the check
   * after it comes back settles what was missed before. Concurrent calls share one check.
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
      this.#cutOff = true
      return
    }
    if (this.#closed) return
    const base = this.#base
    const cutOff = this.#cutOff
    this.#cutOff = false
    if (base === undefined) {
      this.#advance(current)
      return
    }
    // A counter that went back means the store lost its data (restarted empty, flushed); after an
    // outage, so does one below a generation heard before it (the store restarted before the next
    // check moved the base up). A write heard of before the loss shows nothing now; a gap before
    // it means copies that cannot be checked any more. Writes since the loss are judged by what
    // the store holds now (see docs/tiers.md for the one write this cannot see: one made just
    // before the loss whose message was lost too).
    const last = Math.max(base, ...this.#heard)
    if (current < base || (cutOff && current < last)) {
      const gap = !this.#complete(base, last)
      this.#heard.clear()
      this.#base = current
      await this.#reconcile({ gap, lost: true, cutOff })
      return
    }
    let gap = !this.#complete(base, current)
    if (gap) {
      await new Promise((resolve) => setTimeout(resolve, this.#settleMs).unref())
      if (this.#closed) return
      gap = !this.#complete(base, current)
    }
    if (gap || cutOff) await this.#reconcile({ gap, lost: false, cutOff })
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

/** What a check found, when it found anything. */
export interface Findings {
  /** A write was never heard of (a message lost): copies of the keys it wrote are out of date. */
  gap: boolean
  /**
   * The store lost its data (its generation went back). With `gap`, the write missed before the
   * loss left no trace to check copies against; without it, copies are checked against what
   * the store holds now (writes since the loss may have gone unheard).
   */
  lost: boolean
  /**
   * Since the last check that read it, the store could not be read, or could not take a value
   * loaded here (an outage, a partition): what the tier holds may be worth writing back.
   */
  cutOff: boolean
}
