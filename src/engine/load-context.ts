import { type Duration, toMs } from '../duration.ts'
import type { Abortable } from '../origin.ts'
import { validTags } from './entry-building.ts'
import type { LoaderContext } from './types.ts'

/**
 * What a loader is handed for one key. A class, so a miss makes one small object: an object
 * literal with a `signal` getter (or a spread of a prepared context) is defined property by
 * property at run time, which cost a memory-store miss more than its store work. `setTtl` and
 * `setTags` are functions made on first read that need no `this`, so a loader may destructure them.
 */
export class LoadContext<T> implements LoaderContext<T> {
  readonly key: string
  readonly stale: T | undefined
  readonly #abort: Abortable
  #ttlMs: number | undefined
  #tags: readonly string[]
  #setTtl: ((ttl: Duration) => void) | undefined
  #setTags: ((tags: string[]) => void) | undefined

  constructor(key: string, stale: T | undefined, tags: readonly string[], abort: Abortable) {
    this.key = key
    this.stale = stale
    this.#abort = abort
    this.#ttlMs = undefined
    this.#tags = tags
    this.#setTtl = undefined
    this.#setTags = undefined
  }

  /** Stores this one result for `ttl`; made when first read (most loaders never do), and works detached. */
  get setTtl(): (ttl: Duration) => void {
    this.#setTtl ??= (ttl) => {
      this.#ttlMs = toMs('ctx.setTtl', ttl)
    }
    return this.#setTtl
  }

  /** Stores this one result with `tags`; made when first read, and works detached. */
  get setTags(): (tags: string[]) => void {
    this.#setTags ??= (next) => {
      this.#tags = validTags(next)
    }
    return this.#setTags
  }

  /** Aborted at the hard timeout; made only when read. */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  /** The ttl the loader chose for its result (ms), if it chose one. */
  static ttlOf(ctx: LoadContext<unknown>): number | undefined {
    return ctx.#ttlMs
  }

  /** The tags the result is stored with: the loader's, else the ones given to `wrap`. */
  static tagsOf(ctx: LoadContext<unknown>): readonly string[] {
    return ctx.#tags
  }
}
