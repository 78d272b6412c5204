import { jsonSerializer, roundTrip, type Serializer, serializeOrThrow } from '../serializer.ts'
import { isMsgpackSerializer } from '../serializer-msgpack.ts'

/** What `copyPlain` returns for a value it will not copy: the caller then uses the serializer. */
export const NOT_PLAIN: unique symbol = Symbol('not plain')

/** Which serializer's round trip a plain copy must equal. */
export type PlainRules = 'json' | 'msgpack'

/** Nesting deeper than this is left to the serializer (which also reports cycles). */
const MAX_DEPTH = 32

/**
 * A deep copy of `value` when it is plain data whose round trip through the serializer `rules`
 * names would give an equal structure: plain objects (prototype Object.prototype or null) and
 * arrays, strings, booleans, null and numbers. Anything either serializer would change or refuse
 * gives NOT_PLAIN: undefined, -0, class instances, Dates, Maps, holes, functions, symbol keys,
 * `__proto__` keys, deep nesting; for JSON also NaN and Infinity; for MessagePack also strings
 * that are not well-formed UTF-16 (they are written as UTF-8), `constructor` keys (msgpackr picks
 * its encoding by `value.constructor`) and an object reached twice (structured cloning keeps the
 * sharing, a copy would not). Strings are immutable, so they are shared, not copied. For the
 * values it copies, this is what the serializer's `deserialize(serialize(value))` returns, at a
 * fraction of its cost.
 */
export function copyPlain(value: unknown, rules: PlainRules = 'json'): unknown {
  return copy(value, 0, rules === 'msgpack', undefined)
}

/**
 * `seen` (MessagePack only): the objects met so far, made before the first nested object is
 * entered, so every frame below the root shares it; a flat object never makes one.
 */
function copy(value: unknown, depth: number, msgpack: boolean, seen: Set<object> | undefined): unknown {
  switch (typeof value) {
    case 'string':
      return msgpack && !value.isWellFormed() ? NOT_PLAIN : value
    case 'boolean':
      return value
    case 'number':
      if (Object.is(value, -0)) return NOT_PLAIN
      return msgpack || Number.isFinite(value) ? value : NOT_PLAIN
    case 'object': {
      if (value === null) return null
      if (depth >= MAX_DEPTH) return NOT_PLAIN
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return NOT_PLAIN
        const out = new Array(value.length)
        for (let i = 0; i < value.length; i++) {
          const item = value[i]
          if (msgpack && typeof item === 'object' && item !== null) {
            seen ??= new Set([value])
            if (seen.has(item)) return NOT_PLAIN
            seen.add(item)
          }
          const copied = copy(item, depth + 1, msgpack, seen)
          if (copied === NOT_PLAIN || copied === undefined) return NOT_PLAIN
          out[i] = copied
        }
        return out
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN
      // JSON leaves symbol keys out, and spread would copy them.
      if (Object.getOwnPropertySymbols(value).length > 0) return NOT_PLAIN
      // Spread makes an object of the source's size at once; one filled key by key grows twice.
      const out: Record<string, unknown> = { ...value }
      for (const key of Object.keys(out)) {
        if (key === '__proto__') return NOT_PLAIN
        if (msgpack && (key === 'constructor' || !key.isWellFormed())) return NOT_PLAIN
        const item = out[key]
        if (typeof item === 'boolean' || item === null) continue
        if (typeof item === 'string') {
          if (msgpack && !item.isWellFormed()) return NOT_PLAIN
          continue
        }
        if (msgpack && typeof item === 'object') {
          seen ??= new Set([value])
          if (seen.has(item)) return NOT_PLAIN
          seen.add(item)
        }
        const copied = copy(item, depth + 1, msgpack, seen)
        if (copied === NOT_PLAIN || copied === undefined) return NOT_PLAIN
        if (copied !== item) out[key] = copied
      }
      return out
    }
    default:
      return NOT_PLAIN
  }
}

/** The serializers whose round trip of plain data `copyPlain` reproduces; others always run. */
function plainRules(serializer: Serializer): PlainRules | undefined {
  if (serializer === jsonSerializer) return 'json'
  return isMsgpackSerializer(serializer) ? 'msgpack' : undefined
}

/** A written value as the cache keeps it, and its bytes when a store wants them. */
export interface OwnCopy {
  /** Never the writer's own object (unless `value` was not asked for), equal to the serializer's round trip. */
  value: unknown
  /** The serializer's output; '' when it was not asked for and the value was copied directly. */
  payload: string | Buffer
}

/**
 * The cache's own copy of a value a writer handed it (a loader's result, `set`): never the
 * writer's object (a writer that changes it afterwards must not change the cache), and equal to
 * the serializer's round trip, so every reader sees what a Redis store would return. Plain data
 * is copied directly when the serializer is the JSON or the MessagePack one (plain data always
 * serializes, so nothing that copies could have been refused); anything else goes through the
 * round trip. A value the serializer refuses throws its SerializationError whatever is asked for.
 * `wantValue`: whether anyone will read the copy (else the writer's value is handed on, for its
 * bytes only); `wantBytes`: whether a store needs the serializer's output.
 */
export function ownCopy(serializer: Serializer, value: unknown, wantValue: boolean, wantBytes: boolean): OwnCopy {
  const rules = plainRules(serializer)
  if (rules !== undefined && wantValue) {
    const copied = copyPlain(value, rules)
    if (copied !== NOT_PLAIN) {
      return { value: copied, payload: wantBytes ? serializeOrThrow(serializer, copied) : '' }
    }
  }
  const payload = serializeOrThrow(serializer, value)
  return { value: wantValue ? roundTrip(serializer, payload) : value, payload }
}
