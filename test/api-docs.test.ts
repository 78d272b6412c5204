import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * docs/api.md is written by hand; this keeps it complete. What must be there is read from the
 * source, so a new export, option, method, error code or metric fails here until it is documented.
 */
const root = new URL('..', import.meta.url).pathname
const docs = readFileSync(join(root, 'docs/api.md'), 'utf8')

/** Everything the reference shows as code: `inline spans` (which may wrap a line) and fenced blocks. */
const code = [...docs.matchAll(/```[\s\S]*?```|`[^`]+`/g)].map((m) => m[0]).join('\n')
const documented = (name: string) => new RegExp(`(^|[^\\w$])${name.replace(/\$/g, '\\$')}([^\\w$]|$)`).test(code)

/** The package's entries ('corral', 'corral/mysql', ...) and the source file behind each. */
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { default: string }>
}
const entries = Object.entries(manifest.exports)
  .filter(([subpath]) => subpath !== './package.json')
  .map(([subpath, target]) => ({
    entry: subpath === '.' ? 'corral' : `corral/${subpath.slice(2)}`,
    file: join(
      root,
      (typeof target === 'string' ? target : target.default).replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'),
    ),
  }))

const config = ts.getParsedCommandLineOfConfigFile(
  join(root, 'tsconfig.json'),
  {},
  {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    },
  },
)
if (!config) throw new Error('tsconfig.json could not be read')
const program = ts.createProgram(
  entries.map((e) => e.file),
  { ...config.options, noEmit: true },
)
const checker = program.getTypeChecker()
const srcDir = join(root, 'src')
const fromSource = (decl: ts.Declaration) => !relative(srcDir, decl.getSourceFile().fileName).startsWith('..')

function resolved(symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
}

/** Members declared in our source (not inherited from Error or the standard library), public ones only. */
function ownMembers(type: ts.Type): ts.Symbol[] {
  return checker.getPropertiesOfType(type).filter((p) => {
    const decls = p.getDeclarations() ?? []
    if (decls.length === 0 || !decls.every(fromSource)) return false
    if (p.getName().startsWith('__#') || p.getName().startsWith('#')) return false
    return !decls.some(
      (d) =>
        (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 ||
        (ts.isPropertyDeclaration(d) || ts.isMethodDeclaration(d) ? ts.isPrivateIdentifier(d.name) : false),
    )
  })
}

/** Inline object types of an option (`timeout: { soft, hard }`): their keys are options too. */
function nestedOptionNames(option: ts.Symbol, path: string): string[] {
  const decl = option.valueDeclaration ?? option.getDeclarations()?.[0]
  if (!decl) return []
  const type = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(option, decl))
  const parts = type.isUnion() ? type.types : [type]
  const names: string[] = []
  for (const part of parts) {
    if (!(part.flags & ts.TypeFlags.Object)) continue
    const symbol = part.getSymbol()
    if (symbol?.getName() !== '__type' || part.getCallSignatures().length > 0) continue
    for (const p of ownMembers(part)) names.push(`${path}.${p.getName()}`)
  }
  return names
}

interface Surface {
  exports: string[]
  options: string[]
  members: string[]
  codes: string[]
}

function surfaceOf(file: string): Surface {
  const source = program.getSourceFile(file)
  if (!source) throw new Error(`${file} is not in the program`)
  const moduleSymbol = checker.getSymbolAtLocation(source)
  if (!moduleSymbol) throw new Error(`${file} has no exports`)
  const surface: Surface = { exports: [], options: [], members: [], codes: [] }
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const name = exported.getName()
    surface.exports.push(name)
    const symbol = resolved(exported)
    const isType = symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class)
    if (!isType) continue
    const type = checker.getDeclaredTypeOfSymbol(symbol)
    const members = ownMembers(type)
    if (/Options$/.test(name)) {
      for (const m of members) surface.options.push(m.getName(), ...nestedOptionNames(m, m.getName()))
    } else {
      for (const m of members) surface.members.push(`${name}.${m.getName()}`)
    }
    // A stable error code (`readonly code = 'CORRAL_...'`) is part of the contract.
    for (const decl of symbol.getDeclarations() ?? []) {
      if (!ts.isClassDeclaration(decl)) continue
      for (const member of decl.members) {
        if (
          ts.isPropertyDeclaration(member) &&
          member.name.getText() === 'code' &&
          member.initializer &&
          ts.isStringLiteralLike(member.initializer)
        )
          surface.codes.push(member.initializer.text)
      }
    }
  }
  return surface
}

/** Every metric name the source registers. */
function metricNames(): string[] {
  const names = new Set<string>()
  const walk = (dir: string) => {
    for (const item of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, item.name)
      if (item.isDirectory()) walk(path)
      else if (item.name.endsWith('.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/['"`](corral_[a-z0-9_]+)['"`]/g)) names.add(m[1] as string)
    }
  }
  walk(srcDir)
  return [...names].sort()
}

describe('docs/api.md', () => {
  for (const { entry, file } of entries) {
    describe(entry, () => {
      const surface = surfaceOf(file)

      it('documents every export', () => {
        expect(surface.exports.length).toBeGreaterThan(0)
        expect(surface.exports.filter((name) => !documented(name))).toEqual([])
      })

      it('documents every option of every *Options type, nested ones included', () => {
        const missing = surface.options.filter((path) => !documented(path.split('.').at(-1) as string))
        expect(missing).toEqual([])
      })

      it('documents every public method and field of the exported classes and interfaces', () => {
        expect(surface.members.filter((path) => !documented(path.split('.').at(-1) as string))).toEqual([])
      })

      it('documents every error code', () => {
        expect(surface.codes.filter((c) => !documented(c))).toEqual([])
      })
    })
  }

  it('documents every metric', () => {
    const names = metricNames()
    expect(names).toContain('corral_requests_total')
    expect(names.filter((name) => !documented(name))).toEqual([])
  })

  it('the checks see what they should: the options of createCache are among those read', () => {
    const options = surfaceOf(entries[0]?.file as string).options
    for (const name of ['ttl', 'grace', 'lock', 'l1', 'invalidateAsStale', 'serializer', 'timeout.soft'])
      expect(options).toContain(name)
    expect(options).toContain('breaker.cooldown')
  })
})
