/**
 * matcherContract(compile): the hand-written first-match cases every Matcher must pass (hono's
 * `runTest({ newRouter })` pattern). Run against the indexed matcher and the linear oracle in
 * first-match.test.ts; equivalence.test.ts then checks the two agree on random rule sets.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Matcher } from '../../src/matcher/matcher.js'
import { methodBit, type Rule } from '../../src/policy/types.js'
import { makeRules, type RuleSpec } from './rules.js'

/** [method, host, path, expected rule id or null] */
type Request = readonly [string, string, string, string | null]

interface Case {
  readonly name: string
  readonly rules: readonly RuleSpec[]
  readonly requests: readonly Request[]
}

const H = 'www.example.com'

export const CASES: readonly Case[] = [
  {
    name: 'declaration order wins over specificity',
    rules: [
      { id: 'all-products', match: '/products/**' },
      { id: 'product-42', match: '/products/42' },
      { id: 'css', match: '/**/*.css' },
      { id: 'catch-all', match: '/**' },
    ],
    requests: [
      ['GET', H, '/products/42', 'all-products'],
      ['GET', H, '/products/x.css', 'all-products'],
      ['GET', H, '/assets/x.css', 'css'],
      ['GET', H, '/about', 'catch-all'],
    ],
  },
  {
    name: 'a specific rule declared first wins over a later broad one',
    rules: [
      { id: 'product-42', match: '/products/42' },
      { id: 'all-products', match: '/products/**' },
    ],
    requests: [
      ['GET', H, '/products/42', 'product-42'],
      ['GET', H, '/products/43', 'all-products'],
      ['GET', H, '/products', 'all-products'],
    ],
  },
  {
    name: 'a literal glob matches itself; other paths: undefined',
    rules: [{ id: 'about', match: '/about' }],
    requests: [
      ['GET', H, '/contact', null],
      // one trailing `/` is allowed for every glob, literal ones included; two are not
      ['GET', H, '/about/', 'about'],
      ['GET', H, '/about//', null],
      ['GET', H, '/aboutx', null],
      ['GET', H, '/about/x', null],
      ['GET', H, '/', null],
    ],
  },
  {
    name: 'an empty rule list matches nothing',
    rules: [],
    requests: [
      ['GET', H, '/', null],
      ['GET', '', '/x', null],
    ],
  },
  {
    name: 'methods: the bitmask decides, the default is GET and HEAD',
    rules: [
      { id: 'writes', match: '/api/**', methods: ['POST', 'PUT', 'PATCH', 'DELETE'] },
      { id: 'reads', match: '/api/**' },
      { id: 'options', match: '/**', methods: ['OPTIONS'] },
      { id: 'never', match: '/**', methods: [] },
    ],
    requests: [
      ['GET', H, '/api/items/1', 'reads'],
      ['HEAD', H, '/api/items/1', 'reads'],
      ['POST', H, '/api/items', 'writes'],
      ['DELETE', H, '/api/items/1', 'writes'],
      ['OPTIONS', H, '/api/items', 'options'],
      ['OPTIONS', H, '/', 'options'],
      ['GET', H, '/other', null],
      ['TRACE', H, '/api/items', null],
      ['get', H, '/api/items', null],
    ],
  },
  {
    name: 'host globs: wildcard subdomain, literal host, none',
    rules: [
      { id: 'sub', match: '/x/**', host: '*.example.com' },
      { id: 'apex', match: '/x/**', host: 'example.com' },
      { id: 'upper', match: '/y', host: 'API.Example.COM' },
      { id: 'any', match: '/x/**' },
    ],
    requests: [
      ['GET', 'api.example.com', '/x/1', 'sub'],
      // `*` stops only at `/`, so it spans dots: deeper subdomains match too
      ['GET', 'a.b.example.com', '/x/1', 'sub'],
      ['GET', 'example.com', '/x/1', 'apex'],
      ['GET', 'example.org', '/x/1', 'any'],
      ['GET', 'evil-example.com', '/x/1', 'any'],
      ['GET', '', '/x/1', 'any'],
      ['GET', 'api.example.com', '/y', 'upper'],
      ['GET', 'www.example.com', '/y', null],
      ['GET', '', '/y', null],
    ],
  },
  {
    name: 'braces expand into alternatives of one rule',
    rules: [
      { id: 'items', match: '/api/{v1,v2}/items/*' },
      { id: 'assets', match: '/static/*.{js,css}' },
      { id: 'tops', match: '/{shop,store}' },
    ],
    requests: [
      ['GET', H, '/api/v1/items/3', 'items'],
      ['GET', H, '/api/v2/items/3', 'items'],
      ['GET', H, '/API/V2/items/3', 'items'],
      ['GET', H, '/api/v3/items/3', null],
      ['GET', H, '/api/v1/items', null],
      ['GET', H, '/static/app.js', 'assets'],
      ['GET', H, '/static/app.min.css', 'assets'],
      ['GET', H, '/static/app.png', null],
      ['GET', H, '/static/sub/app.js', null],
      ['GET', H, '/shop', 'tops'],
      ['GET', H, '/store', 'tops'],
      ['GET', H, '/shops', null],
    ],
  },
  {
    name: 'extension globs at any depth',
    rules: [
      { id: 'deep-css', match: '/**/*.css' },
      { id: 'any-png', match: '**/*.png' },
      { id: 'bare-ext', match: '*.gif' },
    ],
    requests: [
      // `**` matches zero segments too: `/**/*.css` covers a top-level `/a.css`
      ['GET', H, '/a.css', 'deep-css'],
      ['GET', H, '/a/b.css', 'deep-css'],
      ['GET', H, '/a/b/c.css', 'deep-css'],
      ['GET', H, '/a/b.min.css', 'deep-css'],
      ['GET', H, '/A/B.CSS', 'deep-css'],
      ['GET', H, '/a/.css', 'deep-css'],
      // a path matches when it, or it less one trailing `/`, matches
      ['GET', H, '/a.css/', 'deep-css'],
      ['GET', H, '/a.css//', null],
      ['GET', H, '/a.css/x', null],
      ['GET', H, '/a/b.cssx', null],
      ['GET', H, '/b.png', 'any-png'],
      ['GET', H, '/a/b.png', 'any-png'],
      ['GET', H, '/a/b.png/', 'any-png'],
      // `*.gif` has no `/`: `*` never matches the `/` a path starts with (the loader refuses it)
      ['GET', H, '/b.gif', null],
    ],
  },
  {
    name: 'catch-alls: /** and ** accept every path, / included',
    rules: [
      { id: 'post-all', match: '**', methods: ['POST'] },
      { id: 'all', match: '/**' },
    ],
    requests: [
      ['GET', H, '/', 'all'],
      ['GET', H, '/a/b/c/d', 'all'],
      ['GET', H, '/.well-known/x', 'all'],
      ['POST', H, '/', 'post-all'],
      ['POST', H, '/a/b', 'post-all'],
    ],
  },
  {
    name: 'a catch-all declared first shadows everything after it',
    rules: [
      { id: 'all', match: '/**' },
      { id: 'about', match: '/about' },
      { id: 'css', match: '/**/*.css' },
    ],
    requests: [
      ['GET', H, '/about', 'all'],
      ['GET', H, '/x.css', 'all'],
    ],
  },
  {
    name: 'matching is case-insensitive',
    rules: [
      { id: 'account', match: '/Account/**' },
      { id: 'about', match: '/about' },
      { id: 'cafe', match: '/café/*' },
    ],
    requests: [
      ['GET', H, '/account/orders', 'account'],
      ['GET', H, '/ACCOUNT/ORDERS', 'account'],
      ['GET', H, '/ABOUT', 'about'],
      ['GET', H, '/About', 'about'],
      ['GET', H, '/CAFÉ/menu', 'cafe'],
      // U+212A KELVIN SIGN and U+017F LONG S never fold to ASCII (a non-unicode RegExp's reading)
      ['GET', H, '/\u212About', null],
      ['GET', H, '/\u017Fome', null],
    ],
  },
  {
    name: 'single star: one segment, optional trailing slash; double star: the bare prefix too',
    rules: [
      { id: 'one', match: '/products/*' },
      { id: 'deep', match: '/docs/**' },
      { id: 'mid', match: '/a/*/c' },
      { id: 'midstar', match: '/b/**/c' },
    ],
    requests: [
      ['GET', H, '/products/42', 'one'],
      ['GET', H, '/products/42/', 'one'],
      ['GET', H, '/products', null],
      ['GET', H, '/products/', null],
      ['GET', H, '/products/42/x', null],
      // `*` never matches an empty segment; `**` spans any segments, empty ones too
      ['GET', H, '/products//', null],
      ['GET', H, '/docs//a', 'deep'],
      ['GET', H, '/docs', 'deep'],
      ['GET', H, '/docs/', 'deep'],
      ['GET', H, '/docs/a/b', 'deep'],
      ['GET', H, '/docsx', null],
      ['GET', H, '/a/b/c', 'mid'],
      ['GET', H, '/a/c', null],
      ['GET', H, '/b/c', 'midstar'],
      ['GET', H, '/b/x/y/c', 'midstar'],
    ],
  },
  {
    name: 'dot segments are covered by * and ** (dot: true), but not . and ..',
    rules: [
      { id: 'account', match: '/account/**' },
      { id: 'star', match: '/s/*' },
    ],
    requests: [
      ['GET', H, '/account/.env', 'account'],
      ['GET', H, '/account/.git/config', 'account'],
      ['GET', H, '/s/.hidden', 'star'],
      ['GET', H, '/s/..', null],
      ['GET', H, '/account/../x', null],
    ],
  },
  {
    name: 'a rule with several globs matches on any of them, at its own position',
    rules: [
      { id: 'media', match: ['/media/**', '/**/*.png'] },
      { id: 'png-in-b', match: '/b/x.png' },
      { id: 'b', match: '/b/**' },
    ],
    requests: [
      ['GET', H, '/b/x.png', 'media'],
      ['GET', H, '/b/y.jpg', 'b'],
      ['GET', H, '/media', 'media'],
    ],
  },
  {
    name: 'unanchored and odd globs still match',
    rules: [
      { id: 'star-first', match: '/*/edit' },
      { id: 'question', match: '/v?/x' },
      { id: 'class', match: '/[ab]/x' },
      { id: 'extglob', match: '/@(x|y)/z' },
      { id: 'optional', match: '/o/?(new-)items' },
      { id: 'not', match: '/shop/!(cart|checkout)/*' },
      { id: 'posix', match: '/p/[[:digit:]][!a]' },
      { id: 'range', match: '/n/{1..3}' },
      { id: 'scoped', match: '/@scope/*' },
    ],
    requests: [
      ['GET', H, '/posts/edit', 'star-first'],
      ['GET', H, '/v1/x', 'question'],
      ['GET', H, '/a/x', 'class'],
      ['GET', H, '/B/x', 'class'],
      ['GET', H, '/y/z', 'extglob'],
      ['GET', H, '/xyx/z', null],
      ['GET', H, '/o/items', 'optional'],
      ['GET', H, '/o/new-items', 'optional'],
      ['GET', H, '/o/old-items', null],
      ['GET', H, '/shop/shoes/1', 'not'],
      ['GET', H, '/shop/Cart/1', null],
      ['GET', H, '/shop/checkout/1', null],
      ['GET', H, '/p/5b', 'posix'],
      ['GET', H, '/p/5A', null],
      ['GET', H, '/p/xb', null],
      ['GET', H, '/n/2', 'range'],
      ['GET', H, '/n/4', null],
      ['GET', H, '/@SCOPE/pkg', 'scoped'],
    ],
  },
]

export function matcherContract(name: string, compile: (rules: readonly Rule[]) => Matcher): void {
  const s = suite(`matcher contract: ${name}`)
  for (const c of CASES) {
    s(c.name, () => {
      const rules = makeRules(c.rules)
      const m = compile(rules)
      assert.is(m.stats.rules, rules.length)
      for (const [method, host, path, id] of c.requests) {
        const got = m.match(methodBit(method), host, path)
        assert.is(got?.id ?? null, id, `${method} ${host} ${path}`)
        if (got !== undefined) assert.ok(rules.includes(got), 'returns the Rule object it was given')
        const ex = m.explain(methodBit(method), host, path)
        assert.is(ex.rule, got, `explain agrees with match for ${path}`)
        assert.is(ex.bucket === 'none', got === undefined)
      }
    })
  }
  s('rejects rules that are not in ascending index order', () => {
    const [a, b] = makeRules([{ match: '/a' }, { match: '/b' }])
    assert.throws(
      () => compile([b!, a!]),
      (e: unknown) => e instanceof TypeError && /ascending index order/.test((e as Error).message),
    )
  })
  s('a bad glob fails the compile and names the rule', () => {
    const rules = makeRules([
      { id: 'ok', match: '/a' },
      { id: 'broken', match: '/a/[b' },
    ])
    assert.throws(() => compile(rules), /rule "broken": match: invalid glob "\/a\/\[b"/)
  })
  s.run()
}
