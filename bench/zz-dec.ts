import { decodeEntry, encodeEntry } from '../src/entry.ts'
import { msgpackSerializer } from '../src/serializer-msgpack.ts'
import { row, rowJson } from './support.ts'

const s = msgpackSerializer()
const v = row(5)
const payload = s.serialize(v) as Buffer
const entry = {
  value: v,
  negative: false,
  freshUntilMs: Date.now() + 3600000,
  staleUntilMs: Date.now() + 3600000,
  deltaMs: 0,
  createdAtUs: Date.now() * 1000,
  tags: [],
  failSafe: false,
}
const raw = Buffer.from(encodeEntry(entry, payload) as Buffer)
const json = Buffer.from(rowJson(5))
const N = 300000
for (let pass = 0; pass < 3; pass++) {
  let t = performance.now()
  for (let i = 0; i < N; i++) JSON.parse(json.toString())
  const a = performance.now() - t
  t = performance.now()
  for (let i = 0; i < N; i++) decodeEntry(raw, s)
  const b = performance.now() - t
  t = performance.now()
  for (let i = 0; i < N; i++) s.deserialize(raw.subarray(raw.indexOf(10) + 1))
  const c = performance.now() - t
  console.log(
    `JSON.parse ${((a * 1000) / N).toFixed(2)} µs, decodeEntry ${((b * 1000) / N).toFixed(2)} µs, msgpack payload only ${((c * 1000) / N).toFixed(2)} µs`,
  )
}
