import fc from 'fast-check'
import { Command } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { codeUnits } from '../harness/generators.ts'
import { encodeCommand, type RespArg } from '../src/redis/resp.ts'

/** What ioredis itself writes for the command (its keyPrefix applied to the command's keys). */
function ioredisBytes(name: string, args: RespArg[], keyPrefix?: string): Buffer {
  const written = new Command(name, args, keyPrefix ? { keyPrefix } : {}).toWritable({})
  return typeof written === 'string' ? Buffer.from(written) : written
}

const key = fc.oneof(fc.string({ maxLength: 30 }), codeUnits(12), fc.constant(''), fc.constant('{ns:row:1}'))
const value = fc.oneof(
  key,
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
)
const prefix = fc.option(fc.oneof(fc.constant('app:'), codeUnits(6)), { nil: undefined })

describe('commands written by corral (a batch chunk) are the bytes ioredis writes', () => {
  it('MGET of any keys, with and without a keyPrefix', () => {
    fc.assert(
      fc.property(fc.array(key, { maxLength: 80 }), prefix, (keys, keyPrefix) => {
        const ours = encodeCommand(
          'mget',
          keys,
          keyPrefix ? { from: 0, to: keys.length, prefix: keyPrefix } : undefined,
        )
        expect(ours.equals(ioredisBytes('mget', keys, keyPrefix))).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('EVALSHA and EVAL with keys, then text, numbers and Buffers; the prefix only on the keys', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('evalsha', 'eval'),
        fc.array(key, { maxLength: 40 }),
        fc.array(value, { maxLength: 6 }),
        prefix,
        (name, keys, rest, keyPrefix) => {
          const args: RespArg[] = ['0123456789abcdef0123456789abcdef01234567', keys.length, ...keys, ...rest]
          const range = keyPrefix ? { from: 2, to: 2 + keys.length, prefix: keyPrefix } : undefined
          expect(encodeCommand(name, args, range).equals(ioredisBytes(name, args, keyPrefix))).toBe(true)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('a large chunk: 2,000 keys and a 1 MB entry blob', () => {
    const keys = Array.from({ length: 2_000 }, (_, i) => `{ns:k${i}}${i % 2 ? ':f' : ''}`)
    const args: RespArg[] = [
      'sha',
      keys.length,
      ...keys,
      '',
      '',
      '0 60000 512 '.repeat(1_000),
      Buffer.alloc(1 << 20, 7),
    ]
    expect(encodeCommand('evalsha', args).equals(ioredisBytes('evalsha', args))).toBe(true)
  })
})
