import fc from 'fast-check'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostileUnit, jsonish, keyArb } from '../harness/generators.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import {
  type Cache,
  CorralConfigError,
  CorralError,
  createCache,
  InvalidKeyError,
  memoryStore,
  redisStore,
  SerializationError,
  type StoreFactory,
} from '../src/index.ts'

/**
 * Bad input at scale: fast-check over keys, values, options, serializers and
 * raw store contents. Every outcome is a typed error or a miss, never a crash, an unhandled
 * rejection, or a neighbour entry that changed.
 */

const RUNS = 150
const MAX_KEY_BYTES = 1_024

let server: RedisServer
let raw: Redis
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => void unhandled.push(reason)

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled)
  server = await startRedis()
  raw = new Redis(server.url, { protocol: 2 })
})

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled)
  raw?.disconnect()
  await server?.stop()
})

/** Lets rejections nobody handled surface (they are reported after a macrotask), then asserts there were none. */
async function expectNoUnhandled(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 10))
  expect(unhandled.map(String)).toEqual([])
}

const STORES = ['memory', 'redis'] as const
type StoreName = (typeof STORES)[number]

function storeOf(name: StoreName): StoreFactory {
  return name === 'memory' ? memoryStore({ maxEntries: 100_000 }) : redisStore({ url: server.url })
}

let nsCounter = 0
const ns = (label: string) => `prop-${label}-${++nsCounter}`

const tooLong = (key: string) => Buffer.byteLength(key) > MAX_KEY_BYTES

/** Keys near `key` in every sense our layout cares about: prefixes, suffixes, fence/lock/tag-like tails. */
function neighboursOf(key: string): string[] {
  const candidates = [
    'neighbour',
    `${key}x`,
    key.slice(0, -1),
    `${key}}`,
    `{${key}`,
    `${key}:f`,
    `${key}}:f`,
    `${key}:l`,
    `${key}:tag`,
  ]
  return [...new Set(candidates)].filter((k) => k !== key && k.length > 0 && k.isWellFormed() && !tooLong(k))
}

describe.each(STORES)('properties on the %s store', (storeName) => {
  let cache: Cache
  beforeAll(() => {
    cache = createCache({
      store: storeOf(storeName),
      namespace: ns(`keys-${storeName}`),
      ttl: '1h',
      serializer: 'json',
      logger: false,
    })
  })
  afterAll(async () => {
    await cache.close()
  })

  it('any string key: InvalidKeyError (empty, > 1,024 UTF-8 bytes) or an exact round trip that leaves neighbours alone', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(keyArb, async (key) => {
        run += 1
        const must = key.length === 0 || tooLong(key)
        if (must) {
          await expect(cache.set(key, 1)).rejects.toBeInstanceOf(InvalidKeyError)
          await expect(cache.get(key)).rejects.toBeInstanceOf(InvalidKeyError)
          await expect(cache.wrap(key, () => 1)).rejects.toBeInstanceOf(InvalidKeyError)
          await expect(cache.delete(key)).rejects.toBeInstanceOf(InvalidKeyError)
          await expect(cache.increment(key)).rejects.toBeInstanceOf(InvalidKeyError)
          return
        }
        const neighbours = neighboursOf(key)
        await Promise.all(neighbours.map((n, i) => cache.set(n, { run, i })))
        let written = true
        try {
          await cache.set(key, { key, run })
        } catch (error) {
          // A key with lone surrogates may be refused; nothing else may be.
          if (key.isWellFormed() || !(error instanceof InvalidKeyError)) throw error
          written = false
        }
        if (written) {
          expect(await cache.get(key)).toStrictEqual({ key, run })
          await cache.delete(key)
          expect(await cache.get(key)).toBeUndefined()
          expect(await cache.wrap(key, () => ({ loaded: run }))).toStrictEqual({ loaded: run })
          expect(await cache.get(key)).toStrictEqual({ loaded: run })
        }
        const after = await Promise.all(neighbours.map((n) => cache.get(n)))
        expect(after).toStrictEqual(neighbours.map((_, i) => ({ run, i })))
      }),
      { numRuns: RUNS },
    )
    await expectNoUnhandled()
  })

  it('two distinct keys are two distinct entries, whatever code units they hold', async () => {
    // A small alphabet of lone surrogates, U+FFFD and brace/colon makes look-alike keys likely.
    const unit = fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uFFFD', '😀', 'a', '{', '}', ':')
    const key = fc.string({ unit, minLength: 1, maxLength: 4 })
    let run = 0
    await fc.assert(
      fc.asyncProperty(key, key, async (a, b) => {
        fc.pre(a !== b)
        run += 1
        const stored: string[] = []
        for (const k of [a, b]) {
          try {
            await cache.set(k, `${run}:${k === a ? 'a' : 'b'}`)
            stored.push(k)
          } catch (error) {
            if (k.isWellFormed() || !(error instanceof InvalidKeyError)) throw error
          }
        }
        if (stored.includes(a)) expect(await cache.get(a)).toBe(`${run}:a`)
        if (stored.includes(b)) expect(await cache.get(b)).toBe(`${run}:b`)
      }),
      { numRuns: RUNS },
    )
  })

  it('non-string keys are InvalidKeyError everywhere, before anything is written', async () => {
    const notAString = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.bigInt(),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.object({ maxDepth: 1 }),
      fc.constant(Symbol('k')),
      fc.constant(() => 'k'),
      fc.constant(new String('boxed')),
    )
    await fc.assert(
      fc.asyncProperty(notAString, async (key) => {
        const k = key as unknown as string
        await expect(cache.set(k, 1)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(cache.get(k)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(cache.wrap(k, () => 1)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(cache.delete(k)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(cache.increment(k)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(cache.invalidateTags([k])).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(cache.set('tagged', 1, { tags: [k] })).rejects.toBeInstanceOf(InvalidKeyError)
      }),
      { numRuns: 60 },
    )
    await expectNoUnhandled()
  })

  it("any JSON-ish value round-trips under 'json' exactly as JSON.parse(JSON.stringify(v)) would have it", async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(jsonish, async (value) => {
        run += 1
        const key = `v${run}`
        const expected = jsonRoundTrip(value)
        await cache.set(key, value)
        expect(await cache.get(key)).toStrictEqual(expected)
        // wrap hands the loader's caller what later hits get: the JSON form.
        const loaded = `w${run}`
        expect(await cache.wrap(loaded, () => value)).toStrictEqual(expected)
        expect(await cache.get(loaded)).toStrictEqual(expected)
      }),
      { numRuns: RUNS },
    )
  })

  it('a value JSON cannot hold (BigInt, function, symbol, cycle) is a SerializationError and the previous value stays', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(poisoned, async (value) => {
        run += 1
        const key = `p${run}`
        await cache.set(key, { previous: run })
        await expect(cache.set(key, value)).rejects.toBeInstanceOf(SerializationError)
        expect(await cache.get(key)).toStrictEqual({ previous: run })
        // Through a loader: the caller gets the SerializationError and nothing is stored.
        await expect(cache.wrap(`fresh${run}`, () => value)).rejects.toBeInstanceOf(SerializationError)
        expect(await cache.get(`fresh${run}`)).toBeUndefined()
      }),
      { numRuns: RUNS },
    )
    await expectNoUnhandled()
  })

  it("'msgpack' round-trips JSON values plus BigInt and Date", async () => {
    const mp = createCache({ store: storeOf(storeName), namespace: ns('mp'), serializer: 'msgpack', logger: false })
    const extra = fc.oneof(fc.jsonValue(), fc.bigInt(), fc.date({ noInvalidDate: true }))
    const value = fc.oneof(extra, fc.array(extra, { maxLength: 5 }), fc.dictionary(fc.string(), extra, { maxKeys: 5 }))
    let run = 0
    try {
      await fc.assert(
        fc.asyncProperty(value, async (v) => {
          run += 1
          await mp.set(`m${run}`, v)
          const back = await mp.get(`m${run}`)
          if (v === null) expect(back).toBeNull()
          else expect(back).toStrictEqual(withoutProto(v))
        }),
        { numRuns: 100 },
      )
    } finally {
      await mp.close()
    }
  })
})

function dropProto(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value
}

/** JSON's own view of a value, with `__proto__` keys dropped as the JSON serializer promises. */
function jsonRoundTrip(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), dropProto)
}

/**
 * What msgpack hands back: a `__proto__` key renamed, an ordinary prototype for an object that had
 * none (fast-check makes null-prototype objects), and -0 as 0 (msgpackr writes it as integer 0).
 */
function withoutProto(value: unknown): unknown {
  if (Object.is(value, -0)) return 0
  if (Array.isArray(value)) return value.map(withoutProto)
  const proto = value && typeof value === 'object' ? Object.getPrototypeOf(value) : undefined
  if (proto === Object.prototype || proto === null) {
    return Object.fromEntries(
      Object.entries(value as object).map(([k, v]) => [k === '__proto__' ? '__proto_' : k, withoutProto(v)]),
    )
  }
  return value
}

/** A JSON value with one thing JSON refuses buried somewhere in it (or at the top). */
const poisoned = fc
  .tuple(
    fc.constantFrom('bigint', 'function', 'symbol', 'cycle'),
    fc.bigInt(),
    fc.jsonValue({ maxDepth: 2 }),
    fc.array(fc.option(fc.string({ maxLength: 6 }).filter((k) => k !== 'toJSON' && k !== 'other')), { maxLength: 4 }),
  )
  .map(([kind, big, sibling, path]) => {
    let inner: unknown
    if (kind === 'bigint') inner = big
    else if (kind === 'function') inner = () => sibling
    else if (kind === 'symbol') inner = Symbol('s')
    else {
      const loop: Record<string, unknown> = { sibling }
      loop.self = loop
      inner = loop
    }
    for (const step of path) inner = step === null ? [sibling, inner] : { other: sibling, [step]: inner }
    return inner
  })

describe('options', () => {
  /** Every option path a CorralConfigError may name (besides an unknown option's own name). */
  const REAL = new Set([
    'options',
    'name',
    'namespace',
    'store',
    'store.maxEntries',
    'store.maxBytes',
    'store.timeout',
    'store.breaker',
    'store.breaker.failures',
    'store.breaker.cooldown',
    'l1',
    'l1.maxEntries',
    'l1.maxBytes',
    'lock',
    'lock.clients',
    'lock.ttl',
    'lock.wait',
    'originConcurrency',
    'metrics',
    'serializer',
    'logger',
    'ttl',
    'grace',
    'negativeTtl',
    'jitter',
    'earlyRefresh',
    'earlyRefresh.beta',
    'timeout',
    'timeout.soft',
    'timeout.hard',
    'failSafeThrottle',
    'invalidateAsStale',
  ])
  const KNOWN_TOP = [...REAL].filter((o) => !o.includes('.') && o !== 'options')

  const weird = fc.oneof(
    fc.constantFrom(null, undefined, true, 0, -1, Number.NaN, '', 'yes', [], {}, 10n),
    fc.string({ maxLength: 6 }),
    fc.double(),
    fc.object({ maxDepth: 1 }),
  )
  /** Mostly plausible, sometimes not: a record of a dozen options still makes caches often. */
  const mostly = <T>(plausible: fc.Arbitrary<T>, implausible: fc.Arbitrary<unknown> = weird) =>
    fc.oneof({ arbitrary: plausible, weight: 8 }, { arbitrary: implausible, weight: 1 })
  const duration = mostly(
    fc.oneof(
      fc.nat({ max: 100_000 }),
      fc.constantFrom('250ms', '5s', ' 2 m ', '1.5h', '1d', '5 minutes', '1 week', 0, Number.POSITIVE_INFINITY),
    ),
    fc.oneof(fc.constantFrom(-1, Number.NaN, '-5s', '', '1h30m', 'Infinity', null, true, {}, [], 10n), fc.double()),
  )
  const silent = { warn() {}, error() {} }
  const serializerLike = {
    serialize: (v: unknown) => JSON.stringify(v),
    deserialize: (s: string | Buffer) => JSON.parse(String(s)),
  }

  const storeChoice = mostly(
    fc.constantFrom('memory', 'memory-small', 'redis'),
    fc.constantFrom('memory-bad', 'redis-bad-timeout', 'redis-both', 'not-a-factory'),
  )
  function makeStore(choice: string): unknown {
    switch (choice) {
      case 'memory':
        return memoryStore()
      case 'memory-small':
        return memoryStore({ maxEntries: 3, maxBytes: 1_000 })
      case 'memory-bad':
        return memoryStore({ maxEntries: 0 })
      case 'redis':
        return redisStore({ url: server.url })
      case 'redis-bad-timeout':
        return redisStore({ url: server.url, timeout: -5 })
      case 'redis-both':
        return redisStore({ url: server.url, client: raw })
      default:
        return { kind: 'fake' }
    }
  }

  const optionsArb = fc.record(
    {
      name: mostly(
        fc.constantFrom('default', 'users', 'a.b:c-d_1'),
        fc.constantFrom('', 'x'.repeat(65), 'with space', 42),
      ),
      namespace: mostly(fc.string({ maxLength: 20 }), fc.oneof(fc.string({ minLength: 250, maxLength: 300 }), weird)),
      store: storeChoice,
      l1: mostly(
        fc.oneof(
          fc.constant(false),
          fc.record({ maxEntries: fc.integer({ min: 1, max: 1_000 }) }),
          fc.record({ maxEntries: fc.integer({ min: 1, max: 100 }), maxBytes: fc.integer({ min: 1, max: 1e6 }) }),
        ),
        fc.oneof(
          fc.record({ maxEntries: fc.oneof(fc.integer({ min: -2, max: 0 }), weird) }),
          fc.record({ maxEntries: fc.constant(10), maxBytes: fc.oneof(fc.integer({ max: 0 }), weird) }),
          weird,
        ),
      ),
      lock: mostly(
        fc.oneof(fc.boolean(), fc.record({ ttl: fc.constantFrom(200, '5s'), wait: duration }, { requiredKeys: [] })),
        fc.oneof(
          fc.constantFrom({ clients: [] }, { clients: 'all' }, { ttl: 50 }),
          fc.record({ ttl: duration }),
          weird,
        ),
      ),
      originConcurrency: mostly(
        fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(Number.POSITIVE_INFINITY)),
        fc.oneof(fc.integer({ min: -2, max: 0 }), weird),
      ),
      metrics: mostly(
        fc.oneof(
          fc.constant(false),
          fc.constant(undefined).map(() => ({ registry: new Registry() })),
        ),
        fc.constantFrom('registry', { registry: {} }),
      ),
      serializer: mostly(fc.constantFrom('json', 'msgpack', serializerLike), fc.constantFrom('xml', { serialize: 1 })),
      logger: fc.constantFrom(false, silent, undefined),
      ttl: duration,
      grace: duration,
      negativeTtl: duration,
      failSafeThrottle: duration,
      jitter: mostly(
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.oneof(fc.double(), fc.constantFrom(1, -0.1, '0.1')),
      ),
      earlyRefresh: mostly(
        fc.oneof(fc.boolean(), fc.record({ beta: fc.double({ min: 0, max: 10, noNaN: true }) }, { requiredKeys: [] })),
        fc.oneof(fc.record({ beta: fc.oneof(fc.double(), weird) }), weird),
      ),
      timeout: mostly(fc.record({ soft: duration, hard: duration }, { requiredKeys: [] })),
      invalidateAsStale: mostly(fc.boolean()),
    },
    { requiredKeys: [] },
  )

  it('random option objects make a working cache or a CorralConfigError naming a real option, never anything else', async () => {
    let made = 0
    let refused = 0
    await fc.assert(
      fc.asyncProperty(
        optionsArb,
        fc.oneof(
          { arbitrary: fc.constant(null), weight: 9 },
          { arbitrary: fc.string({ minLength: 1, maxLength: 10 }), weight: 1 },
        ),
        async (generated, unknownKey) => {
          const options: Record<string, unknown> = { ...generated }
          if ('store' in generated) options.store = makeStore(generated.store as string)
          if (options.logger === undefined) options.logger = false
          if (unknownKey !== null) options[unknownKey] = 1
          let cache: Cache
          try {
            cache = createCache(options)
          } catch (error) {
            refused += 1
            if (!(error instanceof CorralConfigError)) {
              throw new Error(`createCache threw ${String(error)} for ${describeOptions(options)}`, { cause: error })
            }
            const isUnknown = !KNOWN_TOP.includes(error.option) && unknownKey === error.option
            expect(REAL.has(error.option) || isUnknown, `option ${error.option} (${error.message})`).toBe(true)
            expect(error.message).toContain(error.option)
            return
          }
          made += 1
          // A cache that was made works: a load answers (or fails typed, e.g. a hard timeout of 0).
          try {
            const got = await cache
              .wrap('k', () => ({ ok: true }))
              .catch((error: unknown) => {
                if (error instanceof CorralError) return 'typed'
                throw error
              })
            expect(got === 'typed' || JSON.stringify(got) === '{"ok":true}').toBe(true)
          } finally {
            await cache.close()
          }
        },
      ),
      { numRuns: 300 },
    )
    // Both branches were exercised.
    expect(made).toBeGreaterThan(5)
    expect(refused).toBeGreaterThan(5)
    await expectNoUnhandled()
  })

  it('createCache with a non-object is a CorralConfigError naming `options`', () => {
    for (const bad of [null, 42, 'opts', true]) {
      const error = catchError(() => createCache(bad as never))
      expect(error).toBeInstanceOf(CorralConfigError)
      expect((error as CorralConfigError).option).toBe('options')
    }
  })

  it('l1.maxBytes is validated: a bad one is a CorralConfigError, not a TypeError from lru-cache', async () => {
    for (const maxBytes of [-1, 1.5, 'big', Number.POSITIVE_INFINITY]) {
      const error = catchError(() =>
        createCache({
          store: redisStore({ url: server.url }),
          l1: { maxEntries: 10, maxBytes: maxBytes as number },
          logger: false,
        }),
      )
      expect(error, `l1.maxBytes ${String(maxBytes)}`).toBeInstanceOf(CorralConfigError)
      expect((error as CorralConfigError).option).toMatch(/^l1/)
    }
  })

  it('logger is validated: one without warn/error is a CorralConfigError, not a TypeError at the first outage', async () => {
    for (const logger of ['verbose', 42, {}, { warn: 1, error: 1 }]) {
      const error = catchError(() => createCache({ logger: logger as never }))
      expect(error, `logger ${JSON.stringify(logger)}`).toBeInstanceOf(CorralConfigError)
      expect((error as CorralConfigError).option).toBe('logger')
    }
    // A logger that is one (pino, winston, console all are) hears the outage; wrap still answers.
    const lines: string[] = []
    const cache = createCache({
      store: redisStore({ url: 'redis://127.0.0.1:1', timeout: 50 }),
      logger: { warn: (message: string) => void lines.push(message), error: () => {} },
    })
    try {
      await expect(cache.wrap('k', () => 'from loader')).resolves.toBe('from loader')
      expect(lines.length).toBeGreaterThan(0)
    } finally {
      await cache.close()
    }
  })

  it('lock.clients is validated: entries that are not Redis clients are a CorralConfigError', () => {
    for (const clients of [[42], ['redis://x'], [{}], [null]]) {
      const error = catchError(() =>
        createCache({ store: redisStore({ url: server.url }), lock: { clients: clients as never }, logger: false }),
      )
      expect(error, `lock.clients ${JSON.stringify(clients)}`).toBeInstanceOf(CorralConfigError)
      expect((error as CorralConfigError).option).toBe('lock.clients')
    }
  })
})

function catchError(fn: () => unknown): unknown {
  try {
    const made = fn() as Cache | undefined
    void made?.close?.()
  } catch (error) {
    return error
  }
  return undefined
}

function describeOptions(options: Record<string, unknown>): string {
  return Object.entries(options)
    .map(([k, v]) => `${k}=${typeof v === 'bigint' ? `${v}n` : typeof v === 'object' ? safeJson(v) : String(v)}`)
    .join(', ')
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))
  } catch {
    return Object.prototype.toString.call(v)
  }
}

describe('raw store contents (Redis)', () => {
  const NS = 'raw'
  let json: Cache
  let fleet: Cache
  let msgpack: Cache
  let counter = 0
  const entryKey = (key: string) => `{${NS}:${key}}`

  beforeAll(async () => {
    json = createCache({
      store: redisStore({ url: server.url }),
      namespace: NS,
      ttl: '1h',
      serializer: 'json',
      logger: false,
    })
    // Same namespace, with an L1 tier and the fleet lock: the other read and load paths.
    fleet = createCache({
      store: redisStore({ url: server.url }),
      namespace: NS,
      ttl: '1h',
      l1: { maxEntries: 1_000 },
      lock: true,
      serializer: 'json',
      logger: false,
    })
    msgpack = createCache({
      store: redisStore({ url: server.url }),
      namespace: NS,
      ttl: '1h',
      serializer: 'msgpack',
      logger: false,
    })
    await json.set('neighbour', { intact: true })
  })
  afterAll(async () => {
    await Promise.all([json?.close(), fleet?.close(), msgpack?.close()])
  })

  const INTEGER = /^-?\d{1,16}$/
  const startsWithC1 = (b: Uint8Array) => b[0] === 0x43 && b[1] === 0x31
  const isInteger = (b: Uint8Array) => b.length <= 17 && INTEGER.test(Buffer.from(b).toString('latin1'))

  /** Bytes that are neither a counter nor claim to be an entry: always a miss. */
  const foreign = fc
    .oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 100 }).map((s) => new Uint8Array(Buffer.from(s))),
      fc.string({ unit: hostileUnit, maxLength: 50 }).map((s) => new Uint8Array(Buffer.from(s))),
      fc.jsonValue().map((v) => new Uint8Array(Buffer.from(JSON.stringify(v)))),
    )
    .filter((b) => b.length > 0 && !startsWithC1(b) && !isInteger(b))

  /** Claims to be an entry (C1) but its header is not one: no newline, not JSON, or the wrong shape. */
  const badHeader = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `C1${s.replaceAll('\n', '')}`),
    fc
      .string({ maxLength: 30 })
      .filter((s) => !s.includes('\n') && !parses(s))
      .map((s) => `C1${s}\n{}`),
    fc
      .oneof(
        fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 8 }).filter((a) => a.length !== 6),
        fc.jsonValue({ maxDepth: 1 }).filter((v) => !Array.isArray(v)),
        fc.tuple(fc.string(), fc.string(), fc.string(), fc.string(), fc.string(), fc.string()),
        fc.constant([null, null, 0, 0, [1], 0]),
        fc.constant([null, null, 0, 0, 'tags', 0]),
        fc.constant([null, null, '0', 0, [], 0]),
      )
      .chain((h) => fc.string({ maxLength: 20 }).map((body) => `C1${JSON.stringify(h)}\n${body}`)),
  )

  it('foreign bytes, counters and broken headers: get is a miss (or the counter), wrap loads and overwrites, neighbours stay', async () => {
    const sample = fc.oneof(
      foreign.map((bytes) => ({ kind: 'miss' as const, bytes: Buffer.from(bytes) })),
      badHeader.map((text) => ({ kind: 'miss' as const, bytes: Buffer.from(text) })),
      fc
        .oneof(
          fc.integer().map(String),
          // Up to 15 digits: ioredis reads integer replies near 2^53 off by one.
          fc.bigInt({ min: 1n - 10n ** 15n, max: 10n ** 15n - 1n }).map(String),
          fc.constantFrom('0', '-1', '999999999999999', '-999999999999999'),
        )
        .map((text) => ({ kind: 'counter' as const, bytes: Buffer.from(text) })),
    )
    await fc.assert(
      fc.asyncProperty(sample, fc.constantFrom('json', 'fleet'), async ({ kind, bytes }, which) => {
        const cache = which === 'json' ? json : fleet
        const key = `r${++counter}`
        await raw.set(entryKey(key), bytes)
        if (kind === 'counter') {
          const n = Number(bytes.toString('latin1'))
          expect(Object.is(await cache.get(key), n)).toBe(true)
          expect(Object.is(await cache.wrap(key, () => 'loader'), n)).toBe(true)
          expect(await cache.increment(key, 2)).toBe(n + 2)
        } else {
          expect(await cache.get(key)).toBeUndefined()
          expect(await cache.wrap(key, () => ({ loaded: key }))).toStrictEqual({ loaded: key })
          const stored = await raw.getBuffer(entryKey(key))
          expect(stored?.subarray(0, 2).toString()).toBe('C1')
          expect(await json.get(key)).toStrictEqual({ loaded: key })
          expect(await fleet.get(key)).toStrictEqual({ loaded: key })
        }
        expect(await json.get('neighbour')).toStrictEqual({ intact: true })
      }),
      { numRuns: RUNS },
    )
    expect(await raw.get(entryKey('neighbour'))).toMatch(/^C1/)
    await expectNoUnhandled()
  })

  it('digits that read as a counter but that INCRBY refuses: increment is a typed error, not a ReplyError', async () => {
    // `get` reads all of these as counters (entry.ts INTEGER); Redis's INCRBY takes none of them.
    for (const text of ['-0', '007', '0000000000000000', '12345678901234567890']) {
      const key = `d${++counter}`
      await raw.set(entryKey(key), text)
      const outcome = await json.increment(key).then(
        (n) => n,
        (error: unknown) => error,
      )
      expect(outcome, text).toBeInstanceOf(CorralError)
      expect(await json.get('neighbour')).toStrictEqual({ intact: true })
    }
  })

  it('a truncated entry is always a miss, and wrap repairs it', async () => {
    const value = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
      minKeys: 1,
      maxKeys: 4,
    })
    await fc.assert(
      fc.asyncProperty(
        value,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.string(), { maxLength: 2 }),
        async (v, cut, tags) => {
          const key = `t${++counter}`
          await json.set(key, v, { tags: tags.filter((t) => t.length > 0) })
          const whole = (await raw.getBuffer(entryKey(key))) as Buffer
          const at = Math.min(whole.length - 1, Math.floor(cut * whole.length))
          await raw.set(entryKey(key), whole.subarray(0, at))
          expect(await json.get(key)).toBeUndefined()
          expect(await fleet.wrap(key, () => 'repaired')).toBe('repaired')
          expect(await json.get(key)).toBe('repaired')
          expect(await json.get('neighbour')).toStrictEqual({ intact: true })
        },
      ),
      { numRuns: 100 },
    )
    await expectNoUnhandled()
  })

  it('a well-formed header over random bytes: the body is trusted if it parses as JSON, else a miss; never a throw', async () => {
    const header = 'C1[null,null,0,0,[],0]\n'
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
        ),
        async (body) => {
          const key = `h${++counter}`
          await raw.set(entryKey(key), Buffer.concat([Buffer.from(header), body]))
          const text = body.toString('utf8')
          const expected = parses(text) ? JSON.parse(text, dropProto) : undefined
          expect(await json.get(key)).toStrictEqual(expected)
          const served = await json.wrap(key, () => 'loader')
          expect(served).toStrictEqual(expected === undefined ? 'loader' : expected)
          expect(await json.get('neighbour')).toStrictEqual({ intact: true })
        },
      ),
      { numRuns: RUNS },
    )
    await expectNoUnhandled()
  })

  it("random bytes under 'msgpack' (binary flag) and random byte flips anywhere: no throw, no hang, and set repairs", async () => {
    const flips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        flips,
        fc.constantFrom('json', 'msgpack'),
        async (body, flip, which) => {
          const cache = which === 'json' ? json : msgpack
          const key = `m${++counter}`
          // A valid entry of this serializer, with some of its bytes changed.
          await cache.set(key, { id: counter, tags: ['a', 'b'], at: 'x' }, { tags: ['t'], grace: '1h' })
          const bytes = Buffer.from((await raw.getBuffer(entryKey(key))) as Buffer)
          for (const [i, b] of flip) bytes[i % bytes.length] = b
          await raw.set(entryKey(key), bytes)
          await cache.get(key)
          await cache.wrap(key, () => 'loaded')
          // And a binary-flagged entry whose body is pure noise.
          await raw.set(entryKey(`${key}b`), Buffer.concat([Buffer.from('C1[null,null,0,0,[],8]\n'), body]))
          await cache.get(`${key}b`)
          await cache.wrap(`${key}b`, () => 'loaded')
          await cache.set(key, 'repaired')
          expect(await cache.get(key)).toBe('repaired')
          expect(await json.get('neighbour')).toStrictEqual({ intact: true })
        },
      ),
      { numRuns: RUNS },
    )
    await expectNoUnhandled()
  })
})

function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
