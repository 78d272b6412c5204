/**
 * The default serializer's price: one round trip (serialize, then deserialize) of a cached row,
 * and its size in bytes, for corral's 'json' and 'msgpack' serializers and node's `v8`
 * structured-clone serializer, side by side in one process and one run.
 *
 *   npm run bench:serializers           (node --import tsx bench/serializers.ts)
 *
 * Three rows: a plain one (what JSON represents exactly) and mysql2-like ones with Date, Buffer,
 * BigInt and Set, then also a Map (which JSON refuses or changes: JSON gets its own view of them, so
 * its time is a floor, not a like-for-like figure). The default writes Map-free values as plain
 * MessagePack maps and the row with a Map as records; the records-only contender shows the difference. Cases run in rounds, in the same order; the figure is the
 * median over rounds.
 */
import v8 from 'node:v8'
import { do_not_optimize, measure } from 'mitata'
import { Packr } from 'msgpackr'
import { jsonSerializer, type Serializer } from '../src/serializer.ts'
import { msgpackSerializer } from '../src/serializer-msgpack.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS) || 5
const CASE_MS = Number(process.env.BENCH_MS) || 300

const plain = {
  id: 42,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  roles: ['admin', 'dev'],
  created_at: '2026-11-23T08:00:00.123Z',
  balance: 1234.5,
  active: true,
  manager: null,
}
const rich = {
  ...plain,
  created_at: new Date('2026-11-23T08:00:00.123Z'),
  avatar: Buffer.alloc(64, 7),
  visits: 12_345_678_901_234n,
  prefs: new Map([
    ['theme', 'dark'],
    ['lang', 'en'],
  ]),
  groups: new Set([1, 2, 3]),
}
/** What JSON keeps of the rich row (the replacer-free view it would store). */
const richForJson = JSON.parse(JSON.stringify({ ...rich, visits: String(rich.visits) }))

const v8Serializer: Serializer = {
  serialize: (value) => v8.serialize(value),
  deserialize: (raw) => v8.deserialize(raw as Buffer),
}
/** msgpackr's records for every object: what the default wrote before small Map-free values got plain maps. */
const records = new Packr({ structuredClone: true, moreTypes: true })
const recordsSerializer: Serializer = {
  serialize: (value) => records.pack(value),
  deserialize: (raw) => records.unpack(raw as Buffer),
}
const serializers: [string, Serializer][] = [
  ['json', jsonSerializer],
  ['msgpack (default)', msgpackSerializer()],
  ['msgpack, records for every object', recordsSerializer],
  ['v8 structured clone', v8Serializer],
]
const { prefs: _prefs, ...noMap } = rich
const rows: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ['plain row', plain, plain],
  ['row with Date, Buffer, BigInt, Set', noMap, JSON.parse(JSON.stringify({ ...noMap, visits: String(noMap.visits) }))],
  ['row with Date, Buffer, BigInt, Map, Set', rich, richForJson],
]

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

const times = new Map<string, number[]>()
for (let round = 1; round <= ROUNDS; round++) {
  for (const [rowName, row, jsonRow] of rows) {
    for (const [name, serializer] of serializers) {
      const value = name === 'json' ? jsonRow : row
      const stats = await measure(() => do_not_optimize(serializer.deserialize(serializer.serialize(value))), {
        min_cpu_time: CASE_MS * 1e6,
      })
      const id = `${rowName}|${name}`
      times.set(id, [...(times.get(id) ?? []), stats.avg])
    }
  }
  process.stderr.write(`round ${round}/${ROUNDS}\n`)
}

console.log('| row | serializer | round trip | bytes | types kept |')
console.log('| --- | --- | ---: | ---: | --- |')
for (const [rowName, row, jsonRow] of rows) {
  for (const [name, serializer] of serializers) {
    const value = name === 'json' ? jsonRow : row
    const raw = serializer.serialize(value)
    const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length
    const back = serializer.deserialize(raw) as Record<string, unknown>
    const kept = rowName === 'plain row' ? 'all' : back.created_at instanceof Date ? 'all' : 'no (strings, {})'
    const us = median(times.get(`${rowName}|${name}`) as number[]) / 1_000
    console.log(`| ${rowName} | ${name} | ${us.toFixed(2)} µs | ${bytes} | ${kept} |`)
  }
}
