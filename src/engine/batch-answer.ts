import { BatchResultError } from '../errors.ts'

/** How many unexpected keys an error names before it says "and N more". */
const NAMED = 5

/**
 * Reads a batch loader's answer: a Map or a plain record of key to value, holding only keys it was
 * asked for; a key it left out is undefined (cached as negative). Anything else is refused with a
 * BatchResultError before a single entry is written: an array would map positions onto keys
 * ('1' would get the value at index 1), and a key nobody asked for means the answer is for
 * something else.
 */
export function readBatchAnswer(answer: unknown, asked: readonly string[]): (key: string) => unknown {
  if (Array.isArray(answer)) {
    throw new BatchResultError('it is an array; return a Map or a record of key to value')
  }
  let keys: Iterable<unknown>
  let lookup: (key: string) => unknown
  if (answer instanceof Map) {
    const map: Map<unknown, unknown> = answer
    keys = map.keys()
    lookup = (key) => map.get(key)
  } else if (typeof answer === 'object' && answer !== null) {
    const record = answer as Record<string, unknown>
    keys = Object.keys(record)
    lookup = (key) => (Object.hasOwn(record, key) ? record[key] : undefined)
  } else {
    throw new BatchResultError(
      `it is ${answer === null ? 'null' : typeof answer}; return a Map or a record of key to value`,
    )
  }
  const wanted = new Set(asked)
  const unexpected: string[] = []
  for (const k of keys) {
    if (typeof k === 'string' && wanted.has(k)) continue
    unexpected.push(typeof k === 'string' ? k : `${String(k)} (${typeof k})`)
  }
  if (unexpected.length > 0) {
    const named = unexpected.slice(0, NAMED).map((k) => JSON.stringify(k))
    const more = unexpected.length > NAMED ? ` and ${unexpected.length - NAMED} more` : ''
    throw new BatchResultError(`it holds keys that were not asked for: ${named.join(', ')}${more}`, unexpected)
  }
  return lookup
}
