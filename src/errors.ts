/**
 * Every error corral throws on purpose. Each class has a stable `code` (never reworded, safe to
 * switch on or log) and is checked with `instanceof`; messages are for people and may change.
 */

/** The root of every error corral throws on purpose, so callers can tell ours from the loader's. */
export class CorralError extends Error {
  override name = 'CorralError'
  /** A stable identifier of the kind of error. */
  readonly code: string = 'CORRAL_ERROR'
}

/** A bad option given to `createCache` or to one call; the message names the option and the value. */
export class CorralConfigError extends CorralError {
  override name = 'CorralConfigError'
  override readonly code = 'CORRAL_CONFIG'
  constructor(
    readonly option: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(`corral: option \`${option}\` ${expected}, got ${describe(value)}`)
  }
}

/** A key that is not a non-empty string or is longer than 1,024 bytes. */
export class InvalidKeyError extends CorralError {
  override name = 'InvalidKeyError'
  override readonly code = 'CORRAL_INVALID_KEY'
  constructor(
    readonly key: unknown,
    reason: string,
  ) {
    super(`corral: invalid key ${describe(key)}: ${reason}`)
  }
}

/** A value the serializer cannot round-trip; nothing was written. */
export class SerializationError extends CorralError {
  override name = 'SerializationError'
  override readonly code = 'CORRAL_SERIALIZATION'
  constructor(message: string, options?: { cause?: unknown }) {
    super(`corral: ${message}`, options)
  }
}

/** The loader ran past the hard timeout and was aborted through `ctx.signal`. */
export class OriginTimeoutError extends CorralError {
  override name = 'OriginTimeoutError'
  override readonly code = 'CORRAL_ORIGIN_TIMEOUT'
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
  ) {
    super(`corral: loader for key ${JSON.stringify(key)} passed the hard timeout of ${timeoutMs} ms`)
  }
}

/** `increment` on a key that holds something other than a counter. */
export class NotACounterError extends CorralError {
  override name = 'NotACounterError'
  override readonly code = 'CORRAL_NOT_A_COUNTER'
  constructor(readonly key: string) {
    super(`corral: key ${JSON.stringify(key)} holds a value that is not an integer counter`)
  }
}

/** A loader error from another process, rethrown to the callers that waited for its load. */
export class RemoteLoaderError extends CorralError {
  override name = 'RemoteLoaderError'
  override readonly code = 'CORRAL_REMOTE_LOADER'
  constructor(
    readonly key: string,
    readonly remoteName: string,
    remoteMessage: string,
  ) {
    super(`corral: the load of ${JSON.stringify(key)} failed in another process: ${remoteName}: ${remoteMessage}`)
  }
}

/**
 * A store command found the store unreachable, too slow, or refusing (its circuit breaker open,
 * a timeout, a refused command). In `wrap` it is counted and answered from the loader; explicit
 * writes reject with it.
 */
export class StoreUnavailableError extends CorralError {
  override name = 'StoreUnavailableError'
  override readonly code = 'CORRAL_STORE_UNAVAILABLE'
}

/** A call on a cache after `close()`. */
export class CacheClosedError extends CorralError {
  override name = 'CacheClosedError'
  override readonly code = 'CORRAL_CLOSED'
  constructor() {
    super('corral: this cache is closed')
  }
}

/** The write committed but the cache could not be told: entries of these tags may be served until they expire. */
export class InvalidationFailedError extends CorralError {
  override name = 'InvalidationFailedError'
  override readonly code = 'CORRAL_INVALIDATION_FAILED'
  constructor(
    readonly tags: string[],
    readonly result: unknown,
    options: { cause: unknown },
  ) {
    super(`corral: the write committed but invalidating ${JSON.stringify(tags)} failed`, options)
  }
}

/**
 * An HTTP handler's response was not stored (`reason`: its status, a Set-Cookie, private, too
 * large…); the requests that waited for it run their own handler.
 */
export class NotCacheable extends CorralError {
  override name = 'NotCacheable'
  override readonly code = 'CORRAL_NOT_CACHEABLE'
  constructor(readonly reason: string) {
    super(`corral: response not stored (${reason})`)
  }
}

/** Why `cachedQuery(...).query` refused a statement. */
export type UnsafeQueryReason =
  | 'unparsable'
  | 'multiple-statements'
  | 'not-a-read'
  | 'literal'
  | 'variable'
  | 'side-effect'
  | 'locking-read'
  | 'select-into'

/**
 * SQL `cachedQuery` will not run and cache: not a single read-only statement, or one
 * with a value written into its text instead of passed as a parameter. Nothing reached the database.
 */
export class UnsafeQueryError extends CorralError {
  override name = 'UnsafeQueryError'
  override readonly code = 'CORRAL_UNSAFE_QUERY'
  constructor(
    readonly reason: UnsafeQueryReason,
    readonly sql: string,
    detail: string,
  ) {
    super(`corral: query refused (${reason}): ${detail}`)
  }
}

/** A batch loader (`wrapMany`, `warm`) answered something other than a Map or record of the keys it was asked for; nothing was written. */
export class BatchResultError extends CorralError {
  override name = 'BatchResultError'
  override readonly code = 'CORRAL_BATCH_RESULT'
  constructor(
    readonly problem: string,
    readonly unexpectedKeys: readonly string[] = [],
  ) {
    super(`corral: the batch loader's answer was refused: ${problem}`)
  }
}

/** A value too large for the store's item size limit: not stored (a load's value is still returned). */
export class ValueTooLargeError extends CorralError {
  override name = 'ValueTooLargeError'
  override readonly code = 'CORRAL_VALUE_TOO_LARGE'
  constructor(
    readonly key: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`corral: the entry for ${JSON.stringify(key)} is ${bytes} bytes, more than the store's limit of ${limit}`)
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (value === null || typeof value !== 'object') return String(value)
  try {
    return JSON.stringify(value)?.slice(0, 120) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}
