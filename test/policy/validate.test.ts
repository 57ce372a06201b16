/**
 * Codes and de-duplication of schema/semantic errors (the exact wording is in the goldens).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadPolicies } from '../../src/policy/load.js'

let tmp = ''
let n = 0

/** Loads one YAML text; returns [code, line, col, ruleId, message] per error. */
async function errorsOf(text: string): Promise<[string, number, number, string | undefined, string][]> {
  const file = `p${n++}.yaml`
  writeFileSync(join(tmp, file), text)
  const r = await loadPolicies(file, { cwd: tmp })
  if (r.ok) return []
  return r.errors.map((e) => [e.code, e.line, e.col, e.ruleId, e.message])
}

const rule = (body: string) => `version: 1\nrules:\n  - id: r\n    match: /r\n${body}`

const v = suite('validation')
v.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-validate-'))
})
v.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

v('a valid file has no errors', async () => {
  assert.equal(await errorsOf(rule('    ttl: 5m\n')), [])
})

v('one message per bad duration, not one per anyOf branch', async () => {
  assert.equal(await errorsOf(rule('    ttl: 5 minutes\n')), [
    [
      'DURATION_FORMAT',
      5,
      10,
      'r',
      'ttl: expected a duration like "30s", "5m" or a number of seconds, got "5 minutes"',
    ],
  ])
})

v('one message per bad size', async () => {
  const errs = await errorsOf(rule('    ttl: 1m\n    maxBodySize: 1 MB\n'))
  assert.equal(
    errs.map((e) => e[0]),
    ['SIZE_FORMAT'],
  )
})

v('a bad element of a list is named exactly, without the union noise about the list', async () => {
  assert.equal(await errorsOf('version: 1\nrules:\n  - id: r\n    match: [/ok, 5]\n    ttl: 1m\n'), [
    ['POLICY_SCHEMA', 4, 18, 'r', 'match[1]: expected a glob like "/products/*", got 5'],
  ])
})

v('tags, tagsFromResponse, invalidate and the stale windows are accepted', async () => {
  assert.equal(
    await errorsOf(
      rule(
        '    ttl: 1m\n    tags: [a, "b:{path.1}", "c:{query.x}"]\n    tagsFromResponse: true\n    staleWhileRevalidate: 1m\n    staleIfError: 3600\n',
      ),
    ),
    [],
  )
  assert.equal(
    await errorsOf(
      rule('    methods: [GET, PUT]\n    ttl: 1m\n    invalidate: { tags: [a, "b:{query.any}"] }\n'),
    ),
    [],
  )
  assert.equal(
    await errorsOf(rule('    methods: [DELETE]\n    invalidate: { tags: [a] }\n')),
    [],
    'a write rule needs no ttl',
  )
})

v('TAG_TEMPLATE at the offending item, for tags and invalidate.tags, in rules and defaults', async () => {
  assert.equal(await errorsOf(rule('    ttl: 1m\n    tags: [ok, "p:{path}"]\n')), [
    [
      'TAG_TEMPLATE',
      6,
      16,
      'r',
      'tags[1]: unknown placeholder "{path}" in "p:{path}": expected {path.N} with N from 1, or {query.NAME}',
    ],
  ])
  assert.equal(await errorsOf(rule('    methods: [POST]\n    invalidate:\n      tags: ["{path.0}"]\n')), [
    [
      'TAG_TEMPLATE',
      7,
      14,
      'r',
      'invalidate.tags[0]: unknown placeholder "{path.0}" in "{path.0}": expected {path.N} with N from 1, or {query.NAME}',
    ],
  ])
  assert.equal(
    await errorsOf(
      'version: 1\ndefaults:\n  ttl: 1m\n  tags: ["a{b"]\nrules:\n  - id: a\n    match: /a\n  - id: b\n    match: /b\n',
    ),
    [
      [
        'TAG_TEMPLATE',
        4,
        10,
        undefined,
        'defaults.tags[0]: unbalanced "{" in "a{b": expected {path.N} with N from 1, or {query.NAME}; braces cannot appear outside placeholders',
      ],
    ],
    'once, in defaults, not once per rule',
  )
})

v('TAG_QUERY_UNKEYED: a tag may only read a query parameter the key sees', async () => {
  const why =
    'a tag may only use query parameters the key sees, otherwise two requests sharing an entry could disagree on its tags'
  assert.equal(await errorsOf(rule('    ttl: 1m\n    key: { query: none }\n    tags: ["s:{query.q}"]\n')), [
    [
      'TAG_QUERY_UNKEYED',
      7,
      12,
      'r',
      `tags[0]: {query.q} reads query parameter "q", but key.query is none: ${why}`,
    ],
  ])
  assert.equal(
    await errorsOf(
      rule('    ttl: 1m\n    key: { query: [page] }\n    tags: ["{query.page}", "{query.Page}"]\n'),
    ),
    [
      [
        'TAG_QUERY_UNKEYED',
        7,
        28,
        'r',
        `tags[1]: {query.Page} reads query parameter "Page", but key.query does not list it: ${why}`,
      ],
    ],
    'query names are case-sensitive',
  )
  assert.equal(
    await errorsOf(
      rule(
        '    ttl: 1m\n    key: { query: { exclude: [utm_*] } }\n    tags: ["{query.q}", "{query.utm_source}"]\n',
      ),
    ),
    [
      [
        'TAG_QUERY_UNKEYED',
        7,
        25,
        'r',
        `tags[1]: {query.utm_source} reads query parameter "utm_source", but key.query excludes it: ${why}`,
      ],
    ],
  )
  assert.equal(
    await errorsOf(rule('    ttl: 1m\n    key: { query: ["f_*"] }\n    tags: ["{query.f_color}"]\n')),
    [],
    'a keyed glob counts',
  )
  assert.equal(
    await errorsOf(
      rule(
        '    cache: false\n    key: { query: none }\n    methods: [GET, POST]\n    invalidate: { tags: ["{query.q}"] }\n',
      ),
    ),
    [],
    'invalidate may read any parameter',
  )
  // inherited tags are checked against each rule's own key, and reported at the default
  assert.equal(
    await errorsOf(
      'version: 1\ndefaults:\n  ttl: 1m\n  tags: ["l:{query.lang}"]\nrules:\n  - id: a\n    match: /a\n  - id: b\n    match: /b\n    key: { query: none }\n',
    ),
    [
      [
        'TAG_QUERY_UNKEYED',
        4,
        10,
        'b',
        `defaults.tags[0]: {query.lang} reads query parameter "lang", but key.query is none: ${why}`,
      ],
    ],
  )
})

v('INVALIDATE_SAFE_METHODS: at invalidate, or where the methods come from', async () => {
  assert.equal(await errorsOf(rule('    ttl: 1m\n    invalidate: { tags: [a] }\n')), [
    [
      'INVALIDATE_SAFE_METHODS',
      6,
      5,
      'r',
      'invalidate applies after POST/PUT/PATCH/DELETE; this rule only matches GET, HEAD',
    ],
  ])
  assert.equal(
    await errorsOf(
      'version: 1\ndefaults:\n  invalidate: { tags: [a] }\nrules:\n  - id: w\n    match: /w\n    methods: [PUT]\n  - id: r\n    match: /r\n    methods: [OPTIONS, GET]\n    ttl: 1m\n',
    ),
    [
      [
        'INVALIDATE_SAFE_METHODS',
        10,
        5,
        'r',
        'invalidate applies after POST/PUT/PATCH/DELETE; this rule only matches GET, OPTIONS',
      ],
    ],
  )
})

v('schema errors of the new fields, one message each', async () => {
  assert.equal(await errorsOf(rule('    ttl: 1m\n    tags: products\n')), [
    ['POLICY_SCHEMA', 6, 11, 'r', 'tags: expected a list of at most 32 tags, got "products"'],
  ])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    tags: [""]\n')), [
    [
      'POLICY_SCHEMA',
      6,
      12,
      'r',
      'tags[0]: expected a tag like "products" or "product:{path.2}" (1 to 256 characters), got ""',
    ],
  ])
  assert.equal(
    await errorsOf(rule(`    ttl: 1m\n    tags: [${'x'.repeat(257)}]\n`)).then((e) =>
      e.map((x) => x.slice(0, 3)),
    ),
    [['POLICY_SCHEMA', 6, 12]],
  )
  assert.equal(await errorsOf(rule('    ttl: 1m\n    tagsFromResponse: 1\n')), [
    ['POLICY_SCHEMA', 6, 23, 'r', 'tagsFromResponse: expected true or false, got 1'],
  ])
  assert.equal(await errorsOf(rule('    methods: [POST]\n    invalidate: { tags: [] }\n')), [
    ['POLICY_SCHEMA', 6, 25, 'r', 'invalidate.tags: expected a non-empty list of at most 32 tags, got []'],
  ])
  assert.equal(await errorsOf(rule('    methods: [POST]\n    invalidate: { tags: [a], purge: true }\n')), [
    ['UNKNOWN_FIELD', 6, 30, 'r', 'invalidate: unknown field "purge"; expected one of: tags'],
  ])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    staleWhileRevalidate: 30 s\n')), [
    [
      'DURATION_FORMAT',
      6,
      27,
      'r',
      'staleWhileRevalidate: expected a duration like "30s", "5m" or a number of seconds, got "30 s"',
    ],
  ])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    staleIfError: -5\n')), [
    [
      'DURATION_FORMAT',
      6,
      19,
      'r',
      'staleIfError: expected a duration like "30s", "5m" or a number of seconds, got -5',
    ],
  ])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    staleIfError: 99999999999999999d\n')), [
    ['DURATION_RANGE', 6, 19, 'r', 'staleIfError: duration "99999999999999999d" is too large'],
  ])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    tag: [a]\n')), [
    ['UNKNOWN_FIELD', 6, 5, 'r', 'unknown field "tag" (did you mean "tags"?)'],
  ])
})

v('warnings: fields that cannot have an effect on their rule', async () => {
  const file = `p${n++}.yaml`
  writeFileSync(
    join(tmp, file),
    rule(
      '    cache: false\n    tags: [a]\n    staleIfError: 1m\n  - id: w\n    match: /w\n    methods: [POST]\n    staleWhileRevalidate: 1m\n    tagsFromResponse: true\n',
    ),
  )
  const r = await loadPolicies(file, { cwd: tmp })
  assert.ok(r.ok, 'warnings do not block a load')
  assert.equal(
    r.warnings
      .map((w) => [w.code, w.line, w.col, w.ruleId, w.message])
      .sort((a, b) => (a[1] as number) - (b[1] as number)),
    [
      [
        'FIELD_UNUSED',
        6,
        5,
        'r',
        'tags: has no effect with cache: false (nothing this rule matches is stored)',
      ],
      [
        'FIELD_UNUSED',
        7,
        5,
        'r',
        'staleIfError: has no effect with cache: false (nothing this rule matches is stored)',
      ],
      [
        'FIELD_UNUSED',
        11,
        5,
        'w',
        'staleWhileRevalidate: has no effect on a rule that only matches POST (only GET and HEAD responses are stored)',
      ],
      [
        'FIELD_UNUSED',
        12,
        5,
        'w',
        'tagsFromResponse: has no effect on a rule that only matches POST (only GET and HEAD responses are stored)',
      ],
    ],
  )
})

v('unknown fields: UNKNOWN_FIELD at the key, with a suggestion when one is close', async () => {
  assert.equal(await errorsOf(rule('    ttl: 1m\n    TTL: 2m\n')), [
    ['UNKNOWN_FIELD', 6, 5, 'r', 'unknown field "TTL" (did you mean "ttl"?)'],
  ])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    key: { cookie: [a] }\n')), [
    ['UNKNOWN_FIELD', 6, 12, 'r', 'key: unknown field "cookie" (did you mean "cookies"?)'],
  ])
})

v('missing required fields and a wrong version', async () => {
  assert.equal(await errorsOf('rules: []\n'), [
    ['MISSING_FIELD', 1, 1, undefined, 'missing required field "version"'],
  ])
  assert.equal(await errorsOf('version: "1"\nrules: []\n'), [
    ['VERSION_UNSUPPORTED', 1, 10, undefined, 'version: expected 1, got "1"'],
  ])
  assert.equal(await errorsOf('version: 1\nrules:\n  - id: r\n    ttl: 1m\n'), [
    ['MISSING_FIELD', 3, 5, 'r', 'missing required field "match"'],
  ])
})

v('semantic checks: globs, hosts, lifetimes, cookie header', async () => {
  const codes = async (body: string) => (await errorsOf(rule(body))).map((e) => e[0])
  assert.equal(await codes('    ttl: 1m\n    host: "[a"\n'), ['GLOB_INVALID'])
  assert.equal(await codes('    ttl: 1m\n    host: a.example:443\n'), ['HOST_FORMAT'])
  assert.equal(await codes('    ttl: 1m\n    host: "[::1]"\n'), [])
  assert.equal(await codes('    statuses: [200]\n'), ['TTL_MISSING'])
  assert.equal(await codes('    statuses: { 200: 1m }\n'), [])
  assert.equal(await codes('    cache: false\n'), [])
  assert.equal(
    await codes('    ttl: 0\n'),
    [],
    'ttl 0 with origin respect: only what the origin dates is stored',
  )
  assert.equal(await codes('    ttl: 0\n    origin: override\n'), ['TTL_ZERO'])
  // issue 8 items 3, 4: what reads the response's statements needs origin: respect; a statuses
  // list stays the allow-list
  assert.equal(await codes('    ttl: 0\n    otherStatuses: explicit\n    heuristic: 10%\n'), [])
  assert.equal(await codes('    ttl: 1m\n    origin: override\n    heuristic: 10%\n'), ['FIELD_CONFLICT'])
  assert.equal(await codes('    ttl: 1m\n    origin: override\n    otherStatuses: explicit\n'), [
    'FIELD_CONFLICT',
  ])
  assert.equal(await codes('    ttl: 1m\n    statuses: [200]\n    otherStatuses: explicit\n'), [
    'FIELD_CONFLICT',
  ])
  assert.equal(await codes('    ttl: 1m\n    heuristic: 10\n'), ['POLICY_SCHEMA'])
  assert.equal(await codes('    ttl: 1m\n    heuristic: 101%\n'), ['POLICY_SCHEMA'])
  assert.equal(await codes('    ttl: 1m\n    otherStatuses: always\n'), ['POLICY_SCHEMA'])
  assert.equal(await codes('    ttl: 1m\n    heuristic: 12.5%\n    heuristicMax: 7d\n'), [])
  assert.equal(await codes('    ttl: 1m\n    key: { headers: [COOKIE] }\n'), ['KEY_COOKIE_HEADER'])
  assert.equal(
    await codes('    ttl: 1m\n    key: { query: ["a{"] }\n'),
    [],
    'a query name without * or ? is a literal name',
  )
  // query-name globs know only * and ?: nothing in a name can make one invalid (issue 12 item 4)
  assert.equal(await codes('    ttl: 1m\n    key: { query: ["a*{", "q[*"] }\n'), [])
  const match = async (glob: string) =>
    (await errorsOf(`version: 1\nrules:\n  - id: r\n    ttl: 1m\n    match: ${JSON.stringify(glob)}\n`)).map(
      (e) => e[0],
    )
  assert.equal(await match('/a/{b}'), ['GLOB_INVALID'])
  assert.equal(await match('*.css'), ['MATCH_NOT_PATH'])
  assert.equal(await match('**/*.css'), [])
  assert.equal(await match('/a|/b'), ['GLOB_INVALID'])
  assert.equal(await codes('    ttl: 1m\n    maxBodySize: 99999999999999gb\n'), ['SIZE_RANGE'])
  assert.equal(await codes('    statuses: { 200: 99999999999999999d }\n'), ['DURATION_RANGE'])
})

v('a rule with schema errors is not checked again semantically (one problem, one message)', async () => {
  const errs = await errorsOf('version: 1\nrules:\n  - id: r\n    match: relative\n    ttl: soon\n')
  assert.equal(
    errs.map((e) => e[0]),
    ['DURATION_FORMAT'],
  )
})

v('a defaults error is reported once, in defaults, not once per rule', async () => {
  const errs = await errorsOf(
    'version: 1\ndefaults:\n  ttl: 1m\n  host: "a.example:80"\nrules:\n  - id: a\n    match: /a\n  - id: b\n    match: /b\n',
  )
  assert.equal(errs, [
    [
      'HOST_FORMAT',
      4,
      9,
      undefined,
      'defaults.host: expected a host name glob without port, got "a.example:80"',
    ],
  ])
})

v('duplicate ids within one file', async () => {
  const errs = await errorsOf(
    'version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: 1m\n  - id: a\n    match: /b\n    ttl: 1m\n',
  )
  assert.equal(errs, [['DUPLICATE_ID', 6, 9, 'a', `duplicate id, first defined at p${n - 1}.yaml:3:9`]])
})

v('a non-map document and a non-list rules', async () => {
  assert.equal(
    (await errorsOf('- a\n- b\n')).map((e) => e.slice(0, 3)),
    [['POLICY_SCHEMA', 1, 1]],
  )
  assert.equal(await errorsOf('version: 1\nrules: {}\n'), [
    ['POLICY_SCHEMA', 2, 8, undefined, 'rules: expected a list of rules, got {}'],
  ])
})

v(
  'contentTypes: media types and type/* ranges, in rules and defaults; a bad one at its element',
  async () => {
    assert.equal(
      await errorsOf(rule('    ttl: 1m\n    contentTypes: [text/html, "image/*", Application/JSON]\n')),
      [],
    )
    assert.equal(
      await errorsOf(
        'version: 1\ndefaults:\n  contentTypes: [application/json]\nrules:\n  - id: r\n    match: /r\n    ttl: 1m\n',
      ),
      [],
    )
    assert.equal(
      await errorsOf(
        rule('    ttl: 1m\n    contentTypes: [text/html, "text/html; charset=utf-8", "*/*", html]\n'),
      ),
      [
        [
          'POLICY_SCHEMA',
          6,
          31,
          'r',
          'contentTypes[1]: expected a media type like "text/css" or "image/*" (without parameters), got "text/html; charset=utf-8"',
        ],
        [
          'POLICY_SCHEMA',
          6,
          59,
          'r',
          'contentTypes[2]: expected a media type like "text/css" or "image/*" (without parameters), got "*/*"',
        ],
        [
          'POLICY_SCHEMA',
          6,
          66,
          'r',
          'contentTypes[3]: expected a media type like "text/css" or "image/*" (without parameters), got "html"',
        ],
      ],
    )
    assert.equal(await errorsOf(rule('    ttl: 1m\n    contentTypes: []\n')), [
      [
        'POLICY_SCHEMA',
        6,
        19,
        'r',
        'contentTypes: expected a non-empty list of media types like [text/html, "image/*"], got []',
      ],
    ])
    assert.equal(await errorsOf(rule('    ttl: 1m\n    contentTypes: [text/html, TEXT/HTML]\n')), [
      [
        'POLICY_SCHEMA',
        6,
        31,
        'r',
        'contentTypes[1]: "TEXT/HTML" is listed twice (media types are case-insensitive)',
      ],
    ])
  },
)

v.run()
