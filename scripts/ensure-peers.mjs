// Installs the peer caches that bench/ and load-tests/ compare against (they live in their own
// package folders because they need ioredis 5). Runs before `npm run bench`, `npm run load` and
// `npm run typecheck`; a folder whose install is newer than its lockfile is left alone.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'

const folders = process.argv.length > 2 ? process.argv.slice(2) : ['bench/peers', 'load-tests/peers']

for (const folder of folders) {
  const lock = join(folder, 'package-lock.json')
  const installed = join(folder, 'node_modules', '.package-lock.json')
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) continue
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['--prefix', folder, 'ci', '--no-audit', '--no-fund', '--silent'], {
    stdio: 'inherit',
  })
  if (result.status !== 0) {
    console.error(`could not install the peers in ${folder} (npm ci exited with ${result.status})`)
    process.exit(result.status ?? 1)
  }
}
