import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = new URL('../src/', import.meta.url).pathname

async function sources(): Promise<{ file: string; text: string }[]> {
  const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(SRC, file), 'utf8') })))
}

const importsOf = (text: string) => [...text.matchAll(/^(?:import|export)[^'"]*from\s+'([^']+)'/gm)].map((m) => m[1])

describe('source layout', () => {
  it('only src/redis/ and the public exports import from src/redis/', async () => {
    const crossing: string[] = []
    for (const { file, text } of await sources()) {
      if (file.startsWith('redis/') || file === 'index.ts') continue
      for (const from of importsOf(text)) if (from?.includes('redis/')) crossing.push(`${file} -> ${from}`)
    }
    expect(crossing).toEqual([])
  })

  it('no ioredis or redlock outside src/redis/', async () => {
    const found: string[] = []
    for (const { file, text } of await sources()) {
      if (file.startsWith('redis/')) continue
      for (const from of importsOf(text)) if (from === 'ioredis' || from === 'redlock') found.push(`${file} -> ${from}`)
    }
    expect(found).toEqual([])
  })

  it('outside a store, nothing asks which store it runs on', async () => {
    const tests: string[] = []
    for (const { file, text } of await sources()) {
      if (file.startsWith('redis/') || file.startsWith('stores/')) continue
      for (const match of text.matchAll(/instanceof\s+(\w*Store)\b/g)) tests.push(`${file}: ${match[0]}`)
    }
    expect(tests).toEqual([])
  })

  it('errors are told apart by class, never by name', async () => {
    const byName: string[] = []
    for (const { file, text } of await sources()) {
      for (const match of text.matchAll(/\.name\s*[!=]==\s*'\w*Error'/g)) byName.push(`${file}: ${match[0]}`)
    }
    expect(byName).toEqual([])
  })
})
