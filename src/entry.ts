import { xfetchDue } from './early-refresh.ts'
import type { Serializer } from './serializer.ts'
import { payloadReaderOf } from './serializer-msgpack.ts'
import { sameTags } from './tag-lists.ts'

/**
 * What a store holds for one key: the value and the times that decide how it may be served.
 * Each time says its unit: `...Ms` are epoch (or elapsed) milliseconds, `...Us` microseconds;
 * `Infinity` means never.
 */
export interface Entry {
  value: unknown
  /** A cached `null`/`undefined` (negative caching): served as the value, counted as negative_hit. */
  negative: boolean
  /** Until this time the value is fresh. */
  freshUntilMs: number
  /** After `freshUntilMs`, the value may still be served (grace) until this time. */
  staleUntilMs: number
  /** How long the load that produced this value took (XFetch's delta). */
  deltaMs: number
  /**
   * When the load that produced this value began, in µs on the store's clock (Redis TIME; this
   * process's clock for the memory store and `set`); a tag invalidated at or after it voids it.
   */
  createdAtUs: number
  tags: readonly string[]
  /** Fresh only because stale-if-error extended a stale value (counted as stale, not hit). */
  failSafe: boolean
}

/**
 * A copy of `entry` with some fields changed. Entries are copied field by field, never spread:
 * a store may keep its fields behind getters (the memory store's compact entries).
 */
export function entryWith(entry: Entry, changes: Partial<Entry>): Entry {
  return {
    value: entry.value,
    negative: entry.negative,
    freshUntilMs: entry.freshUntilMs,
    staleUntilMs: entry.staleUntilMs,
    deltaMs: entry.deltaMs,
    createdAtUs: entry.createdAtUs,
    tags: entry.tags,
    failSafe: entry.failSafe,
    ...changes,
  }
}

export type EntryState = 'fresh' | 'early' | 'stale' | 'expired'

/** Where an entry stands at `now`; `beta` 0 turns early refresh off. */
export function classify(entry: Entry, now: number, beta: number): EntryState {
  if (now < entry.freshUntilMs) {
    return xfetchDue(now, entry.freshUntilMs, entry.deltaMs, beta) ? 'early' : 'fresh'
  }
  return now < entry.staleUntilMs ? 'stale' : 'expired'
}

const MAGIC = 'C1'
const MAGIC_0 = MAGIC.charCodeAt(0)
const MAGIC_1 = MAGIC.charCodeAt(1)
const NEGATIVE_NULL = 1
const NEGATIVE_UNDEFINED = 2
const FAIL_SAFE = 4
const BINARY = 8
/** What Redis's INCRBY takes as an integer and a JS number holds exactly: no sign on 0, no leading zeros. */
const INTEGER = /^(?:0|-?[1-9]\d{0,14})$/

/**
 * Entries in a byte store: a one-line JSON header (times, tags, flags), a newline, then the
 * serializer's payload. The header never holds the value, so a custom serializer's bytes pass
 * through untouched.
 */
export function encodeEntry(entry: Entry, payload: string | Buffer): Buffer | string {
  const header = entryHeader(entry, typeof payload !== 'string')
  if (header === undefined) return String(entry.value)
  if (entry.negative) return header
  return typeof payload === 'string' ? header + payload : Buffer.concat([Buffer.from(header), payload])
}

/**
 * What `encodeEntry` writes before the payload: `C1`, the JSON header, a newline. Undefined for an
 * integer written by `set` (no load time, no grace, no tags): it is stored bare, so `increment`
 * (INCRBY) can add to it; loaded values keep their header, which XFetch needs. Bare digits are
 * the same whatever the serializer, so counters work with every one.
 */
export function entryHeader(entry: Entry, binary: boolean): string | undefined {
  if (isBareInteger(entry)) return undefined
  let flags = entry.failSafe ? FAIL_SAFE : 0
  if (entry.negative) flags |= entry.value === null ? NEGATIVE_NULL : NEGATIVE_UNDEFINED
  if (binary) flags |= BINARY
  const delta = Math.round(entry.deltaMs)
  const last = lastWritten
  // A batch's entries mostly share every field (one clock reading per chunk, one ttl, one
  // spread of the loader's time): the last header is reused rather than written again.
  if (
    entry.freshUntilMs === last.fresh &&
    entry.staleUntilMs === last.stale &&
    delta === last.delta &&
    entry.createdAtUs === last.created &&
    flags === last.flags &&
    sameTags(entry.tags, last.tags)
  )
    return last.header
  // Written field by field (as JSON.stringify of the array would): a batch writes thousands.
  const tags = entry.tags.length === 0 ? '[]' : JSON.stringify(entry.tags)
  const header = `${MAGIC}[${json(entry.freshUntilMs)},${json(entry.staleUntilMs)},${json(delta)},${json(entry.createdAtUs)},${tags},${flags}]\n`
  lastWritten = {
    fresh: entry.freshUntilMs,
    stale: entry.staleUntilMs,
    delta,
    created: entry.createdAtUs,
    flags,
    // A copy: the caller's tags array may change later.
    tags: entry.tags.length === 0 ? NO_TAGS : Object.freeze(entry.tags.slice()),
    header,
  }
  return header
}

/** The last header `entryHeader` wrote, with the fields it was written from. */
let lastWritten: {
  fresh: number
  stale: number
  delta: number
  created: number
  flags: number
  tags: readonly string[]
  header: string
} = { fresh: Number.NaN, stale: Number.NaN, delta: Number.NaN, created: Number.NaN, flags: -1, tags: [], header: '' }

/**
 * Reads what `encodeEntry` wrote; a plain integer (a counter from `increment`) reads as a value
 * that never goes stale. Anything else (corrupt, foreign, another version) is `undefined`: a miss.
 */
export function decodeEntry(raw: Buffer, serializer: Serializer): Entry | undefined {
  try {
    if (raw.length <= 17 && INTEGER.test(raw.toString('latin1'))) return counterEntry(Number(raw.toString('latin1')))
    if (raw.length < 4 || raw[0] !== MAGIC_0 || raw[1] !== MAGIC_1) return undefined
    const start = knownHeader(raw)
    if (start > 0) return new ReadEntry(payloadAt(raw, start, lastTimes.flags, serializer), lastTimes)
    if (quickHeader(raw)) {
      const times = rememberHeader(raw, cursor + 1)
      return new ReadEntry(payloadAt(raw, cursor + 1, times.flags, serializer), times)
    }
    const newline = raw.indexOf(10)
    if (newline < 0) return undefined
    const header: unknown = JSON.parse(raw.toString('utf8', 2, newline))
    if (!isHeader(header)) return undefined
    const [fresh, stale, delta, createdAtUs, tags, flags] = header
    const negative = (flags & (NEGATIVE_NULL | NEGATIVE_UNDEFINED)) !== 0
    const value = payloadAt(raw, newline + 1, flags, serializer)
    return {
      value,
      negative,
      freshUntilMs: fresh ?? Number.POSITIVE_INFINITY,
      staleUntilMs: stale ?? Number.POSITIVE_INFINITY,
      deltaMs: delta,
      createdAtUs,
      tags,
      failSafe: (flags & FAIL_SAFE) !== 0,
    }
  } catch {
    return undefined
  }
}

/** The value an entry's flags and payload (from `start` to the end of `raw`) stand for. */
function payloadAt(raw: Buffer, start: number, flags: number, serializer: Serializer): unknown {
  if (flags & (NEGATIVE_NULL | NEGATIVE_UNDEFINED)) return flags & NEGATIVE_NULL ? null : undefined
  if (flags & BINARY) {
    // The default serializer reads the payload where it lies in the reply: no view per entry.
    const readAt = payloadReaderOf(serializer)
    return readAt ? readAt(raw, start) : serializer.deserialize(raw.subarray(start))
  }
  // A text payload is decoded straight from the reply: no Buffer view is made for it.
  return serializer.deserialize(raw.toString('utf8', start))
}

/** The tags of every untagged entry read: one frozen array, not one per entry. */
const NO_TAGS: readonly string[] = Object.freeze([])

/** The times, tags and flags of a header read from bytes; `null` times never end. */
class Times {
  constructor(
    readonly fresh: number,
    readonly stale: number,
    readonly delta: number,
    readonly created: number,
    readonly tags: readonly string[],
    readonly flags: number,
  ) {}
}

/**
 * The last header read quickly, its bytes (newline included) and its Times: the entries a batch
 * wrote together sit side by side in a reply with equal headers, so most are matched byte for
 * byte and share one Times, with no number parsed (nor heap number made) for them.
 */
const lastHeader = Buffer.alloc(128)
let lastHeaderLength = 0
let lastTimes = new Times(0, 0, 0, 0, NO_TAGS, 0)

/** Where the payload starts when `raw` begins with the last header read quickly; 0 when it does not. */
function knownHeader(raw: Buffer): number {
  const n = lastHeaderLength
  if (n === 0 || raw.length < n) return 0
  // From the end: neighbours' headers differ, if at all, in the birth time's last digits.
  for (let i = n - 1; i >= 2; i--) if (raw[i] !== lastHeader[i]) return 0
  return n
}

/** `quick` (just read from `raw`'s first `length` bytes) as Times, remembered with those bytes for the next entry. */
function rememberHeader(raw: Buffer, length: number): Times {
  lastTimes = new Times(
    quick.fresh ?? Number.POSITIVE_INFINITY,
    quick.stale ?? Number.POSITIVE_INFINITY,
    quick.delta,
    quick.createdAtUs,
    quick.tags,
    quick.flags,
  )
  lastHeaderLength = length <= lastHeader.length ? raw.copy(lastHeader, 0, 0, length) : 0
  return lastTimes
}

/**
 * An entry as read from bytes: its value and its header's Times (tags included), which neighbours share.
 * A batch read holds thousands until it answers; two slots each, where a plain entry would take
 * eight and three heap numbers, leave the garbage collector that much less to copy. Read through
 * getters, so engine code must not spread an entry (entryWith copies one).
 */
class ReadEntry implements Entry {
  readonly value: unknown
  readonly #times: Times

  constructor(value: unknown, times: Times) {
    this.value = value
    this.#times = times
  }

  get negative(): boolean {
    return (this.#times.flags & (NEGATIVE_NULL | NEGATIVE_UNDEFINED)) !== 0
  }

  get failSafe(): boolean {
    return (this.#times.flags & FAIL_SAFE) !== 0
  }

  get freshUntilMs(): number {
    return this.#times.fresh
  }

  get staleUntilMs(): number {
    return this.#times.stale
  }

  get deltaMs(): number {
    return this.#times.delta
  }

  get createdAtUs(): number {
    return this.#times.created
  }

  get tags(): readonly string[] {
    return this.#times.tags
  }
}

/**
 * Where the birth time sits in what `encodeEntry` writes for `entry` with `createdAtUs: 0`: the
 * 1-based byte position of that one-digit 0, so a store can put its own clock's time there
 * while writing. 0 when the entry is stored as a bare counter (no header, no birth time).
 */
export function birthPosition(entry: Entry): number {
  if (isBareInteger(entry)) return 0
  const head = `${MAGIC}[${json(entry.freshUntilMs)},${json(entry.staleUntilMs)},${json(Math.round(entry.deltaMs))},`
  return head.length + 1
}

/** The entry a bare integer stands for: counters live as plain integers so INCRBY works on them. */
export function counterEntry(value: number): Entry {
  return {
    value,
    negative: false,
    freshUntilMs: Number.POSITIVE_INFINITY,
    staleUntilMs: Number.POSITIVE_INFINITY,
    deltaMs: 0,
    createdAtUs: 0,
    tags: [],
    failSafe: false,
  }
}

function isBareInteger(entry: Entry): boolean {
  return (
    typeof entry.value === 'number' &&
    entry.deltaMs === 0 &&
    !entry.negative &&
    !entry.failSafe &&
    entry.tags.length === 0 &&
    entry.freshUntilMs === entry.staleUntilMs &&
    INTEGER.test(String(entry.value))
  )
}

type Header = [number | null, number | null, number, number, string[], number]

const COMMA = 44
const CLOSE = 93
const NEWLINE = 10
/** Where `wholeNumber` stopped reading: module scratch, so the quick reader allocates nothing. */
let cursor = 0
/** What `quickHeader` read last: module scratch, so a header costs no array. */
const quick = {
  fresh: 0 as number | null,
  stale: 0 as number | null,
  delta: 0,
  createdAtUs: 0,
  tags: NO_TAGS,
  flags: 0,
}

const QUOTE = 34
const BACKSLASH = 92

/**
 * The tags at `cursor` (just past the list's `[`), when each is a JSON string of printable ASCII
 * without escapes: read as latin1 straight from the bytes. Undefined for anything else (an empty
 * list is read by the caller), which JSON.parse then reads.
 */
function quickTags(raw: Buffer): readonly string[] | undefined {
  const first = cursor
  let i = cursor
  for (;;) {
    if (raw[i] !== QUOTE) return undefined
    for (let c = raw[++i]; c !== QUOTE; c = raw[++i]) {
      if (c === undefined || c < 32 || c > 126 || c === BACKSLASH) return undefined
    }
    i++
    if (raw[i] === CLOSE) break
    if (raw[i] !== COMMA) return undefined
    i++
  }
  cursor = i + 1
  // The list read last, again (a run of hits of one tag list): compared byte by byte, no string made.
  if (sameBytes(raw, first, i, lastTagBytes)) return lastTagsRead
  // The same few tag lists come back read after read: one frozen array each, not one per read.
  const text = raw.toString('latin1', first, i)
  let tags = tagLists.get(text)
  if (tags === undefined) {
    tags = Object.freeze(JSON.parse(`[${text}]`) as string[])
    if (tagLists.size >= TAG_LISTS) tagLists.clear()
    tagLists.set(text, tags)
  }
  lastTagBytes = Buffer.from(text, 'latin1')
  lastTagsRead = tags
  return tags
}

/** The bytes of the tag list `quickTags` read last, and its array. */
let lastTagBytes = Buffer.alloc(0)
let lastTagsRead: readonly string[] = NO_TAGS

/** Whether `raw[from..to)` holds exactly `bytes`. */
function sameBytes(raw: Buffer, from: number, to: number, bytes: Buffer): boolean {
  if (to - from !== bytes.length) return false
  for (let j = 0; j < bytes.length; j++) if (raw[from + j] !== bytes[j]) return false
  return true
}

/** Tag lists kept for `quickTags` before the memory starts over. */
const TAG_LISTS = 1_024
const tagLists = new Map<string, readonly string[]>()

/**
 * The common header (whole-number times; no tags, or tags of plain ASCII) read straight from the
 * bytes into `quick`, without making a string and parsing it as JSON: a Redis hit decodes one per
 * read. Anything else (escapes or other characters in a tag, fractions, exponents, signs, leading
 * zeros, more digits than a double holds exactly) is left to JSON.parse (false), so both readers
 * accept exactly the same headers. On success `cursor` is left on the newline that ends the
 * header: the reply is not searched for it a second time.
 */
function quickHeader(raw: Buffer): boolean {
  if (raw[2] !== 91) return false
  cursor = 3
  const fresh = wholeNumber(raw, COMMA, true)
  const stale = fresh === undefined ? undefined : wholeNumber(raw, COMMA, true)
  const delta = stale === undefined ? undefined : wholeNumber(raw, COMMA, false)
  const created = delta === undefined ? undefined : wholeNumber(raw, COMMA, false)
  if (created === undefined || raw[cursor] !== 91) return false
  let tags: readonly string[] | undefined = NO_TAGS
  if (raw[cursor + 1] === CLOSE) cursor += 2
  else {
    cursor += 1
    tags = quickTags(raw)
  }
  if (tags === undefined || raw[cursor] !== COMMA) return false
  cursor += 1
  const flags = wholeNumber(raw, CLOSE, false)
  if (flags === undefined || raw[cursor] !== NEWLINE) return false
  quick.fresh = fresh as number | null
  quick.stale = stale as number | null
  quick.delta = delta as number
  quick.createdAtUs = created as number
  quick.tags = tags
  quick.flags = flags as number
  return true
}

/** A whole number (or `null` where allowed) at `cursor`, followed by `stop`; undefined for anything else. */
function wholeNumber(raw: Buffer, stop: number, nullable: boolean): number | null | undefined {
  const start = cursor
  if (nullable && raw[start] === 110) {
    if (raw[start + 1] !== 117 || raw[start + 2] !== 108 || raw[start + 3] !== 108 || raw[start + 4] !== stop) {
      return undefined
    }
    cursor = start + 5
    return null
  }
  let n = 0
  let i = start
  for (let c = raw[i]; c !== undefined && c >= 48 && c <= 57; c = raw[++i]) n = n * 10 + (c - 48)
  if (i === start || raw[i] !== stop || (raw[start] === 48 && i > start + 1) || n > Number.MAX_SAFE_INTEGER) {
    return undefined
  }
  cursor = i + 1
  return n
}

function isHeader(h: unknown): h is Header {
  return (
    Array.isArray(h) &&
    h.length === 6 &&
    (h[0] === null || typeof h[0] === 'number') &&
    (h[1] === null || typeof h[1] === 'number') &&
    typeof h[2] === 'number' &&
    typeof h[3] === 'number' &&
    Array.isArray(h[4]) &&
    h[4].every((t: unknown) => typeof t === 'string') &&
    typeof h[5] === 'number'
  )
}

/** A number as JSON.stringify writes it: `null` when not finite. */
function json(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}
