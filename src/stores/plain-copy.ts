import { jsonSerializer, type Serializer } from '../serializer.ts'

/** What `copyPlain` returns for a value it will not copy: the caller then uses the serializer. */
export const NOT_PLAIN: unique symbol = Symbol('not plain')

/** Nesting deeper than this is left to the serializer (which also reports cycles). */
const MAX_DEPTH = 32

/**
 * A deep copy of `value` when it is plain JSON data whose JSON round trip would give an equal
 * structure: plain objects (prototype Object.prototype or null) and arrays, strings, booleans,
 * null, finite numbers other than -0. Anything JSON would change or refuse (undefined, -0, NaN,
 * class instances, Dates, Maps, holes, functions, `__proto__` keys, deep nesting) gives
 * NOT_PLAIN. Strings are immutable, so they are shared, not copied. For the values it copies,
 * this is what `jsonSerializer.deserialize(jsonSerializer.serialize(value))` returns, at a
 * fraction of its cost.
 */
export function copyPlain(value: unknown, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? value : NOT_PLAIN
    case 'object': {
      if (value === null) return null
      if (depth >= MAX_DEPTH) return NOT_PLAIN
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return NOT_PLAIN
        const copy = new Array(value.length)
        for (let i = 0; i < value.length; i++) {
          const item = copyPlain(value[i], depth + 1)
          if (item === NOT_PLAIN || item === undefined) return NOT_PLAIN
          copy[i] = item
        }
        return copy
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN
      // JSON leaves symbol keys out, and spread would copy them.
      if (Object.getOwnPropertySymbols(value).length > 0) return NOT_PLAIN
      // Spread makes an object of the source's size at once; one filled key by key grows twice.
      const copy: Record<string, unknown> = { ...value }
      for (const key of Object.keys(copy)) {
        if (key === '__proto__') return NOT_PLAIN
        const item = copy[key]
        if (typeof item === 'string' || typeof item === 'boolean' || item === null) continue
        const copied = copyPlain(item, depth + 1)
        if (copied === NOT_PLAIN || copied === undefined) return NOT_PLAIN
        if (copied !== item) copy[key] = copied
      }
      return copy
    }
    default:
      return NOT_PLAIN
  }
}

/**
 * The value an in-process store keeps for what a writer handed it: never the writer's own object
 * (a writer that changes it afterwards must not change the cache), and equal to the serializer's
 * round trip, so reads see what a Redis store would return. With the JSON serializer, plain data
 * is copied directly; anything else, and any other serializer, goes through the round trip.
 */
export function heldValue(serializer: Serializer, value: unknown, payload: string | Buffer): unknown {
  if (serializer === jsonSerializer) {
    const copy = copyPlain(value)
    if (copy !== NOT_PLAIN) return copy
  }
  return serializer.deserialize(payload)
}
