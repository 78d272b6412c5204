// Self time by function from V8 .cpuprofile files (node --cpu-prof): the top 40, and totals by file.
import { readFileSync } from 'node:fs'

const self = new Map()
const byFile = new Map()
let total = 0
for (const file of process.argv.slice(2)) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const dt = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  for (const [id, us] of dt) {
    const { callFrame: f } = nodes.get(id)
    const where = (f.url || '(native)').replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1')
    const name = `${f.functionName || '(anonymous)'}  ${where}:${f.lineNumber + 1}`
    self.set(name, (self.get(name) ?? 0) + us)
    byFile.set(where, (byFile.get(where) ?? 0) + us)
    total += us
  }
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`)
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(pct(us), name)
console.log('\nby file:')
for (const [file, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(pct(us), file)
