/**
 * `npm run bench` runs the hit-path bench; `npm run bench -- batch` the batch bench. Each bench
 * is its own file in bench/ and runs when imported.
 */
const BENCHES = { 'hit-path': './hit-path.ts', batch: './batch.ts' } as const

const name = process.argv[2] ?? 'hit-path'
if (!Object.hasOwn(BENCHES, name)) {
  process.stderr.write(`unknown bench ${JSON.stringify(name)}; one of: ${Object.keys(BENCHES).join(', ')}\n`)
  process.exit(2)
}
await import(BENCHES[name as keyof typeof BENCHES])
