/**
 * No README link points outside the package (issue 10 item 4): the README is read on the
 * registry's page and in node_modules/cachet, where only the packed files exist. Every link is
 * an anchor of the README, or a relative path to a file `npm pack` includes (a `#fragment` into
 * a packed markdown file must name one of its headings); no absolute URL.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { packCachet, ROOT } from '../helpers/packed.js'

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const out = new Set<string>()
  let inFence = false
  for (const l of markdown.split('\n')) {
    if (/^```/.test(l)) inFence = !inFence
    const h = inFence ? null : /^#{1,6} +(.+?) *#*$/.exec(l)
    if (!h) continue
    const text = (h[1] as string).replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-')
    let slug = base
    for (let n = 1; out.has(slug); n++) slug = `${base}-${n}`
    out.add(slug)
  }
  return out
}

/** Every link target outside code: inline links and images, reference definitions, HTML href/src. */
export function links(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = []
  let inFence = false
  markdown.split('\n').forEach((raw, i) => {
    if (/^```/.test(raw)) {
      inFence = !inFence
      return
    }
    if (inFence) return
    const l = raw.replace(/`[^`]*`/g, '``')
    for (const m of l.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ target: m[1] as string, line: i + 1 })
    const ref = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(l)
    if (ref) out.push({ target: ref[1] as string, line: i + 1 })
    for (const m of l.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g))
      out.push({ target: m[1] as string, line: i + 1 })
  })
  return out
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

test('the link finder sees inline links, images, references and HTML, not code', () => {
  const md = [
    '[a](#x) ![b](docs/y.png "t") `[c](nope)`',
    '[d]: https://example.com',
    '<a href="LICENSE">l</a>',
    '```',
    '[e](inside-a-fence)',
    '```',
  ].join('\n')
  assert.equal(
    links(md).map((x) => x.target),
    ['#x', 'docs/y.png', 'https://example.com', 'LICENSE'],
  )
  assert.equal([...anchors('# A b\n## `x` y, z!\n## A b\n')], ['a-b', 'x-y-z', 'a-b-1'])
})

test('every README link stays inside the package', async () => {
  const packed = await packCachet()
  const files = new Set(packed.files)
  const own = anchors(README)
  const bad: string[] = []
  for (const { target, line } of links(README)) {
    const at = `README.md:${line}: ${target}`
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) {
      bad.push(`${at}: an absolute URL (outside the package)`)
      continue
    }
    const [path, fragment] = target.split('#') as [string, string | undefined]
    if (path === '') {
      if (!own.has(fragment ?? '')) bad.push(`${at}: no such heading in README.md`)
      continue
    }
    const file = decodeURI(path).replace(/^\.\//, '').replace(/\/$/, '')
    const isDir = [...files].some((f) => f.startsWith(`${file}/`))
    if (!files.has(file) && !isDir) {
      bad.push(`${at}: not in the package (package.json "files")`)
      continue
    }
    if (fragment && file.endsWith('.md')) {
      if (!anchors(readFileSync(join(ROOT, file), 'utf8')).has(fragment))
        bad.push(`${at}: no such heading in ${file}`)
    }
  }
  assert.equal(bad, [])
})

test.run()
