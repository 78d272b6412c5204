import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const exec = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const require = createRequire(import.meta.url)
const tsc = require.resolve('typescript/bin/tsc')
const typesNodeVersion = (require('@types/node/package.json') as { version: string }).version
const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>
}
/** 'corral', 'corral/mysql', ... : every entry of the package's `exports`, as a consumer names it. */
const entries = Object.keys(manifest.exports)
  .filter((subpath) => subpath !== './package.json')
  .map((subpath) => (subpath === '.' ? 'corral' : `corral/${subpath.slice(2)}`))

/** Runs a command; on failure the error carries its output, so a broken step reads as such. */
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024, env: scrubbedEnv() })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`)
  }
}

/** The environment without the npm_* variables of the `npm test` that started us. */
function scrubbedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_')) env[k] = v
  return env
}

describe('the published package', () => {
  let dir: string
  let files: string[]

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-package-'))
    const packed = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', dir], root)) as {
      filename: string
      files: { path: string }[]
    }[]
    const tarball = join(dir, packed[0]?.filename as string)
    files = (packed[0]?.files ?? []).map((f) => f.path)

    const project = join(dir, 'consumer')
    await mkdir(project)
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
    )
    // From the local npm cache where it can be; the registry only for what the cache lacks.
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        tarball,
        `@types/node@${typesNodeVersion}`,
      ],
      project,
    )
  }, 240_000)

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('holds the built code, its type declarations, LICENSE, README and CHANGELOG, and no sources or tests', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']))
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts']))
    for (const subpath of Object.keys(manifest.exports).filter((s) => s !== './package.json')) {
      const target = manifest.exports[subpath] as { types: string; default: string }
      expect(files).toContain(target.types.slice(2))
      expect(files).toContain(target.default.slice(2))
    }
    expect(files.filter((f) => !f.startsWith('dist/') && !/^[A-Z]+(\.md)?$|^package\.json$/.test(f))).toEqual([])
  })

  it('runs nothing when a consumer installs it', async () => {
    const installed = JSON.parse(
      await readFile(join(dir, 'consumer', 'node_modules', 'corral', 'package.json'), 'utf8'),
    ) as { scripts?: Record<string, string> }
    const atInstall = ['preinstall', 'install', 'postinstall', 'prepare']
    expect(Object.keys(installed.scripts ?? {}).filter((s) => atInstall.includes(s))).toEqual([])
  })

  it('imports every entry from plain JavaScript and runs a wrap', async () => {
    const project = join(dir, 'consumer')
    await writeFile(
      join(project, 'use.mjs'),
      [
        ...entries.map((name, i) => `import * as entry${i} from '${name}'`),
        `const entries = { ${entries.map((name, i) => `'${name}': Object.keys(entry${i}).sort()`).join(', ')} }`,
        'const cache = entry0.createCache({ ttl: "1 minute", logger: false })',
        'let calls = 0',
        'const first = await cache.wrap("user:1", async () => ({ id: 1, calls: ++calls }))',
        'const second = await cache.wrap("user:1", async () => ({ id: 1, calls: ++calls }))',
        'await cache.close()',
        'console.log(JSON.stringify({ entries, first, second }))',
      ].join('\n'),
    )
    const out = JSON.parse(await run(process.execPath, ['use.mjs'], project)) as {
      entries: Record<string, string[]>
      first: unknown
      second: unknown
    }
    expect(Object.keys(out.entries)).toEqual(['corral', 'corral/mysql', 'corral/http', 'corral/fastify'])
    expect(out.entries.corral).toEqual(expect.arrayContaining(['createCache', 'memoryStore', 'redisStore']))
    expect(out.entries['corral/mysql']).toContain('cachedQuery')
    expect(out.entries['corral/http']).toContain('httpCache')
    expect(out.entries['corral/fastify']).toContain('fastifyCache')
    expect(out.first).toEqual({ id: 1, calls: 1 })
    expect(out.second).toEqual({ id: 1, calls: 1 })
  })

  for (const resolution of ['nodenext', 'bundler'] as const) {
    it(`type-checks against the declarations under moduleResolution ${resolution}`, async () => {
      const project = join(dir, `ts-${resolution}`)
      await mkdir(project, { recursive: true })
      await writeFile(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: resolution === 'nodenext' ? 'nodenext' : 'esnext',
            moduleResolution: resolution,
            strict: true,
            noEmit: true,
            types: ['node'],
            // The consumer's own dependencies (ioredis, lru-cache) are checked too.
            skipLibCheck: false,
            typeRoots: [join(dir, 'consumer', 'node_modules', '@types')],
          },
          include: ['use.mts'],
        }),
      )
      await writeFile(
        join(project, 'use.mts'),
        [
          "import { type Cache, type CacheOptions, CorralError, createCache, type Duration, memoryStore } from 'corral'",
          "import { cachedQuery, type QueryablePool } from 'corral/mysql'",
          "import { httpCache } from 'corral/http'",
          "import { fastifyCache } from 'corral/fastify'",
          "const ttl: Duration = '30s'",
          "const options: CacheOptions = { ttl, store: memoryStore({ maxEntries: 100 }), serializer: 'json' }",
          'const cache: Cache = createCache(options)',
          "const user: { id: number } = await cache.wrap('user:1', async () => ({ id: 1 }))",
          'declare const pool: QueryablePool',
          'const queries = cachedQuery(cache, pool)',
          "const middleware = httpCache(cache, { ttl: '5s' })",
          'const plugin = fastifyCache(cache)',
          'export const used = [user.id, queries, middleware, plugin, new CorralError("x") instanceof Error]',
          '// @ts-expect-error a wrong option type is caught by the declarations',
          'createCache({ ttl: { minutes: 1 } })',
        ].join('\n'),
      )
      // The same installed packages as the JavaScript consumer.
      await writeFile(join(project, 'package.json'), JSON.stringify({ type: 'module' }))
      await symlink(join(dir, 'consumer', 'node_modules'), join(project, 'node_modules'))
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], project)
    }, 120_000)
  }
})
