import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileGlob } from '../../src/matcher/glob.js'
import { bypassTakenOverBy, hostCovers, lintRules, pathCovers, ruleCovers } from '../../src/policy/lint.js'
import { loadPolicies } from '../../src/policy/load.js'
import { normalizeRule, type RawRule } from '../../src/policy/normalize.js'
import type { Rule } from '../../src/policy/types.js'

function rules(...raws: Omit<RawRule, 'ttl'>[]): Rule[] {
  return raws.map((r, i) => normalizeRule({ ttl: 60, ...r }, i, { file: 'p.yaml', line: 1 + i * 4, col: 9 }))
}

/** [shadowed id, by id] pairs */
function shadowed(list: Rule[]): string[][] {
  return lintRules(list)
    .filter((d) => d.code === 'RULE_SHADOWED')
    .map((d) => [d.ruleId as string, /rule "([^"]+)" \(/.exec(d.message)?.[1] as string])
}

const shadow = suite('RULE_SHADOWED')

const positive: [string, Omit<RawRule, 'ttl'>[], string[][]][] = [
  [
    // a path with a `.` or `..` segment matches no glob at all, so `?` matching "." is moot
    'P/** hides a later "?" segment under P/',
    [
      { id: 'a', match: '/a/**' },
      { id: 'b', match: '/a/?/x' },
    ],
    [['b', 'a']],
  ],
  [
    'P/** hides case variants of P and globs with empty segments under it',
    [
      { id: 'a', match: '/Api/**' },
      { id: 'b', match: '/API/v1//*' },
      { id: 'c', match: '/api/!(x)/**' },
    ],
    [
      ['b', 'a'],
      ['c', 'a'],
    ],
  ],
  [
    'a catch-all /** hides everything after it',
    [
      { id: 'all', match: '/**' },
      { id: 'p', match: '/products/*' },
      { id: 'q', match: ['/a', '/b/**'] },
    ],
    [
      ['p', 'all'],
      ['q', 'all'],
    ],
  ],
  [
    'a bare ** hides everything after it',
    [
      { id: 'all', match: '**' },
      { id: 'p', match: '/x/{a,b}/*.css' },
    ],
    [['p', 'all']],
  ],
  [
    'P/** hides globs under P/',
    [
      { id: 'api', match: '/api/**' },
      { id: 'r', match: '/api/products/*/reviews' },
      { id: 's', match: '/api/**/*.json' },
    ],
    [
      ['r', 'api'],
      ['s', 'api'],
    ],
  ],
  [
    'P/** hides P itself (a literal)',
    [
      { id: 'api', match: '/api/**' },
      { id: 'root', match: '/api' },
    ],
    [['root', 'api']],
  ],
  [
    'identical match lists, in any order',
    [
      { id: 'a', match: ['/a/*', '/b/*'] },
      { id: 'b', match: ['/b/*', '/a/*'] },
    ],
    [['b', 'a']],
  ],
  [
    'brace variants are compared expanded',
    [
      { id: 'a', match: '/api/{a,b}/*' },
      { id: 'b', match: ['/api/b/*', '/api/a/*'] },
    ],
    [['b', 'a']],
  ],
  [
    'a glob that matches every literal path of a later rule',
    [
      { id: 'p', match: '/products/*' },
      { id: 'one', match: ['/products/42', '/products/{7,8}'] },
    ],
    [['one', 'p']],
  ],
  [
    'paths match case-insensitively',
    [
      { id: 'p', match: '/Products/*' },
      { id: 'one', match: '/products/42' },
    ],
    [['one', 'p']],
  ],
  [
    'any host covers a specific host; a superset of methods covers fewer',
    [
      { id: 'wide', match: '/x/**', methods: ['GET', 'HEAD', 'POST'] },
      { id: 'narrow', match: '/x/y', host: 'shop.example.com', methods: ['GET'] },
    ],
    [['narrow', 'wide']],
  ],
  [
    'a host glob takes in a later literal host, brace variants, and narrower star globs (issue 10)',
    [
      { id: 'wild', match: '/api/*', host: '*.example.com' },
      { id: 'api', match: '/api/*', host: 'API.example.com' },
      { id: 'two', match: '/api/1', host: '{a,b}.example.com' },
      { id: 'eu', match: '/api/*', host: '*.eu.example.com' },
      { id: 'x', match: '/api/*', host: 'x*.example.com' },
      { id: 'ab', match: '/b/*', host: '{a,b}.example.com' },
      { id: 'a', match: '/b/*', host: 'a.example.com' },
    ],
    [
      ['api', 'wild'],
      ['two', 'wild'],
      ['eu', 'wild'],
      ['x', 'wild'],
      ['a', 'ab'],
    ],
  ],
  [
    'equal hosts (case-insensitive)',
    [
      { id: 'a', match: '/x', host: 'Shop.example.com' },
      { id: 'b', match: '/x', host: 'shop.example.com' },
    ],
    [['b', 'a']],
  ],
  [
    'a bypass rule shadows a cached one just the same',
    [
      { id: 'deny', match: '/account/**', cache: false },
      { id: 'css', match: '/account/*.css' },
    ],
    [['css', 'deny']],
  ],
  [
    'only the first shadowing rule is named',
    [
      { id: 'a', match: '/**' },
      { id: 'b', match: '/**' },
      { id: 'c', match: '/c' },
    ],
    [
      ['b', 'a'],
      ['c', 'a'],
    ],
  ],
]
for (const [name, raws, expected] of positive) {
  shadow(`warns: ${name}`, () => {
    assert.equal(shadowed(rules(...raws)), expected)
  })
}

const negative: [string, Omit<RawRule, 'ttl'>[]][] = [
  [
    'partial overlap is legitimate',
    [
      { id: 'a', match: '/products/*' },
      { id: 'b', match: '/products/**' },
    ],
  ],
  [
    'a later literal the glob does not match',
    [
      { id: 'a', match: '/products/*' },
      { id: 'b', match: '/products/42/reviews' },
    ],
  ],
  [
    'one uncovered variant is enough to reach',
    [
      { id: 'a', match: '/products/*' },
      { id: 'b', match: ['/products/1', '/other'] },
    ],
  ],
  [
    'fewer methods earlier',
    [
      { id: 'a', match: '/**', methods: ['GET'] },
      { id: 'b', match: '/x' },
    ],
  ],
  [
    'a specific host earlier, any host later',
    [
      { id: 'a', match: '/**', host: 'a.example' },
      { id: 'b', match: '/x' },
    ],
  ],
  [
    'different hosts',
    [
      { id: 'a', match: '/**', host: 'a.example' },
      { id: 'b', match: '/x', host: 'b.example' },
    ],
  ],
  [
    'two host globs that only overlap are not compared (not decidable here)',
    [
      { id: 'a', match: '/**', host: '*.example' },
      { id: 'b', match: '/x', host: 'a.*' },
      { id: 'c', match: '/y/**', host: '*.example.com' },
      { id: 'd', match: '/y/1', host: 'example.com' },
      { id: 'e', match: '/y/2', host: '*example.com' },
      { id: 'f', match: '/y/3', host: '*.example.*' },
    ],
  ],
  [
    'the broad rule comes later',
    [
      { id: 'a', match: '/products/*' },
      { id: 'b', match: '/**' },
    ],
  ],
  [
    'a prefix of a segment is not a folder',
    [
      { id: 'a', match: '/api/**' },
      { id: 'b', match: '/apix/*' },
    ],
  ],
  [
    'a glob with a wildcard P is not a folder',
    [
      { id: 'a', match: '/*/x/**' },
      { id: 'b', match: '/a/x/*' },
    ],
  ],
  [
    'distinct routes',
    [
      { id: 'a', match: '/api/products' },
      { id: 'b', match: '/api/products/*' },
      { id: 'c', match: '/api/categories' },
    ],
  ],
]
for (const [name, raws] of negative) {
  shadow(`silent: ${name}`, () => {
    assert.equal(shadowed(rules(...raws)), [])
  })
}

shadow('the message names the rule and its line; the warning points at the shadowed rule', () => {
  const [d] = lintRules(
    rules({ id: 'products', match: '/products/**' }, { id: 'all-products', match: '/products/*' }),
  )
  assert.equal(d, {
    code: 'RULE_SHADOWED',
    severity: 'warning',
    file: 'p.yaml',
    line: 5,
    col: 9,
    ruleId: 'all-products',
    message: 'rule "all-products" can never match: rule "products" (line 1) matches everything it matches',
  })
})

const scale = suite('the candidate index loses nothing')

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

scale('on random rule sets, lintRules reports exactly the pairwise first cover', () => {
  const pieces = [
    '/a',
    '/A',
    '/b',
    '/a/b',
    '/a/b/c',
    '/a/*',
    '/a/**',
    '/**',
    '**',
    '/*/b',
    '/a/{b,c}',
    '/a/b/**',
    '/b/*.css',
    '/a/?',
    '/a/.x',
    '/a/b/',
    '*',
  ]
  const hosts = [undefined, undefined, 'x.example', 'X.example', '*.example']
  const methods = [undefined, ['GET'], ['GET', 'HEAD', 'POST']]
  const rand = rng(42)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  for (let round = 0; round < 300; round++) {
    const raws = Array.from({ length: 2 + Math.floor(rand() * 7) }, (_, i) => {
      const match = rand() < 0.3 ? [pick(pieces), pick(pieces)] : pick(pieces)
      const host = pick(hosts)
      const m = pick(methods)
      return {
        id: `r${i}`,
        match: Array.isArray(match) ? [...new Set(match)] : match,
        ...(host ? { host } : {}),
        ...(m ? { methods: m } : {}),
      }
    })
    const list = rules(...raws)
    const expected: string[][] = []
    list.forEach((b, j) => {
      const a = list.slice(0, j).find((x) => ruleCovers(x, b))
      if (a) expected.push([b.id, a.id])
    })
    assert.equal(shadowed(list), expected, JSON.stringify(raws))
  }
})

scale(
  'on random rule sets with bypass rules, BYPASS_SHADOWED is the pairwise first partial take-over',
  () => {
    const pieces = ['/a', '/a/**', '/**', '/a/b', '/a/*', '/b/**', '**/*.css', '/a/b/c.css']
    const hosts = [undefined, undefined, 'x.example', '*.example', 'y.x.example', '*.x.example']
    const methods = [undefined, ['GET'], ['GET', 'HEAD', 'POST'], ['HEAD']]
    const rand = rng(7)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    let seen = 0
    for (let round = 0; round < 400; round++) {
      const raws = Array.from({ length: 2 + Math.floor(rand() * 6) }, (_, i) => {
        const host = pick(hosts)
        const m = pick(methods)
        return {
          id: `r${i}`,
          match: pick(pieces),
          key: { query: 'none' as const },
          ...(rand() < 0.5 ? { cache: false } : {}),
          ...(host ? { host } : {}),
          ...(m ? { methods: m } : {}),
        }
      })
      const list = rules(...raws)
      const expected: string[][] = []
      // the definition: the first earlier caching rule taking over part of b that is not itself
      // shadowed, and whose share no earlier bypass rule covering b's paths takes first
      const shadowedIdx = new Set(
        list.flatMap((x, k) => (list.slice(0, k).some((y) => ruleCovers(y, x)) ? [k] : [])),
      )
      list.forEach((b, j) => {
        const before = list.slice(0, j)
        if (b.cache || shadowedIdx.has(j)) return
        const a = before.find(
          (x, i) =>
            bypassTakenOverBy(x, b) !== undefined &&
            !shadowedIdx.has(i) &&
            !before
              .slice(0, i)
              .some((c) => !c.cache && pathCovers(c, b) && (c.methods & 1) !== 0 && hostCovers(c, x)),
        )
        if (a) expected.push([b.id, a.id])
      })
      seen += expected.length
      const got = lintRules(list)
        .filter((d) => d.code === 'BYPASS_SHADOWED')
        .map((d) => [d.ruleId as string, /: rule "([^"]+)" \(/.exec(d.message)?.[1] as string])
      assert.equal(got, expected, JSON.stringify(raws))
    }
    assert.ok(seen > 50, `only ${seen} take-overs in the random sets`)
  },
)

scale(
  'host coverage is sound: when a rule is said to take in another host glob, it accepts every host that one does',
  () => {
    const globs = [
      '*.example.com',
      '*.com',
      '*',
      'a.example.com',
      '{a,b}.example.com',
      'A.Example.com',
      '*.eu.example.com',
      'x*.example.com',
      '*example.com',
      'a.*',
      '?.example.com',
      '[ab].example.com',
      '*.example.*',
      'example.com',
    ]
    const parts = ['a', 'b', 'x', 'xa', 'eu', 'example', 'com', 'other']
    const hosts: string[] = []
    for (const p of parts)
      for (const q of parts) for (const r of parts) hosts.push(`${p}.${q}.${r}`, `${q}.${r}`, `${p}${q}.${r}`)
    hosts.push('example.com', '.example.com', 'a.eu.example.com', 'xy.example.com')
    for (const ah of globs)
      for (const bh of globs) {
        const [a, b] = rules({ id: 'a', match: '/p', host: ah }, { id: 'b', match: '/p', host: bh })
        if (!ruleCovers(a!, b!)) continue
        const ag = compileGlob(ah, 'host')
        const bg = compileGlob(bh, 'host')
        for (const h of hosts)
          if (bg.test(h)) assert.ok(ag.test(h), `"${ah}" said to take in "${bh}", but not ${h}`)
      }
  },
)

scale('a big set under one folder: every covered rule is found', () => {
  const raws: Omit<RawRule, 'ttl'>[] = [{ id: 'first', match: '/api/v1/items/42' }]
  for (let i = 0; i < 1500; i++) raws.push({ id: `lit${i}`, match: `/api/v1/items/${i}` })
  raws.push(
    { id: 'glob', match: '/api/v1/*/x' },
    { id: 'all', match: '/api/**' },
    { id: 'late', match: '/api/v1/items/x' },
    { id: 'deep', match: '/api/v1/items/7/x' },
  )
  const found = shadowed(rules(...raws))
  assert.equal(found, [
    ['lit42', 'first'],
    ['late', 'glob'],
    ['deep', 'all'],
  ])
})

const unsafe = suite('KEY_UNSAFE')

unsafe('keying authorization warns, unless the rule bypasses', () => {
  const ds = lintRules(
    rules(
      { id: 'a', match: '/a', key: { headers: ['Authorization'] } },
      { id: 'b', match: '/b', cache: false, key: { headers: ['authorization'] } },
    ),
  )
  assert.equal(
    ds.map((d) => [d.code, d.ruleId]),
    [['KEY_UNSAFE', 'a']],
  )
  assert.match(ds[0]!.message, /^key\.headers: keying authorization/)
})

unsafe('key.host: false warns with any host or a host glob, not with one literal host', () => {
  const ds = lintRules(
    rules(
      { id: 'any', match: '/a', key: { host: false } },
      { id: 'glob', match: '/b', host: '*.example.com', key: { host: false } },
      { id: 'braces', match: '/c', host: '{a,b}.example.com', key: { host: false } },
      { id: 'one', match: '/d', host: 'shop.example.com', key: { host: false } },
      { id: 'keyed', match: '/e', host: '*.example.com' },
    ),
  )
  assert.equal(
    ds.map((d) => [d.code, d.ruleId]),
    [
      ['KEY_UNSAFE', 'any'],
      ['KEY_UNSAFE', 'glob'],
      ['KEY_UNSAFE', 'braces'],
    ],
  )
  assert.is(
    ds[0]!.message,
    'key.host: false shares entries between all hosts this rule matches (any host); name one host in host, or key the host',
  )
})

unsafe('rules that store nothing (only unsafe methods) are not warned about', () => {
  assert.equal(
    lintRules(
      rules({ id: 'w', match: '/w', methods: ['POST'], key: { host: false, headers: ['authorization'] } }),
    ),
    [],
  )
})

const e2e = suite('lint through the loader')
let tmp = ''
e2e.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-lint-'))
})
e2e.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

e2e('warnings point at the rule; another file is named with its path', async () => {
  mkdirSync(join(tmp, 'policies'))
  writeFileSync(
    join(tmp, 'policies/10-base.yaml'),
    [
      'version: 1',
      'defaults:',
      '  ttl: 1m',
      '  key: { query: none }',
      'rules:',
      '  - id: products',
      '    match: /products/**',
      '',
      '  - id: all-products',
      '    match: /products/*',
      '',
    ].join('\n'),
  )
  writeFileSync(
    join(tmp, 'policies/20-more.yaml'),
    'version: 1\nrules:\n  - match: /products/42\n    id: one\n    ttl: 1m\n',
  )
  const r = await loadPolicies('policies', { cwd: tmp })
  assert.ok(r.ok, 'warnings do not fail a load')
  assert.equal(
    r.warnings.map((w) => `${w.file}:${w.line}:${w.col}: ${w.message}`),
    [
      'policies/10-base.yaml:9:5: rule "all-products" can never match: rule "products" (line 6) matches everything it matches',
      'policies/20-more.yaml:3:5: rule "one" can never match: rule "products" (policies/10-base.yaml:6) matches everything it matches',
    ],
  )
})

shadow.run()
scale.run()
unsafe.run()
e2e.run()
