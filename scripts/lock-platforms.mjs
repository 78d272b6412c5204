// The npm registry reachable from this workplace lacks some packages built for other platforms
// (biome's and msgpackr-extract's), so `npm install` writes a lockfile without them and `npm ci`
// then refuses it as out of sync. This adds an entry for each missing platform package, with the
// os/cpu/libc its name states, so `npm ci` skips it here and installs it where it belongs.
// Run after `npm install` changes the lockfile: node scripts/lock-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const path = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(path, 'utf8'))
const packages = lock.packages
const OS = ['android', 'darwin', 'linux', 'win32', 'freebsd']
const CPU = ['arm64', 'x64', 'arm', 'ia32']
let added = 0
for (const [where, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`
    if (packages[key] || !/^\d+\.\d+\.\d+/.test(spec)) continue
    const parts = name.split('/').pop().split('-')
    const os = parts.find((p) => OS.includes(p))
    const cpu = parts.find((p) => CPU.includes(p))
    if (!os || !cpu) continue
    packages[key] = {
      version: spec.replace(/^[\^~]/, ''),
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [os],
      cpu: [cpu],
      ...(parts.includes('musl') ? { libc: ['musl'] } : os === 'linux' ? { libc: ['glibc'] } : {}),
    }
    added += 1
    void where
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
)
lock.packages = sorted
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`lock-platforms: added ${added} platform entries`)
