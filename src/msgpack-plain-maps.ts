/**
 * The most objects a value may hold and still be written as plain MessagePack maps. Beyond it
 * msgpackr's records read faster (a record names its keys once per message and every later
 * object of that shape is read by one compiled function), below it plain maps read about twice
 * as fast (no record is defined and compiled for a single use): `npm run bench:serializers`.
 */
const MOST_OBJECTS = 16

let objectsLeft = 0

/**
 * Whether `value` reads back the same when its objects are written as plain MessagePack maps
 * instead of msgpackr records: no Map anywhere (a Map is a MessagePack map too, so a reader of
 * plain maps could not tell the two apart), at most MOST_OBJECTS objects, and only objects
 * msgpackr writes by its generic rules (plain objects whose `constructor` is Object, arrays, Sets,
 * Dates, typed arrays and Buffers). Anything else answers false: the caller keeps records, which
 * are always right.
 */
export function fitsPlainMaps(value: unknown): boolean {
  objectsLeft = MOST_OBJECTS
  return fits(value)
}

function fits(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true
  if (--objectsLeft < 0) return false
  // msgpackr picks its encoding by `value.constructor`, so the same test is made here.
  const kind = value.constructor
  if (kind === Object) {
    const object = value as Record<string, unknown>
    for (const key in object) if (!fits(object[key])) return false
    return true
  }
  if (kind === Array) {
    for (const item of value as unknown[]) if (!fits(item)) return false
    return true
  }
  if (kind === Set) {
    for (const item of value as Set<unknown>) if (!fits(item)) return false
    return true
  }
  return kind === Date || (ArrayBuffer.isView(value) && !(value instanceof DataView))
}
