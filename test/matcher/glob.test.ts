/**
 * The glob engine (src/matcher/glob.ts) on its own: what each construct matches, what is refused
 * and where, and a differential test against micromatch on the part of the language both read the
 * same way (the deviations are documented in docs/policy-format.md "Globs").
 */
import micromatch from 'micromatch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  compileGlob,
  compileGlobUncached,
  compileNameGlob,
  GlobError,
  globProblem,
  globstarFolder,
  hasDotSegment,
  literalFolder,
  literalPrefix,
  MAX_BRACE_VARIANTS,
  testBySegments,
} from '../../src/matcher/glob.js'
import { Gen } from './random.js'

const s = suite('glob engine')

/** [glob, path, matches?] */
const TABLE: [string, string, boolean][] = [
  // literal, case-insensitive, one optional trailing slash
  ['/about', '/about', true],
  ['/about', '/ABOUT', true],
  ['/about', '/about/', true],
  ['/about', '/about//', false],
  ['/about', '/about/x', false],
  ['/about/', '/about/', true],
  ['/about/', '/about', false],
  // `*`: one non-empty segment
  ['/p/*', '/p/1', true],
  ['/p/*', '/p/1/', true],
  ['/p/*', '/p/', false],
  ['/p/*', '/p', false],
  ['/p/*', '/p//', false],
  ['/p/*', '/p/1/2', false],
  ['/p/*', '/p/.env', true],
  ['/p/*.css', '/p/a.min.css', true],
  ['/p/*.css', '/p/.css', true],
  ['/p/*.css', '/p/a.cssx', false],
  ['/p/a*b*c', '/p/aXbYc', true],
  ['/p/a*b*c', '/p/aXbYcZ', false],
  ['/p/**x', '/p/ax', true],
  ['/p/**x', '/p/a/x', false],
  // `**`: any number of segments, empty ones too, and the bare prefix
  ['/p/**', '/p', true],
  ['/p/**', '/p/', true],
  ['/p/**', '/p/a/b/c', true],
  ['/p/**', '/p//a', true],
  ['/p/**', '/px', false],
  ['/**/*.css', '/a.css', true],
  ['/**/*.css', '/a/b/c.css', true],
  ['/a/**/b', '/a/b', true],
  ['/a/**/b', '/a/x/y/b', true],
  ['/a/**/b', '/a/x/y/c', false],
  ['**', '/', true],
  ['**', '/a/b', true],
  ['**/*.png', '/b.png', true],
  ['/**', '/', true],
  ['/**/**/x', '/x', true],
  ['/*/*/**', '/a', false],
  ['/*/*/**', '/a/b', true],
  // `.` and `..` segments match no glob at all
  ['/**', '/a/../b', false],
  ['/**', '/.', false],
  ['/p/*', '/p/..', false],
  ['/**', '/a/.../b', true],
  // `?` and classes
  ['/v?', '/v1', true],
  ['/v?', '/v', false],
  ['/v?', '/v12', false],
  ['/[ab]', '/B', true],
  ['/[!ab]', '/B', false],
  ['/[^ab]', '/c', true],
  ['/[a-c]x', '/Bx', true],
  ['/[a-c]x', '/dx', false],
  ['/[]]', '/]', true],
  ['/[!/]', '//', false],
  ['/[[:digit:]][[:alpha:]]', '/1z', true],
  ['/[[:digit:]][[:alpha:]]', '/zz', false],
  ['/[é]', '/É', true],
  // braces, ranges, extglobs
  ['/{a,b}/x', '/b/x', true],
  ['/{a,b}/x', '/c/x', false],
  ['/x{,-old}', '/x', true],
  ['/x{,-old}', '/x-old', true],
  ['/{a,{b,c}d}', '/cd', true],
  ['/n/{1..3}', '/n/3', true],
  ['/n/{1..3}', '/n/4', false],
  ['/n/{3..1}', '/n/2', true],
  ['/n/{01..10}', '/n/07', true],
  ['/n/{01..10}', '/n/7', false],
  ['/n/{0..10..5}', '/n/5', true],
  ['/n/{0..10..5}', '/n/6', false],
  ['/n/{a..c}', '/n/B', true],
  ['/@(a|b)x', '/bx', true],
  ['/?(a|b)x', '/x', true],
  ['/?(a|b)x', '/ax', true],
  ['/?(a|b)x', '/abx', false],
  ['/shop/!(cart|checkout)/*', '/shop/shoes/1', true],
  ['/shop/!(cart|checkout)/*', '/shop/CART/1', false],
  ['/!(*.css)', '/a.js', true],
  ['/!(*.css)', '/a.css', false],
  ['/x/!(a)', '/x/', false],
  // escapes and characters that are not syntax
  ['/a\\*b', '/a*b', true],
  ['/a\\*b', '/aXb', false],
  ['/a\\{b\\}', '/a{b}', true],
  ['/@scope/+x!y,z', '/@scope/+x!y,z', true],
  ['/a]', '/a]', true],
  // non-ASCII folds like a non-unicode `i` RegExp: never to ASCII
  ['/café', '/CAFÉ', true],
  ['/k', '/\u212a', false],
  ['/s', '/\u017f', false],
]

s('each construct matches what docs/policy-format.md says', () => {
  for (const [glob, path, want] of TABLE) assert.is(compileGlob(glob).test(path), want, `${glob} ${path}`)
})

s('the shape shortcuts answer as the segment walk does', () => {
  const g = new Gen(7)
  const segs = ['', 'a', 'B', '*', '**', '*.css', 'x?', '[ab]*', '!(a)', '{a,b}c']
  const paths = [
    '',
    '/',
    '//',
    '/a',
    '/A/',
    '/a/b',
    '/a//b',
    '/a/b/',
    '/x.css',
    '/a/b/c.CSS',
    '/ac/bc',
    '/bc',
    'a',
    'a/b',
  ]
  for (let i = 0; i < 4000; i++) {
    const n = 1 + g.int(4)
    const parts = Array.from({ length: n }, () => g.pick(segs))
    const text = (g.chance(0.85) ? '/' : '') + parts.join('/')
    let glob
    try {
      glob = compileGlob(text)
    } catch {
      continue
    }
    for (const p of paths) assert.is(glob.test(p), testBySegments(glob, p), `${text} ${JSON.stringify(p)}`)
    const host = globProblem(parts.join('.'), 'host') ? null : compileGlob(parts.join('.'), 'host')
    for (const h of ['a', 'a.b', 'b.a.css', ''])
      if (host !== null) assert.is(host.test(h), testBySegments(host, h), `${host.source} ${h}`)
  }
})

s('host globs: no trailing-slash rule, * spans dots', () => {
  const g = compileGlob('*.example.com', 'host')
  assert.ok(g.test('www.example.com'))
  assert.ok(g.test('a.b.example.com'))
  assert.not.ok(g.test('example.com'))
  assert.not.ok(compileGlob('example.com', 'host').test('example.com/'))
  assert.ok(compileGlob('{www,api}.example.com', 'host').test('api.example.com'))
})

/** [glob, message fragment, 0-based offset] */
const REFUSED: [string, RegExp, number][] = [
  ['', /empty glob/, 0],
  ['/a/[b', /"\[" is never closed/, 3],
  ['/a/{b', /"\{" is never closed/, 3],
  ['/a/(b', /"\(" is never closed/, 3],
  ['/a/b}', /"\}" closes nothing/, 4],
  ['/a/b)', /"\)" closes nothing/, 4],
  ['/a\\', /trailing "\\"/, 2],
  ['/a|/b', /"\|" outside/, 2],
  ['/(a)', /"\(" outside/, 1],
  ['!/a/**', /leading "!"/, 0],
  ['/a/+(x)', /repetition/, 3],
  ['/a/*(x)', /repetition/, 3],
  ['/a-!(x)', /whole path segment/, 3],
  ['/!(a/b)', /cannot contain "\/"/, 4],
  ['/!({a,b})', /cannot contain braces/, 3],
  ['/a/{b}', /braces need a comma/, 3],
  ['/a/./b', /cannot name a "\." segment/, 3],
  ['/a/..', /cannot name a "\.\." segment/, 3],
  ['/[z-a]', /backwards/, 1],
  ['/[[:nope:]]', /unknown class/, 2],
  ['/n/{1..65}', /65 variants, more than 64/, 3],
  [`/${'{a,b}'.repeat(7)}`, /128 variants/, 1],
  [`/${'{'.repeat(17)}a${'}'.repeat(17)}`, /nest deeper than 16/, 17],
  [`/${'x'.repeat(1024)}`, /at most 1024 characters/, 1024],
]

s('what is refused says why and where', () => {
  for (const [glob, re, offset] of REFUSED) {
    const err = globProblem(glob)
    assert.ok(err instanceof GlobError, `${glob} must be refused`)
    assert.match(err!.message, re, glob)
    assert.is(err!.offset, offset, `${glob}: offset`)
    assert.match(err!.message, new RegExp(`\\(at character ${offset + 1}\\)$`))
  }
})

s('a brace bomb is refused from its count, before a variant is built', () => {
  // 2^25 variants by micromatch's reading would need gigabytes; counting costs the parse only
  const bomb = `/${'{a,b}'.repeat(25)}`
  assert.match(globProblem(bomb)!.message, /33554432 variants/)
  const huge = `/${'{1..99999}'.repeat(40)}`
  assert.match(globProblem(huge)!.message, /more than 2\^53 variants/)
  assert.is(compileGlob(`/${'{a,b}'.repeat(6)}`).variants.length, MAX_BRACE_VARIANTS)
})

s('variants are de-duplicated and written back with escapes', () => {
  assert.equal(
    compileGlob('/{a,a,b\\*}/x').variants.map((v) => v.text),
    ['/a/x', '/b\\*/x'],
  )
  const [v] = compileGlob('/API/v1/*').variants
  assert.is(v!.key, '/api/v1/*')
  assert.is(v!.literal, false)
  assert.ok(compileGlob('/A/b').variants[0]!.literal)
})

s('structural helpers: folder, prefix, ** folder', () => {
  const v = (g: string) => compileGlob(g).variants[0]!
  assert.is(literalFolder(v('/API/products/*')), '/api/products')
  assert.is(literalFolder(v('/**')), '')
  assert.is(literalFolder(v('/a/b')), '/a/b')
  assert.is(literalPrefix(v('/Api/x*')), '/api/x')
  assert.is(literalPrefix(v('/api/**')), '/api')
  assert.is(literalPrefix(v('/caf\u00e9/x')), '/caf')
  assert.is(literalPrefix(v('**/*.css')), '')
  assert.equal(globstarFolder(v('/P/**')), ['', 'p'])
  assert.equal(globstarFolder(v('/**')), [''])
  assert.equal(globstarFolder(v('**')), [])
  assert.is(globstarFolder(v('/*/**')), undefined)
  assert.is(globstarFolder(v('/a/**/b')), undefined)
})

s('hasDotSegment', () => {
  for (const p of ['/.', '/..', '/a/./b', '/a/../b', '/a/..', '.', '..', './a'])
    assert.ok(hasDotSegment(p), p)
  for (const p of ['/', '/.env', '/a.b', '/...', '/a/b.', '/..a', '/a..']) assert.not.ok(hasDotSegment(p), p)
})

s('matching stays linear on hostile globs (issue 12 item 3): results, not timings', () => {
  // by micromatch's RegExps these took seconds; here each test is a few thousand steps
  const neg = compileGlob('/!(a*a*a*a*b)')
  assert.ok(neg.test(`/${'a'.repeat(351)}`))
  assert.not.ok(neg.test(`/${'a'.repeat(350)}b`))
  const stars = compileGlob(`/**${'//**'.repeat(26)}`)
  assert.not.ok(stars.test(`/${'a/'.repeat(39)}x`))
  assert.ok(stars.test(`/a${'//'.repeat(26)}x`))
  const many = compileGlob(`/${'*a'.repeat(40)}b`)
  assert.not.ok(many.test(`/${'a'.repeat(5000)}`))
  assert.ok(many.test(`/${'a'.repeat(5000)}b`))
})

s('query-name globs: * and ? only, case-sensitive, never invalid', () => {
  const utm = compileNameGlob('utm_*')
  assert.ok(utm.test('utm_'))
  assert.ok(utm.test('utm_source'))
  assert.not.ok(utm.test('UTM_source'))
  assert.ok(compileNameGlob('q[*').test('q[x]'))
  assert.not.ok(compileNameGlob('q[*').test('qx'))
  assert.ok(compileNameGlob('f?lter[*]').test('filter[color]'))
  assert.ok(compileNameGlob('*').test(''))
  assert.not.ok(compileNameGlob('a?').test('a'))
})

// Differential: on globs of literal segments, `*`, `?`, `**` segments, `{a,b}` lists and `[ab]`
// classes, and on clean paths (no empty or dot segment, no trailing `/`, ASCII), the engine and
// micromatch.makeRe (dot, nocase) agree, except where docs/policy-format.md says they differ: a
// leading `/**/` also matches zero segments here, and picomatch loses matches when one glob has two
// `**` (`/*.css/**/x.css*/**` misses `/x.css/a/b/x.css`) or a last `/**` follows a wildcard
// segment (`/a*/**` misses `/ab`), so these globs have at most one `**`, neither first nor last.
s('agrees with micromatch on the shared part of the language', () => {
  const g = new Gen(20261203)
  const words = ['a', 'b', 'api', 'v1', 'x.css', 'item-1', '.env', 'A', 'ab']
  const piece = () =>
    g.pick([
      () => g.pick(words),
      () => '*',
      () => `${g.pick(words)}*`,
      () => `*.${g.pick(['css', 'js'])}`,
      () => `v?`,
      () => `{${g.pick(words)},${g.pick(words)}}`,
      () => '[ab]*',
    ])()
  let checked = 0
  for (let i = 0; i < 3000; i++) {
    const parts: string[] = []
    const n = 1 + g.int(4)
    let globstars = 0
    for (let k = 0; k < n; k++) {
      const star = k > 0 && k < n - 1 && globstars === 0 && g.chance(0.3)
      if (star) globstars++
      parts.push(star ? '**' : piece())
    }
    const glob = `/${parts.join('/')}`
    const re = micromatch.makeRe(glob, { dot: true, nocase: true })
    const ours = compileGlob(glob)
    for (let q = 0; q < 20; q++) {
      const segs: string[] = []
      const m = 1 + g.int(5)
      for (let k = 0; k < m; k++) segs.push(g.pick([...words, 'v2', 'zz.js', 'Ab', 'b.CSS']))
      const path = `/${segs.join('/')}`
      assert.is(ours.test(path), re.test(path), `${glob} ${path}`)
      checked++
    }
  }
  assert.is(checked, 60000)
})

/** a Glob's variants as plain data (typed arrays spelled out), for deep comparison */
function shape(source: string, kind: 'path' | 'host', simple: boolean): string {
  try {
    const g = compileGlobUncached(source, kind, simple)
    return JSON.stringify(g.variants, (_k, v) => (v instanceof Int32Array ? [...v] : v))
  } catch (err) {
    return `throws ${(err as Error).message}`
  }
}

s('simple globs (no class, brace or group) compile straight from their text to what the parser makes', () => {
  const g = new Gen(20261203)
  const PARTS = [
    '',
    'a',
    'Api',
    'x-y_z',
    '*',
    '**',
    '***',
    '*.css',
    'a*b**c',
    '.',
    '..',
    '.env',
    '%20',
    '~u',
    'é',
    'İ',
    '\u212a',
    'ß*',
  ]
  let n = 0
  for (let i = 0; i < 4000; i++) {
    const parts = Array.from({ length: 1 + g.int(5) }, () => g.pick(PARTS))
    const source = (g.int(4) === 0 ? '' : '/') + parts.join('/')
    if (source === '') continue
    for (const kind of ['path', 'host'] as const) {
      assert.is(shape(source, kind, true), shape(source, kind, false), `${kind} ${JSON.stringify(source)}`)
      n++
    }
  }
  assert.ok(n > 7000)
})

s.run()
