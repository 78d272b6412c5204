import { msgpackSerializer } from '../serializer-msgpack.ts'

/**
 * Rows as the cache holds them: MessagePack in base64, whatever the cache's serializer, so a hit
 * hands back what mysql2 gave on the miss (Date for DATETIME/TIMESTAMP, Buffer for BLOB, BigInt,
 * numbers and strings as they were) and every caller gets its own copy to change.
 */
export interface StoredRows {
  rows: string
}

const codec = msgpackSerializer()

/** Rows (or any mysql2 result) in their stored form: a JSON-safe string. */
export function encodeRows(rows: unknown): StoredRows {
  return { rows: (codec.serialize(rows) as Buffer).toString('base64') }
}

/** The rows again, as mysql2 gave them; an entry of another shape (an older writer) is returned as it is. */
export function decodeRows<R>(stored: unknown): R {
  if (typeof stored !== 'object' || stored === null || typeof (stored as StoredRows).rows !== 'string')
    return stored as R
  return codec.deserialize(Buffer.from((stored as StoredRows).rows, 'base64')) as R
}
