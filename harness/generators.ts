import fc from 'fast-check'

/* fast-check generators the property tests share. */

/** A string of arbitrary UTF-16 code units: lone surrogates included, which `unit: 'binary'` never makes. */
export const codeUnits = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: max })

/** Characters that mean something to Redis, Lua patterns, globs, hash tags or our own key layout. */
export const hostileUnit = fc.constantFrom(
  '{',
  '}',
  '*',
  '?',
  '[',
  ']',
  '\n',
  '\r',
  '\0',
  ':',
  ' ',
  '%',
  '\\',
  'a',
  'é',
  '😀',
)

/** Cache keys: arbitrary, hostile to Redis and our layout, and around the 1,024-byte limit. */
export const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: hostileUnit, maxLength: 40 }),
  codeUnits(40),
  // Around the 1,024-byte limit, in 1-, 2-, 3- and 4-byte characters.
  fc.string({ unit: 'binary', minLength: 250, maxLength: 1_100 }),
  fc.integer({ min: 1_000, max: 1_050 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 300, max: 400 }).map((n) => '€'.repeat(n)),
  fc.integer({ min: 250, max: 260 }).map((n) => '😀'.repeat(n)),
)

/** JSON values plus what JSON changes silently: -0, NaN, Infinity, undefined in arrays and objects, Dates. */
export const { value: jsonish } = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>(
  (tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.oneof(
        fc.constant(null),
        fc.boolean(),
        fc.double(),
        fc.constant(-0),
        fc.integer(),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.date(),
      ),
      tie('array'),
      tie('object'),
    ),
    array: fc.array(fc.oneof(tie('value'), fc.constant(undefined)), { maxLength: 5 }),
    object: fc.dictionary(
      fc.string({ maxLength: 8 }).filter((k) => k !== 'toJSON'),
      fc.oneof(tie('value'), fc.constant(undefined)),
      { maxKeys: 5 },
    ),
  }),
)

/**
 * Any value a user might cache, with the kinds a serializer may change or refuse: Dates, Maps,
 * Sets, BigInts, null-prototype objects, sparse arrays, boxed values, typed arrays, any UTF-16.
 */
export const anyValue = fc.anything({
  withDate: true,
  withMap: true,
  withSet: true,
  withBigInt: true,
  withNullPrototype: true,
  withSparseArray: true,
  withBoxedValues: true,
  withTypedArray: true,
  withUnicodeString: true,
})
