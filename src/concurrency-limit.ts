/**
 * At most `max` tasks running at once, the rest waiting in the order they came. A task that finds
 * a slot free starts at once, in the caller's tick: nothing is queued or allocated for it beyond
 * its own promise (p-limit, used before, queued every call and cost a memory-store miss several
 * promises and microtask turns).
 */
export class ConcurrencyLimit {
  readonly #max: number
  #active = 0
  /** Waiting starts; `#head` is the next one (shifting an array is linear in its length). */
  #waiting: (() => void)[] = []
  #head = 0

  constructor(max: number) {
    this.#max = max
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.#waiting.length - this.#head
  }

  /** Runs `task` once a slot is free; its slot is freed when it settles. */
  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.#max) {
      this.#active += 1
      return this.#start(task)
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(() => this.#start(task))
  }

  /** Runs `task` in a slot already counted as taken. */
  #start<T>(task: () => Promise<T>): Promise<T> {
    let running: Promise<T>
    try {
      running = task()
    } catch (error) {
      running = Promise.reject(error)
    }
    running.then(this.#release, this.#release)
    return running
  }

  /** A task settled: its slot goes to the longest waiting one, if any, else it is free. */
  readonly #release = (): void => {
    if (this.#head === this.#waiting.length) {
      this.#active -= 1
      return
    }
    const resume = this.#waiting[this.#head] as () => void
    this.#waiting[this.#head] = NOOP
    this.#head += 1
    if (this.#head === this.#waiting.length) {
      this.#waiting = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head)
      this.#head = 0
    }
    resume()
  }
}

const NOOP = () => {}
