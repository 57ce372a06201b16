/**
 * What the index does, beyond what the contract checks: which bucket each glob lands in, that a
 * request only sees the candidates its anchors select, and that explain() reports it.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileMatcher, compileMatcherAsync } from '../../src/matcher/compile.js'
import { linearMatcher } from '../../src/matcher/linear.js'
import { PackedBuilder } from '../../src/matcher/packed.js'
import { simpleIndexing } from '../../src/matcher/program.js'
import { makeRules } from './rules.js'

const GET = 1,
  POST = 4
const s = suite('compileMatcher index')

const MIXED = makeRules([
  { id: 'about', match: '/about' }, // exact
  { id: 'products', match: '/products/*' }, // segment products
  { id: 'items', match: '/api/{v1,v2}/items/*' }, // segments api/v1 and api/v2
  { id: 'css', match: '/**/*.css' }, // ext css
  { id: 'assets', match: '/static/*.{js,css}' }, // segment static (one record per variant)
  { id: 'range', match: '/n/{1..3}' }, // a range expands: three exact keys
  { id: 'tops', match: '/{shop,store}' }, // two exact keys
  { id: 'alt', match: '/[ab]' }, // a class in the first segment: residual
  { id: 'star-first', match: '/*/edit' }, // residual
  { id: 'all', match: '/**', methods: ['POST'] }, // residual
])

s('sorts each glob into exact, segment, ext or residual', () => {
  const m = compileMatcher(MIXED)
  assert.equal({ ...m.stats }, { rules: 10, exact: 6, segment: 5, ext: 1, residual: 3 })
  assert.ok(Object.isFrozen(m.stats))
})

s('explain() names the bucket that served and the candidates it was given', () => {
  const m = compileMatcher(MIXED)
  const ex = (bit: number, path: string) => {
    const e = m.explain(bit, 'example.com', path)
    return [e.rule?.id ?? null, e.bucket, e.candidates]
  }
  // residual (3) is always consulted; the anchors add their own lists
  assert.equal(ex(GET, '/about'), ['about', 'exact', 1 + 3])
  assert.equal(ex(GET, '/ABOUT'), ['about', 'exact', 1 + 3])
  assert.equal(ex(GET, '/store'), ['tops', 'exact', 1 + 3])
  assert.equal(ex(GET, '/products/42'), ['products', 'segment', 1 + 3])
  assert.equal(ex(GET, '/api/v2/items/9'), ['items', 'segment', 1 + 3])
  assert.equal(ex(GET, '/static/app.css'), ['css', 'ext', 2 + 1 + 3])
  assert.equal(ex(GET, '/x/app.CSS'), ['css', 'ext', 1 + 3])
  assert.equal(ex(GET, '/n/2'), ['range', 'exact', 1 + 3])
  assert.equal(ex(GET, '/posts/edit'), ['star-first', 'residual', 3])
  assert.equal(ex(GET, '/a'), ['alt', 'residual', 3])
  assert.equal(ex(POST, '/about'), ['all', 'residual', 1 + 3])
  assert.equal(ex(GET, '/nothing/here'), [null, 'none', 3])
})

s('a request only scans the rules its first segment selects, whatever the rule count', () => {
  const specs = []
  for (let i = 0; i < 5000; i++) specs.push({ id: `s${i}`, match: `/s${i}/items/*` })
  specs.push({ id: 'catch-all', match: '/**' })
  const m = compileMatcher(makeRules(specs))
  assert.is(m.stats.segment, 5000)
  assert.is(m.stats.residual, 1)
  const e = m.explain(GET, '', '/S4321/items/7')
  assert.is(e.rule?.id, 's4321')
  assert.is(e.bucket, 'segment')
  assert.is(e.candidates, 2)
  assert.is(m.explain(GET, '', '/s4321/other').rule?.id, 'catch-all')
})

s('two literal segments key the rule by both: a request scans its first- and second-level lists', () => {
  const m = compileMatcher(
    makeRules([
      { id: 'a-any', match: '/a/**', methods: ['POST'] },
      { id: 'a-b', match: '/a/b/*' },
      { id: 'a-c', match: '/a/c/**' },
      { id: 'a-star', match: '/a/*' },
      { id: 'a-b-deep', match: '/a/B/**' },
    ]),
  )
  assert.equal({ ...m.stats }, { rules: 5, exact: 0, segment: 5, ext: 0, residual: 0 })
  const ex = (path: string) => {
    const e = m.explain(GET, '', path)
    return [e.rule?.id ?? null, e.candidates]
  }
  assert.equal(ex('/a/b/1'), ['a-b', 2 + 2])
  assert.equal(ex('/A/B/1/2'), ['a-b-deep', 2 + 2])
  assert.equal(ex('/a/c'), ['a-c', 2 + 1])
  assert.equal(ex('/a/d'), ['a-star', 2])
  assert.equal(ex('/a'), [null, 2])
  assert.equal(ex('/a//b'), [null, 2])
})

s('rules sharing an anchor keep declaration order inside the bucket', () => {
  const m = compileMatcher(
    makeRules([
      { id: 'post-only', match: '/p/**', methods: ['POST'] },
      { id: 'other-host', match: '/p/*', host: 'admin.example.com' },
      { id: 'deep', match: '/p/**/x' },
      { id: 'one', match: '/p/*' },
      { id: 'any', match: '/p/**' },
    ]),
  )
  assert.is(m.match(GET, 'www.example.com', '/p/1')?.id, 'one')
  assert.is(m.match(GET, 'admin.example.com', '/p/1')?.id, 'other-host')
  assert.is(m.match(GET, 'www.example.com', '/p/1/x')?.id, 'deep')
  assert.is(m.match(GET, 'www.example.com', '/p/1/2')?.id, 'any')
  assert.is(m.match(POST, 'www.example.com', '/p/1')?.id, 'post-only')
  assert.is(m.explain(GET, 'www.example.com', '/p/1').candidates, 5)
})

s('extension anchors allow the one trailing slash every glob allows', () => {
  const m = compileMatcher(
    makeRules([
      { id: 'png', match: '**/*.png' },
      { id: 'tgz', match: '/dl/**/*.tar.gz' },
    ]),
  )
  assert.is(m.stats.ext, 1)
  assert.is(m.explain(GET, '', '/a/b.png/').bucket, 'ext')
  assert.is(m.match(GET, '', '/a/b.png//'), undefined)
  assert.is(m.match(GET, '', '/dl/x/y.TAR.GZ')?.id, 'tgz')
})

s('a method no rule names short-cuts to no match', () => {
  const m = compileMatcher(makeRules([{ match: '/**' }]))
  assert.is(m.match(0, '', '/x'), undefined)
  assert.is(m.match(POST, '', '/x'), undefined)
  assert.is(m.explain(0, '', '/x').bucket, 'none')
})

s('the same glob in many rules compiles once and still answers per rule', () => {
  const m = compileMatcher(
    makeRules([
      { id: 'a', match: '/x/**', host: 'a.example.com' },
      { id: 'b', match: '/x/**', host: 'b.example.com' },
    ]),
  )
  assert.is(m.match(GET, 'a.example.com', '/x/1')?.id, 'a')
  assert.is(m.match(GET, 'b.example.com', '/x/1')?.id, 'b')
  assert.is(m.match(GET, 'c.example.com', '/x/1'), undefined)
})

s('linearMatcher reports every glob as one residual candidate', () => {
  const m = linearMatcher(MIXED)
  assert.equal({ ...m.stats }, { rules: 10, exact: 0, segment: 0, ext: 0, residual: 10 })
  assert.equal(m.explain(GET, '', '/about'), { rule: MIXED[0], bucket: 'linear', candidates: 10 })
})

s('the index answers as the linear oracle on edge paths', () => {
  const paths = [
    '/a',
    '/a/',
    '/a/b',
    '/A/B/',
    '/a/b/c',
    '/a/.x',
    '/a/..',
    '/a//b',
    '/a/b.css',
    '/a/B.CSS/',
    '/ab',
    '/x/a/b',
  ]
  const globs = [
    '/a/*',
    '/a/**',
    '/a/**/*.css',
    '/a/*.{css,js}',
    '/a/b',
    '/**/b',
    '/a/?',
    '/a/',
    '/a/!(b)',
    '/**/',
  ]
  for (const glob of globs) {
    const whole = compileMatcher(makeRules([{ match: glob }]))
    const lin = linearMatcher(makeRules([{ match: glob }]))
    for (const p of paths) assert.is(whole.match(GET, '', p)?.id, lin.match(GET, '', p)?.id, `${glob} ${p}`)
  }
})

s(
  'compileMatcherAsync lets the event loop run every few hundred rules, and answers as compileMatcher',
  async () => {
    // issue 12.8: 2,048 rules a slice, then the packing in one piece, held a 100k-rule reload 100-200 ms
    const specs = []
    for (let i = 0; i < 20_000; i++)
      specs.push({ id: `r${i}`, match: i % 3 === 0 ? `/a${i}/b/*` : i % 3 === 1 ? `/p/${i}` : `**/*.x${i}` })
    const rules = makeRules(specs)
    const real = globalThis.setImmediate
    let pauses = 0
    globalThis.setImmediate = ((cb: (...a: unknown[]) => void, ...args: unknown[]) => {
      pauses++
      return real(cb, ...args)
    }) as typeof setImmediate
    let m
    try {
      m = await compileMatcherAsync(rules)
    } finally {
      globalThis.setImmediate = real
    }
    // a pause every 256 rules (78), and more while packing; it was 9 (one every 2,048 rules)
    assert.ok(pauses >= 78, `compiling 20,000 rules paused ${pauses} times`)
    const whole = compileMatcher(rules)
    assert.equal({ ...m.stats }, { ...whole.stats })
    for (const p of ['/a3/b/c', '/A300/b/x', '/p/1', '/p/19999', '/q/r.x2', '/x.x19997', '/none'])
      assert.is(m.match(GET, '', p)?.id, whole.match(GET, '', p)?.id, p)
  },
)

s(
  'records that fill a chunk of the record stream exactly: the next one starts a chunk, and every rule still matches',
  () => {
    // every rule one record of one size (a fixed-width literal under its own two-segment key);
    // for some of these widths a chunk (65,536 ints) holds a whole number of records. Before the
    // fix the record after a filled chunk overwrote the chunk's first record and pointed past the
    // chunks: compiling threw (bench/matcher.ts at 10k rules did)
    for (let pad = 0; pad < 24; pad++) {
      const n = 9000
      const rules = makeRules(
        Array.from({ length: n }, (_, i) => ({
          id: `r${i}`,
          match: `/s/${'x'.repeat(pad)}${String(i).padStart(5, '0')}`,
        })),
      )
      const m = compileMatcher(rules)
      for (let i = 0; i < n; i += 7) {
        const path = `/s/${'x'.repeat(pad)}${String(i).padStart(5, '0')}`
        assert.is(m.match(GET, '', path)?.id, `r${i}`, path)
      }
      assert.is(m.match(GET, '', `/s/${'x'.repeat(pad)}99999`), undefined)
    }
  },
)

s('the index packing pauses every 16,384 nodes or records, and packs what build() packs', () => {
  const fill = (b: PackedBuilder) => {
    // 50,000 records (several chunks of the record stream) over 20,000 keys, some records long
    for (let r = 0; r < 50_000; r++) {
      const glob = r % 5 === 0 ? `/k${r % 20_000}/${'x'.repeat(r % 300)}/*.css` : `/k${r % 20_000}/p${r}`
      const ix = simpleIndexing(glob)!
      b.add(b.node(r % 4, `k${r % 20_000}`), r, 1, -1, ix.program, -1, 0)
    }
  }
  const a = new PackedBuilder()
  fill(a)
  const once = a.build(3)
  const b = new PackedBuilder()
  fill(b)
  const steps = b.buildSteps(3)
  let pauses = 0
  let step = steps.next()
  for (; !step.done; step = steps.next()) pauses++
  // two passes over 50,000 records, two over 20,000 nodes, one between: at least 3 + 1 + 3
  assert.ok(pauses >= 7, `packing paused ${pauses} times`)
  assert.ok(Buffer.from(step.value.data.buffer).equals(Buffer.from(once.data.buffer)), 'same data')
  assert.equal([...step.value.offsets], [...once.offsets])
})

s.run()
