/**
 * Seeded generators for the randomised equivalence test: overlapping rule sets built from a small
 * vocabulary (so rules collide and shadow each other) and request paths full of edge cases
 * (trailing slash, empty and dot segments, upper case, bare prefixes, `/`, non-ASCII folds).
 */
import { compileGlob } from '../../src/matcher/glob.js'
import type { RuleSpec } from './rules.js'

/** mulberry32: small, fast, reproducible */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class Gen {
  readonly #r: () => number
  constructor(seed: number) {
    this.#r = rng(seed)
  }
  float(): number {
    return this.#r()
  }
  int(n: number): number {
    return Math.floor(this.#r() * n)
  }
  chance(p: number): boolean {
    return this.#r() < p
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  /** flips the case of some letters */
  mixCase(s: string): string {
    if (!this.chance(0.25)) return s
    let out = ''
    for (const c of s) out += this.chance(0.5) ? c.toUpperCase() : c
    return out
  }
}

const SEGMENTS = [
  'a',
  'b',
  'api',
  'v1',
  'v2',
  'products',
  'static',
  'x.css',
  'app.js',
  '@scope',
  '.env',
  'café',
  'a+b',
  'item-1',
  '42',
]
const EXTS = ['css', 'js', 'png', 'min.css', 'gz', 'html']
const PATH_TOKENS = [
  ...SEGMENTS,
  'A',
  'API',
  'Products',
  '',
  '.',
  '..',
  '...',
  'index.html',
  'b.min.CSS',
  'x.png',
  'q.gz',
  'x',
  '\u212Aey',
  '\u017Ftatic',
  '\u0130',
  'é',
  'v?',
  'a b',
  '%41',
  'x.',
  '.css',
  'ab',
  'ba',
  'v3',
  '1',
  '2',
  '3',
  'c',
]

/** one glob piece (a path segment or part of one) */
function piece(g: Gen): string {
  switch (g.int(16)) {
    case 0:
      return '*'
    case 1:
      return '**'
    case 2:
      return `{${g.pick(SEGMENTS)},${g.pick(SEGMENTS)}}`
    case 3:
      return `*.${g.pick(EXTS)}`
    case 4:
      return `*.{${g.pick(EXTS)},${g.pick(EXTS)}}`
    case 5:
      return g.pick([
        'v?',
        '[ab]',
        '@(a|b)',
        '@(api)',
        '?(a|b)x',
        '[!a]*',
        '[[:digit:]]',
        '\\*',
        '{1..3}',
        '{,a}',
        '{a,{b,c}d}',
        'a*',
        '*a',
        '{a,b/c}',
        'x.{1..2}',
      ])
    default:
      return g.mixCase(g.pick(SEGMENTS))
  }
}

export function randomGlob(g: Gen): string {
  switch (g.int(24)) {
    case 0:
      return g.pick(['/**', '**', '/*', '*', '/', '/**/*', '**/*'])
    case 1:
      return `/**/*.${g.pick(EXTS)}`
    case 2:
      return `**/*.${g.pick(EXTS)}`
    case 3:
      return `*.${g.pick(EXTS)}`
    case 4:
      return g.pick([
        '!/a/**',
        '/a|/b',
        '/a/!(b|c)/*',
        '/!(api)/**',
        '/a/!(*.css)',
        '/a/\\*',
        '/a/**/b',
        '/{a,b}',
        '//a',
        '/a/../b',
        '/{a,}/x',
        '/**/**/x',
        '/*/*/**',
        '/{a,b/**}/c',
        '/[a-c]*/*.{css,js}',
      ])
    default: {
      const n = 1 + g.int(3)
      const parts: string[] = []
      for (let i = 0; i < n; i++) parts.push(piece(g))
      let glob = (g.chance(0.92) ? '/' : '') + parts.join('/')
      if (g.chance(0.08)) glob += '/'
      return glob
    }
  }
}

export function randomRules(g: Gen, count: number): RuleSpec[] {
  const specs: RuleSpec[] = []
  for (let i = 0; i < count; i++) {
    const match = g.chance(0.2) ? [randomGlob(g), randomGlob(g)] : [randomGlob(g)]
    const host = g.chance(0.7)
      ? null
      : g.pick(['example.com', '*.example.com', 'API.example.com', '**', '*', 'www.*'])
    const methods = g.chance(0.7)
      ? undefined
      : g.pick([['GET'], ['POST'], ['GET', 'POST'], ['PUT', 'DELETE'], ['HEAD'], []])
    specs.push(methods === undefined ? { match, host } : { match, host, methods })
  }
  return specs
}

/** A path that the glob is likely (not certain) to accept: a crude instantiation of its syntax. */
function instantiate(g: Gen, glob: string): string {
  let variants: string[]
  try {
    variants = compileGlob(glob).variants.map((v) => v.text)
  } catch {
    variants = [glob]
  }
  let s = g.pick(variants)
  s = s.replace(/\*\*/g, () => Array.from({ length: g.int(3) }, () => g.pick(PATH_TOKENS)).join('/'))
  s = s.replace(/\*/g, () => g.pick(['', 'x', 'Item', '.hidden', '42', 'a.b']))
  s = s.replace(/\?/g, () => g.pick(['1', 'X']))
  s = s.replace(/\[ab\]/g, () => g.pick(['a', 'B']))
  s = s.replace(/\[!a\]/g, () => g.pick(['a', 'B', 'c']))
  s = s.replace(/\[\[:digit:\]\]/g, () => g.pick(['7', 'x']))
  s = s.replace(/\[a-c\]/g, () => g.pick(['a', 'C', 'd']))
  s = s.replace(/!\(([^)|]*)(?:\|[^)]*)?\)/g, (_m, a: string) => g.pick([a, 'other', 'B']))
  s = s.replace(/\\(.)/g, '$1')
  if (!s.startsWith('/') && g.chance(0.8)) s = `/${s}`
  return g.mixCase(s)
}

export function randomPath(g: Gen, globs: readonly string[]): string {
  if (globs.length > 0 && g.chance(0.5)) {
    let p = instantiate(g, g.pick(globs))
    if (g.chance(0.1)) p += '/'
    return p
  }
  switch (g.int(10)) {
    case 0:
      return g.pick([
        '/',
        '',
        '//',
        '/.',
        '/..',
        '/./',
        '/a/',
        '/A',
        '/api',
        '/API/',
        '/products',
        '/static/',
      ])
    default: {
      const n = 1 + g.int(4)
      let p = ''
      for (let i = 0; i < n; i++) p += `/${g.mixCase(g.pick(PATH_TOKENS))}`
      if (g.chance(0.2)) p += `.${g.mixCase(g.pick(EXTS))}`
      if (g.chance(0.12)) p += '/'
      return p
    }
  }
}

export const HOSTS = [
  '',
  'example.com',
  'api.example.com',
  'www.example.com',
  'a.b.example.com',
  'example.org',
]
export const METHOD_BITS_SAMPLE = [1, 1, 1, 1, 2, 4, 8, 32, 64, 0]
