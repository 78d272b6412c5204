/** The root of every error corral throws on purpose, so callers can tell ours from the loader's. */
export class CorralError extends Error {
  override name = 'CorralError'
}

/** A bad option given to `createCache` or to one call; the message names the option and the value. */
export class CorralConfigError extends CorralError {
  override name = 'CorralConfigError'
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
  constructor(message: string, options?: { cause?: unknown }) {
    super(`corral: ${message}`, options)
  }
}

/** The loader ran past the hard timeout and was aborted through `ctx.signal`. */
export class OriginTimeoutError extends CorralError {
  override name = 'OriginTimeoutError'
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
  constructor(readonly key: string) {
    super(`corral: key ${JSON.stringify(key)} holds a value that is not an integer counter`)
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

/** A value too large for the store's item size limit: not stored (a load's value is still returned). */
export class ValueTooLargeError extends CorralError {
  override name = 'ValueTooLargeError'
  constructor(
    readonly key: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`corral: the entry for ${JSON.stringify(key)} is ${bytes} bytes, more than the store's limit of ${limit}`)
  }
}
