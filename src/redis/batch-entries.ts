import { type Entry, encodeEntry } from '../entry.ts'

/**
 * A batch's encoded entries written into one buffer for one script argument, instead of one
 * buffer (and three copies) per entry. The bytes are exactly `encodeEntry`'s (tests hold them to
 * it); reads go through entry.ts's `decodeEntry`, whose common header is read from the bytes.
 */

const NEGATIVE_NULL = 1
const NEGATIVE_UNDEFINED = 2
const FAIL_SAFE = 4
const BINARY = 8

/** A finite number as JSON.stringify writes it, else `null`. */
function json(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}

/**
 * `encodeEntry`'s header for an entry it would not store bare (a number may be a bare counter:
 * those go through `encodeEntry` itself), or undefined.
 */
function header(entry: Entry, binary: boolean): string | undefined {
  if (typeof entry.value === 'number') return undefined
  let flags = entry.failSafe ? FAIL_SAFE : 0
  if (entry.negative) flags |= entry.value === null ? NEGATIVE_NULL : NEGATIVE_UNDEFINED
  if (binary) flags |= BINARY
  const tags = entry.tags.length === 0 ? '[]' : JSON.stringify(entry.tags)
  return `C1[${json(entry.freshUntilMs)},${json(entry.staleUntilMs)},${json(Math.round(entry.deltaMs))},${json(entry.createdAtUs)},${tags},${flags}]\n`
}

/** What a batch write sends: every entry's bytes back to back, and each one's length. */
export interface PackedEntries {
  bytes: Buffer
  lengths: number[]
}

/** The encoded entries of a batch of writes in one buffer: `encodeEntry(entry, payload)` of each, back to back. */
export function packEntries(writes: readonly { entry: Entry; payload: string | Buffer }[]): PackedEntries {
  // Per write: its header (then its payload follows), or its whole encoding where the fast header does not apply.
  const parts = new Array<string | Buffer>(writes.length)
  const whole = new Array<boolean>(writes.length)
  const lengths = new Array<number>(writes.length)
  let total = 0
  for (let i = 0; i < writes.length; i++) {
    const { entry, payload } = writes[i] as { entry: Entry; payload: string | Buffer }
    const binary = typeof payload !== 'string'
    const head = header(entry, binary)
    let length: number
    if (head === undefined) {
      const encoded = encodeEntry(entry, payload)
      parts[i] = encoded
      whole[i] = true
      length = typeof encoded === 'string' ? Buffer.byteLength(encoded) : encoded.length
    } else {
      parts[i] = head
      whole[i] = false
      // Without tags a header is ASCII; a negative entry has no payload.
      length = entry.tags.length === 0 ? head.length : Buffer.byteLength(head)
      if (!entry.negative) length += binary ? payload.length : Buffer.byteLength(payload)
    }
    lengths[i] = length
    total += length
  }
  const bytes = Buffer.allocUnsafe(total)
  let offset = 0
  for (let i = 0; i < writes.length; i++) {
    const part = parts[i] as string | Buffer
    if (typeof part !== 'string') part.copy(bytes, offset)
    else if (whole[i]) bytes.write(part, offset, 'utf8')
    else {
      const { entry, payload } = writes[i] as { entry: Entry; payload: string | Buffer }
      const at = offset + bytes.write(part, offset, entry.tags.length === 0 ? 'latin1' : 'utf8')
      if (!entry.negative) {
        if (typeof payload === 'string') bytes.write(payload, at, 'utf8')
        else payload.copy(bytes, at)
      }
    }
    offset += lengths[i] as number
  }
  return { bytes, lengths }
}
