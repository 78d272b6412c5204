import { type Entry, encodeEntry, entryHeader } from '../entry.ts'

/**
 * A batch's encoded entries written into one buffer for one script argument, instead of one
 * buffer (and three copies) per entry. The bytes are exactly `encodeEntry`'s (tests hold them to
 * it); reads go through entry.ts's `decodeEntry`, whose common header is read from the bytes.
 */

/** What a batch write sends: every entry's bytes back to back, and each one's length. */
export interface PackedEntries {
  bytes: Buffer
  lengths: number[]
}

/** The encoded entries of a batch of writes in one buffer: `encodeEntry(entry, payload)` of each, back to back. */
export function packEntries(writes: readonly { entry: Entry; payload: string | Buffer }[]): PackedEntries {
  // Per write: its header (then its payload follows), or its whole encoding (a bare counter).
  const parts = new Array<string | Buffer>(writes.length)
  const whole = new Array<boolean>(writes.length)
  const lengths = new Array<number>(writes.length)
  let total = 0
  for (let i = 0; i < writes.length; i++) {
    const { entry, payload } = writes[i] as { entry: Entry; payload: string | Buffer }
    const binary = typeof payload !== 'string'
    const head = entryHeader(entry, binary)
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
