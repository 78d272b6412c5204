import { BatchResultError } from '../errors.ts'

/** How many unexpected keys an error names before it says "and N more". */
const NAMED = 5

/**
 * Reads a batch loader's answer: a Map or a plain record of key to value, holding only keys it was
 * asked for; a key it left out is undefined (cached as negative). Anything else is refused with a
 * BatchResultError before a single entry is written: an array would map positions onto keys
 * ('1' would get the value at index 1), and a key nobody asked for means the answer is for
 * something else. `asked` holds each key once.
 */
export function readBatchAnswer(answer: unknown, asked: readonly string[]): (key: string) => unknown {
  if (Array.isArray(answer)) {
    throw new BatchResultError('it is an array; return a Map or a record of key to value')
  }
  let size: number
  let has: (key: string) => boolean
  let keys: () => Iterable<unknown>
  let lookup: (key: string) => unknown
  if (answer instanceof Map) {
    const map: Map<unknown, unknown> = answer
    size = map.size
    has = (key) => map.has(key)
    keys = () => map.keys()
    lookup = (key) => map.get(key)
  } else if (typeof answer === 'object' && answer !== null) {
    const record = answer as Record<string, unknown>
    const own = Object.keys(record)
    size = own.length
    has = (key) => Object.hasOwn(record, key)
    keys = () => own
    lookup = (key) => (Object.hasOwn(record, key) ? record[key] : undefined)
  } else {
    throw new BatchResultError(
      `it is ${answer === null ? 'null' : typeof answer}; return a Map or a record of key to value`,
    )
  }
  // The keys asked for are distinct: when as many of them are in the answer as it holds, it holds
  // nothing else. Only an answer with strangers pays for a set of the keys asked, to name them.
  let present = 0
  if (size <= asked.length) for (let i = 0; i < asked.length; i++) if (has(asked[i] as string)) present++
  if (present === size) return lookup
  const wanted = new Set(asked)
  const unexpected: string[] = []
  for (const k of keys()) {
    if (typeof k === 'string' && wanted.has(k)) continue
    unexpected.push(typeof k === 'string' ? k : `${String(k)} (${typeof k})`)
  }
  const named = unexpected.slice(0, NAMED).map((k) => JSON.stringify(k))
  const more = unexpected.length > NAMED ? ` and ${unexpected.length - NAMED} more` : ''
  throw new BatchResultError(`it holds keys that were not asked for: ${named.join(', ')}${more}`, unexpected)
}
