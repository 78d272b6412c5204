import type { Entry } from '../entry.ts'

const NO_TAGS: readonly string[] = Object.freeze([])

/**
 * An entry as the memory store keeps it when it does not fit a CompactEntry: every field of Entry
 * as an own property, in one class so that all of them share one shape.
 */
export class HeldEntry implements Entry {
  constructor(
    readonly value: unknown,
    readonly negative: boolean,
    readonly freshUntilMs: number,
    readonly staleUntilMs: number,
    readonly deltaMs: number,
    readonly createdAtUs: number,
    readonly tags: readonly string[],
    readonly failSafe: boolean,
  ) {}
}

/** Offsets from an epoch's base, in ms, stay small integers (Smis) on every V8 build. */
const OFFSET_LIMIT = 2 ** 30
/** Bit layout of CompactEntry's `#bits`: flags, the µs within the birth ms, the load time, the epoch. */
const FAIL_SAFE = 2
const REM_SHIFT = 2
const DELTA_SHIFT = 12
const DELTA_LIMIT = 2 ** 13
const EPOCH_SHIFT = 25
const EPOCHS = 32
/**
 * Epoch bases (ms), process-wide and only ever appended: a base serves entries written within
 * 2^29 ms (6 days) of it, so offsets of entries with ttl + grace under 6 days fit, and after 32
 * epochs (200 days of uptime) new entries are kept as HeldEntry.
 */
const BASES: number[] = []

function epochFor(nowMs: number): number {
  const last = BASES.length - 1
  if (last >= 0 && nowMs - (BASES[last] as number) < 2 ** 29) return last
  if (BASES.length >= EPOCHS) return -1
  BASES.push(Math.floor(nowMs))
  return BASES.length - 1
}

/**
 * An untagged entry in five slots and no heap numbers (the three times as doubles would each be
 * a separate 16-byte object): the times as integer offsets from an epoch base, the flags, the µs
 * within the birth millisecond, the load time in ms and the epoch packed into one small integer.
 * Read through getters, so engine code must not spread an entry (entryWith copies one).
 */
class CompactEntry implements Entry {
  readonly value: unknown
  readonly #fresh: number
  readonly #stale: number
  readonly #born: number
  readonly #bits: number

  constructor(value: unknown, fresh: number, stale: number, born: number, bits: number) {
    this.value = value
    this.#fresh = fresh
    this.#stale = stale
    this.#born = born
    this.#bits = bits
  }

  get negative(): boolean {
    return (this.#bits & 1) !== 0
  }

  get failSafe(): boolean {
    return (this.#bits & FAIL_SAFE) !== 0
  }

  get freshUntilMs(): number {
    return (BASES[this.#bits >>> EPOCH_SHIFT] as number) + this.#fresh
  }

  get staleUntilMs(): number {
    return (BASES[this.#bits >>> EPOCH_SHIFT] as number) + this.#stale
  }

  get createdAtUs(): number {
    const ms = (BASES[this.#bits >>> EPOCH_SHIFT] as number) + this.#born
    return ms * 1000 + ((this.#bits >>> REM_SHIFT) & 1023)
  }

  get deltaMs(): number {
    return (this.#bits >>> DELTA_SHIFT) & (DELTA_LIMIT - 1)
  }

  get tags(): readonly string[] {
    return NO_TAGS
  }
}

function smallOffset(value: number, base: number): number | undefined {
  const offset = value - base
  return Number.isInteger(value) && offset > -OFFSET_LIMIT && offset < OFFSET_LIMIT ? offset : undefined
}

/**
 * The entry the memory store keeps for `entry`: compact when it is untagged, its
 * times are whole milliseconds (whole µs for the birth time) near now and its load took under 8 s;
 * else every field as it is. Both read back exactly what was given (deltaMs rounded). An entry
 * made by `heldEntryOf` is kept as it is.
 */
export function heldEntry(entry: Entry): Entry {
  if (entry instanceof CompactEntry || entry instanceof HeldEntry) return entry
  return heldEntryOf(
    entry.value,
    entry.negative,
    entry.freshUntilMs,
    entry.staleUntilMs,
    entry.deltaMs,
    entry.createdAtUs,
    entry.tags,
    entry.failSafe,
  )
}

/**
 * `heldEntry` of the entry these fields describe, without making that entry first: the engine
 * builds a written entry this way for the memory store (Store.hold), so a write makes one entry
 * object, not two.
 */
export function heldEntryOf(
  value: unknown,
  negative: boolean,
  freshUntilMs: number,
  staleUntilMs: number,
  deltaMs: number,
  createdAtUs: number,
  tags: readonly string[],
  failSafe: boolean,
): Entry {
  const delta = Math.round(deltaMs)
  if (tags.length === 0 && delta >= 0 && delta < DELTA_LIMIT && Number.isInteger(createdAtUs)) {
    const epoch = epochFor(Date.now())
    const base = BASES[epoch]
    if (base !== undefined) {
      const bornMs = Math.floor(createdAtUs / 1000)
      const fresh = smallOffset(freshUntilMs, base)
      const stale = smallOffset(staleUntilMs, base)
      const born = smallOffset(bornMs, base)
      if (fresh !== undefined && stale !== undefined && born !== undefined) {
        const bits =
          (negative ? 1 : 0) |
          (failSafe ? FAIL_SAFE : 0) |
          ((createdAtUs - bornMs * 1000) << REM_SHIFT) |
          (delta << DELTA_SHIFT) |
          (epoch << EPOCH_SHIFT)
        return new CompactEntry(value, fresh, stale, born, bits)
      }
    }
  }
  return new HeldEntry(value, negative, freshUntilMs, staleUntilMs, delta, createdAtUs, tags, failSafe)
}
