import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  EXIT_INVALID,
  EXIT_OK,
  EXIT_USAGE,
  VALIDATE_USAGE,
  validatePolicies,
} from '../../src/cli/validate.js'
import { compileGlob } from '../../src/matcher/glob.js'
import { loadPolicies } from '../../src/policy/load.js'
import { compileTag, pathSegments } from '../../src/policy/tag-template.js'
import { methodBit } from '../../src/policy/types.js'

const root = new URL('../..', import.meta.url).pathname
let tmp = ''

async function run(argv: string[], cwd = root): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await validatePolicies(argv, {
    stdout: {
      write: (s: string) => {
        out += s
      },
    },
    stderr: {
      write: (s: string) => {
        err += s
      },
    },
    cwd,
  })
  return { code, out, err }
}

const cli = suite('validate-policies')
cli.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-cli-'))
  mkdirSync(join(tmp, 'policies'))
  writeFileSync(
    join(tmp, 'policies/a.yaml'),
    'version: 1\nrules:\n  - id: all\n    match: /**\n    ttl: 1m\n    key: { query: none }\n  - id: late\n    match: /x\n    ttl: 1m\n',
  )
})
cli.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

cli('exit codes are named', () => {
  assert.equal([EXIT_OK, EXIT_INVALID, EXIT_USAGE], [0, 1, 2])
})

cli("the repository's own policies/ validate with 0 errors and 0 warnings (default path)", async () => {
  // their test files (policies/*.test.yaml) run too: test/cli/policy-test.test.ts
  const summary = 'policies: 4 files, 10 rules, 4 test files (28 cases, 0 failed), 0 errors, 0 warnings\n'
  const r = await run([])
  assert.equal(r, { code: EXIT_OK, out: summary, err: '' })
  assert.equal(await run(['policies', '--format', 'json']), { code: EXIT_OK, out: '[]\n', err: '' })
  assert.equal(await run(['--format=github', 'policies']), { code: EXIT_OK, out: summary, err: '' })
})

cli('errors: exit 1, text lines then the summary', async () => {
  const r = await run(['test/fixtures/policies/invalid/wrong-version.yaml'])
  assert.equal(r, {
    code: EXIT_INVALID,
    out:
      'test/fixtures/policies/invalid/wrong-version.yaml:1:10: error: version: expected 1, got 2\n' +
      'test/fixtures/policies/invalid/wrong-version.yaml: 1 file, 1 rule, 1 error, 0 warnings\n',
    err: '',
  })
})

cli('errors as json: only the array, parseable', async () => {
  const r = await run(['-f', 'json', 'test/fixtures/policies/invalid/duplicate-id'])
  assert.is(r.code, EXIT_INVALID)
  const rows = JSON.parse(r.out) as { code: string; line: number; col: number; ruleId: string }[]
  assert.equal(
    rows.map((x) => [x.code, x.line, x.col, x.ruleId]),
    [
      ['DUPLICATE_ID', 8, 9, 'search'],
      ['DUPLICATE_ID', 12, 9, 'products'],
    ],
  )
})

cli('errors as github annotations, plus the summary', async () => {
  const r = await run(['--format', 'github', 'test/fixtures/policies/invalid/wrong-version.yaml'])
  assert.is(r.code, EXIT_INVALID)
  assert.fixture(
    r.out,
    '::error file=test/fixtures/policies/invalid/wrong-version.yaml,line=1,col=10,title=VERSION_UNSUPPORTED::version: expected 1, got 2\n' +
      'test/fixtures/policies/invalid/wrong-version.yaml: 1 file, 1 rule, 1 error, 0 warnings\n',
  )
})

cli('warnings alone still exit 0, and paths resolve against io.cwd', async () => {
  const r = await run(['policies'], tmp)
  assert.equal(r, {
    code: EXIT_OK,
    out:
      'policies/a.yaml:7:5: warning: rule "late" can never match: rule "all" (line 3) matches everything it matches\n' +
      'policies: 1 file, 2 rules, 0 errors, 1 warning\n',
    err: '',
  })
})

cli('several paths, one of them missing', async () => {
  const r = await run(['policies', 'nope'], tmp)
  assert.is(r.code, EXIT_INVALID)
  assert.fixture(
    r.out,
    'nope: error: cannot read: no such file or directory\n' +
      'policies/a.yaml:7:5: warning: rule "late" can never match: rule "all" (line 3) matches everything it matches\n' +
      'policies, nope: 1 file, 2 rules, 1 error, 1 warning\n',
  )
})

cli('usage errors: exit 2, message and usage on stderr, nothing on stdout', async () => {
  for (const argv of [['--bogus'], ['--format', 'xml'], ['--format'], ['-x', 'policies']]) {
    const r = await run(argv)
    assert.is(r.code, EXIT_USAGE, argv.join(' '))
    assert.is(r.out, '')
    assert.ok(r.err.startsWith('validate-policies: '), r.err)
    assert.ok(r.err.endsWith(VALIDATE_USAGE))
  }
  const bad = await run(['--format', 'xml'])
  assert.ok(bad.err.startsWith('validate-policies: unknown format "xml": expected text, json or github\n'))
})

cli('--help prints usage on stdout and exits 0', async () => {
  assert.equal(await run(['--help']), { code: EXIT_OK, out: VALIDATE_USAGE, err: '' })
  assert.equal(await run(['-h', 'whatever']), { code: EXIT_OK, out: VALIDATE_USAGE, err: '' })
})

const examples = suite('example policies')

examples('each file starts with the schema comment for editors (policies and their tests)', () => {
  const files = readdirSync(join(root, 'policies'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
  const policies = files.filter((f) => !f.endsWith('.test.yaml'))
  assert.equal(policies, ['10-catalog.yaml', '20-search.yaml', '30-pages.yaml', '40-private.yaml'])
  assert.equal(
    files.filter((f) => f.endsWith('.test.yaml')),
    policies.map((f) => f.replace('.yaml', '.test.yaml')),
  )
  for (const f of files) {
    const schema = f.endsWith('.test.yaml') ? 'policy-test.schema.json' : 'policy.schema.json'
    assert.ok(
      readFileSync(join(root, 'policies', f), 'utf8').startsWith(
        `# yaml-language-server: $schema=../schemas/${schema}\n`,
      ),
      f,
    )
  }
})

examples('the demo routes reach the intended rules (first match, linear)', async () => {
  const r = await loadPolicies('policies', { cwd: root })
  if (!r.ok) throw new Error('policies/ must load')
  const compiled = r.rules.map((rule) => ({ rule, res: rule.match.map((m) => compileGlob(m)) }))
  const first = (method: string, path: string) =>
    compiled.find(
      ({ rule, res }) => (rule.methods & methodBit(method)) !== 0 && res.some((re) => re.test(path)),
    )?.rule
  const cases: [string, string, string | undefined][] = [
    ['GET', '/api/products', 'products-list'],
    ['HEAD', '/api/products', 'products-list'],
    ['GET', '/api/products/42', 'product-detail'],
    ['GET', '/api/categories', 'categories'],
    ['GET', '/api/search', 'search'],
    ['GET', '/pages/about', 'pages'],
    ['GET', '/static/app.3f2a.js', 'static'],
    ['GET', '/static/css/site.css', 'static'],
    ['GET', '/account', 'account'],
    ['GET', '/account/orders/17', 'account'],
    ['GET', '/cart', 'cart'],
    ['GET', '/checkout/pay', 'checkout'],
    ['PUT', '/api/products/42', 'product-writes'],
    ['PATCH', '/api/products/42', 'product-writes'],
    ['DELETE', '/api/products/42', 'product-writes'],
    ['POST', '/api/products', undefined],
    ['POST', '/api/products/42', undefined],
    ['GET', '/api/products/42/reviews', undefined],
    ['GET', '/', undefined],
  ]
  for (const [method, path, id] of cases) assert.is(first(method, path)?.id, id, `${method} ${path}`)
  const byId = new Map(r.rules.map((x) => [x.id, x]))
  const list = byId.get('products-list')!
  assert.equal(list.key.query.mode === 'include' ? [...list.key.query.names] : [], [
    'page',
    'sort',
    'currency',
  ])
  assert.equal(
    [...byId.get('product-detail')!.statuses],
    [
      [200, 300_000],
      [404, 30_000],
    ],
  )
  const search = byId.get('search')!.key.query
  assert.ok(
    search.mode === 'exclude' &&
      search.names.has('gclid') &&
      search.names.has('fbclid') &&
      search.globs.some((g) => g.test('utm_source')),
  )
  assert.equal(byId.get('pages')!.key.headers, ['accept-language'])
  assert.equal(byId.get('pages')!.key.cookies, ['locale'])
  assert.is(byId.get('static')!.origin, 'override')
  assert.is(byId.get('account')!.cache, false)
})

examples('the catalogue tags its entries and the write rule purges them', async () => {
  const r = await loadPolicies('policies', { cwd: root })
  if (!r.ok) throw new Error('policies/ must load')
  const byId = new Map(r.rules.map((x) => [x.id, x]))
  const detail = byId.get('product-detail')!
  assert.equal(detail.tags, ['products', 'product:{path.3}'])
  assert.is(detail.staleWhileRevalidate, 30_000)
  assert.is(detail.staleIfError, 600_000)
  assert.equal(byId.get('products-list')!.tags, ['products'])
  assert.equal(byId.get('categories')!.tags, ['products'])
  const writes = byId.get('product-writes')!
  assert.equal(writes.methodList, ['PUT', 'PATCH', 'DELETE'])
  assert.equal(writes.invalidateTags, ['products', 'product:{path.3}'])
  assert.equal(writes.tags, [])
  assert.is(byId.get('pages')!.staleIfError, 3_600_000)
  // /api/products/42 → ['', 'api', 'products', '42']: the write purges the tag the page carries
  const [detailTag, writeTag] = [detail.tags[1]!, writes.invalidateTags[1]!].map((t) =>
    compileTag(t)(pathSegments('/api/products/42'), []),
  )
  assert.is(detailTag, 'product:42')
  assert.is(writeTag, 'product:42')
})

cli.run()
examples.run()
