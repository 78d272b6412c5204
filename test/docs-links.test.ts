import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

/** Every relative link in the Markdown a reader of the repository or the package sees must land inside it. */
const root = resolve(new URL('..', import.meta.url).pathname)
const pages = [
  ...readdirSync(root).filter((f) => f.endsWith('.md')),
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '')
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] as string)))
}

/** Link targets outside code: inline `[text](target)`, images, and `[ref]: target` definitions. */
function linksOf(page: string): string[] {
  const text = readFileSync(join(root, page), 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '')
  const inline = [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string)
  const refs = [...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1] as string)
  return [...inline, ...refs]
}

describe('links in README.md and docs/', () => {
  it('finds the pages and their links', () => {
    expect(pages).toEqual(expect.arrayContaining(['README.md', 'docs/api.md']))
    expect(linksOf('README.md').length).toBeGreaterThan(5)
  })

  for (const page of pages) {
    it(`${page}: every relative link points at a file in the repository (and an existing heading)`, () => {
      const broken: string[] = []
      for (const link of linksOf(page)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue // http:, https:, mailto: leave the repository on purpose
        const [path = '', anchor] = link.split('#')
        const target = path === '' ? join(root, page) : resolve(root, dirname(page), decodeURIComponent(path))
        if (relative(root, target).startsWith('..')) {
          broken.push(`${link} (outside the repository)`)
          continue
        }
        if (!existsSync(target)) {
          broken.push(`${link} (no such file)`)
          continue
        }
        if (anchor && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(target).has(anchor)) {
          broken.push(`${link} (no heading #${anchor})`)
        }
      }
      expect(broken).toEqual([])
    })
  }
})
