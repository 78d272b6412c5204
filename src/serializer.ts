import { SerializationError } from './errors.ts'

/** Turns values into bytes for a shared store and back. `deserialize` gets what `serialize` returned. */
export interface Serializer {
  serialize(value: unknown): string | Buffer
  deserialize(raw: string | Buffer): unknown
}

/**
 * JSON that refuses what it would silently change (functions, symbols, BigInt, cycles) instead of
 * storing something else, and that never hands back a `__proto__` key (prototype pollution through
 * a later merge of a cached object).
 */
export const jsonSerializer: Serializer = {
  serialize(value) {
    try {
      const text = JSON.stringify(value, rejectUnrepresentable)
      if (text === undefined) throw new SerializationError(`JSON cannot represent a value of type ${typeof value}`)
      return text
    } catch (error) {
      if (error instanceof SerializationError) throw error
      throw new SerializationError(`value cannot be serialized as JSON: ${(error as Error).message}`, {
        cause: error,
      })
    }
  },
  deserialize(raw) {
    // JSON payloads are always text; bytes are another serializer's (msgpack, the default):
    // refused, so the entry reads as a miss instead of as a wrong value.
    if (typeof raw !== 'string') throw new SerializationError('a JSON payload must be text, got bytes')
    const text = raw
    // The reviver is several times slower than plain parse, so it runs only when a `__proto__` key
    // could be there: spelled out, or hidden behind a \u escape (JSON.stringify writes few of those).
    return text.includes('__proto__') || text.includes('\\u') ? JSON.parse(text, dropProto) : JSON.parse(text)
  },
}

function rejectUnrepresentable(this: unknown, key: string, value: unknown): unknown {
  const type = typeof value
  if (type === 'bigint' || type === 'function' || type === 'symbol') {
    throw new SerializationError(`JSON cannot represent a ${type}${key ? ` (at property ${JSON.stringify(key)})` : ''}`)
  }
  return value
}

function dropProto(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value
}

/** Runs the serializer and wraps anything it throws as a SerializationError. */
export function serializeOrThrow(serializer: Serializer, value: unknown): string | Buffer {
  try {
    const raw = serializer.serialize(value)
    if (typeof raw !== 'string' && !Buffer.isBuffer(raw)) {
      throw new SerializationError('serializer.serialize must return a string or a Buffer')
    }
    return raw
  } catch (error) {
    if (error instanceof SerializationError) throw error
    throw new SerializationError(`value cannot be serialized: ${(error as Error).message}`, { cause: error })
  }
}

/**
 * The value as every later hit will read it: the serializer's own round trip of `payload`. The
 * caller whose loader produced a value gets this too, so the first caller and every later hit see
 * the same thing (same types, and an object the cache does not share with the loader).
 */
export function roundTrip(serializer: Serializer, payload: string | Buffer): unknown {
  try {
    return serializer.deserialize(payload)
  } catch (error) {
    if (error instanceof SerializationError) throw error
    throw new SerializationError(`the serializer cannot read back what it wrote: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
