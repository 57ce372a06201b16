/**
 * `cachet test` as users run it: the real CLI in a child process (`node src/cli/bin-cachet.ts`),
 * its exit status and output; the formats through `cli()` with injected I/O; and
 * `validate-policies` running the same test files (README "Testing policies").
 */
import { execFile } from 'node:child_process'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../src/cli/main.js'
import { validatePolicies } from '../../src/cli/validate.js'

const root = new URL('../..', import.meta.url).pathname
const BIN = join(root, 'src/cli/bin-cachet.ts')
const TSX = import.meta.resolve('tsx')
let tmp = ''

/** The real command line, in its own process: `cachet <args>` run in `cwd`. */
function cachet(args: string[], cwd = root): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, BIN, ...args],
      { cwd, timeout: 60_000 },
      (error, out, err) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
        resolve({ code, out, err })
      },
    )
  })
}

type Io = { code: number; out: string; err: string }

async function inProcess(run: (io: Parameters<typeof cli>[1]) => Promise<number>, cwd = root): Promise<Io> {
  let out = ''
  let err = ''
  const code = await run({
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    cwd,
  })
  return { code, out, err }
}

/** A copy of the repository's policies/ (policies and their tests) in a temp folder, `edit`ed. */
function copyPolicies(edit: (name: string, text: string) => string = (_n, t) => t): string {
  const dir = mkdtempSync(join(tmp, 'project-'))
  mkdirSync(join(dir, 'policies'))
  for (const name of readdirSync(join(root, 'policies'))) {
    const text = readFileSync(join(root, 'policies', name), 'utf8')
    writeFileSync(join(dir, 'policies', name), edit(name, text))
  }
  return dir
}

const t = suite('cachet test')
t.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-test-cli-'))
})
t.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

t("the repository's example policy tests pass: one ✓ line per case, exit 0", async () => {
  const r = await cachet(['test'])
  assert.is(r.err, '')
  assert.is(r.code, 0)
  const lines = r.out.trimEnd().split('\n')
  assert.is(lines.at(-1), 'policies: 4 test files, 28 cases, 28 passed, 0 failed, 0 errors, 0 warnings')
  const cases = lines.slice(0, -1)
  assert.is(cases.length, 28)
  for (const l of cases) assert.match(l, /^✓ policies\/\d\d-[a-z]+\.test\.yaml:\d+ \S/)
  assert.is(
    cases[1],
    '✓ policies/10-catalog.test.yaml:18 a product page is stored for 5 minutes and tagged with its id',
  )
})

t('a deliberately wrong expectation fails: ✗ with the expectation, expected and actual; exit 1', async () => {
  const dir = copyPolicies((name, text) =>
    name === '10-catalog.test.yaml' ? text.replace('      stored: 5m\n', '      stored: 10m\n') : text,
  )
  const r = await cachet(['test'], dir)
  assert.is(r.code, 1)
  assert.is(r.err, '')
  const lines = r.out.trimEnd().split('\n')
  const at = lines.findIndex((l) => l.startsWith('✗'))
  assert.equal(lines.slice(at, at + 4), [
    '✗ policies/10-catalog.test.yaml:18 a product page is stored for 5 minutes and tagged with its id',
    '    stored at policies/10-catalog.test.yaml:24:15',
    '    - expected: stored, fresh for 10m',
    '    + actual:   stored, fresh for 5m (kept 15m)',
  ])
  assert.is(lines.filter((l) => l.startsWith('✗')).length, 1, 'only that case fails')
  assert.is(lines.at(-1), 'policies: 4 test files, 28 cases, 27 passed, 1 failed, 0 errors, 0 warnings')
})

t('usage errors exit 2 with the usage on stderr', async () => {
  const bogus = await cachet(['test', '--bogus'])
  assert.is(bogus.code, 2)
  assert.is(bogus.out, '')
  assert.match(bogus.err, /^cachet test: Unknown option '--bogus'/)
  assert.match(bogus.err, /usage: cachet test \[paths\.\.\.\]/)
  const format = await inProcess((io) => cli(['test', '--format', 'xml'], io))
  assert.is(format.code, 2)
  assert.match(format.err, /^cachet test: unknown format "xml": expected text, json or github/)
  const help = await inProcess((io) => cli(['test', '--help'], io))
  assert.is(help.code, 0)
  assert.match(help.out, /^usage: cachet test/)
})

t('no test file at all is an error, not a silent pass', async () => {
  const dir = mkdtempSync(join(tmp, 'empty-'))
  copyFileSync(join(root, 'policies/20-search.yaml'), join(dir, '20-search.yaml'))
  const r = await inProcess((io) => cli(['test', '.'], io), dir)
  assert.equal(r, {
    code: 1,
    out:
      '.: error: no policy test files (*.test.yaml, *.test.yml) found\n' +
      '.: 0 test files, 0 cases, 0 passed, 0 failed, 1 error, 0 warnings\n',
    err: '',
  })
})

t('--format github: annotations at the expectation, warnings for untested rules', async () => {
  const dir = copyPolicies((name, text) =>
    name === '20-search.test.yaml' ? text.replace('notStored: status', 'notStored: private') : text,
  )
  rmSync(join(dir, 'policies/40-private.test.yaml'))
  const r = await inProcess((io) => cli(['test', '--format', 'github'], io), dir)
  assert.is(r.code, 1)
  const notes = r.out.split('\n').filter((l) => l.startsWith('::'))
  assert.equal(notes, [
    '::error file=policies/20-search.test.yaml,line=27,col=18,title=POLICY_TEST_FAILED::case "an error page for one query is not worth keeping": notStored: expected not stored (private), got not stored (status)',
    '::warning file=policies/40-private.yaml,line=10,col=9,title=RULE_UNTESTED::rule "account" is matched by no request of the policy test files',
    '::warning file=policies/40-private.yaml,line=14,col=9,title=RULE_UNTESTED::rule "cart" is matched by no request of the policy test files',
    '::warning file=policies/40-private.yaml,line=18,col=9,title=RULE_UNTESTED::rule "checkout" is matched by no request of the policy test files',
  ])
  assert.ok(
    r.out.includes('✗ policies/20-search.test.yaml:23 an error page for one query is not worth keeping\n'),
  )
})

t('--format json: one document with the summary, every case and its failures', async () => {
  const dir = copyPolicies((name, text) =>
    name === '40-private.test.yaml' ? text.replace('rule: checkout', 'rule: cart') : text,
  )
  const r = await inProcess((io) => cli(['test', '-f', 'json', 'policies'], io), dir)
  assert.is(r.code, 1)
  const doc = JSON.parse(r.out) as {
    ok: boolean
    summary: Record<string, number>
    cases: { name: string; ok: boolean; file: string; line: number; failures: unknown[] }[]
    diagnostics: unknown[]
  }
  assert.is(doc.ok, false)
  assert.equal(doc.summary, { files: 4, cases: 28, passed: 27, failed: 1, errors: 0, warnings: 0 })
  const failed = doc.cases.filter((c) => !c.ok)
  assert.equal(failed, [
    {
      file: 'policies/40-private.test.yaml',
      line: 25,
      col: 5,
      name: 'checkout is never cached',
      ok: false,
      failures: [
        {
          field: 'rule',
          file: 'policies/40-private.test.yaml',
          line: 28,
          col: 13,
          expected: 'cart',
          actual: 'checkout',
        },
      ],
    },
  ])
  assert.equal(doc.diagnostics, [])
})

t('a test file named on its own runs against the policies of its folder, without RULE_UNTESTED', async () => {
  const r = await inProcess((io) => cli(['test', 'policies/20-search.test.yaml'], io))
  assert.is(r.code, 0)
  assert.is(
    r.out.trimEnd().split('\n').at(-1),
    'policies/20-search.test.yaml: 1 test file, 4 cases, 4 passed, 0 failed, 0 errors, 0 warnings',
  )
})

t(
  "the README's example passes on the example policies, and fails after an edit exactly as shown",
  async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('### Testing policies'))
    const example = /```yaml\n(# policies\/20-search\.test\.yaml\n[\s\S]*?)```/.exec(section)?.[1]
    const shown = /After an edit[^\n]*\n\n```\n([\s\S]*?)```/.exec(section)?.[1]
    assert.ok(example && shown, 'the README has the example and its output')
    const only = (edit: (text: string) => string) => {
      const dir = copyPolicies((name, text) => (name === '20-search.yaml' ? edit(text) : text))
      // a project with the search policy and the README's test file only
      for (const name of readdirSync(join(dir, 'policies')))
        if (name !== '20-search.yaml') rmSync(join(dir, 'policies', name))
      writeFileSync(join(dir, 'policies/20-search.test.yaml'), example!)
      return dir
    }
    const ok = await inProcess(
      (io) => cli(['test'], io),
      only((t) => t),
    )
    assert.is(ok.code, 0, ok.out)
    const edited = await inProcess(
      (io) => cli(['test'], io),
      only((t) => t.replace('ttl: 30s', 'ttl: 1m')),
    )
    assert.equal(edited, { code: 1, out: shown, err: '' })
  },
)

const v = suite('validate-policies runs the policy tests')
v.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-test-cli-'))
})
v.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

v('the summary counts the test files and their cases', async () => {
  const r = await inProcess((io) => validatePolicies([], io))
  assert.equal(r, {
    code: 0,
    out: 'policies: 4 files, 10 rules, 4 test files (28 cases, 0 failed), 0 errors, 0 warnings\n',
    err: '',
  })
})

v('a failed case is an error at file:line:col; an untested rule a warning at its id; exit 1', async () => {
  const dir = copyPolicies((name, text) =>
    name === '30-pages.test.yaml' ? text.replace('removed: { query: [x]', 'removed: { query: [v]') : text,
  )
  writeFileSync(
    join(dir, 'policies/40-private.test.yaml'),
    'version: 1\ncases:\n  - name: account\n    request: GET /account\n    expect: { bypass: rule }\n',
  )
  const r = await cachet(['validate'], dir)
  assert.equal(r, {
    code: 1,
    out:
      'policies/30-pages.test.yaml:41:25: error: case "static assets ignore cookies and every parameter but v": removed.query: expected [v], got [x]\n' +
      'policies/40-private.yaml:14:9: warning: rule "cart" is matched by no request of the policy test files\n' +
      'policies/40-private.yaml:18:9: warning: rule "checkout" is matched by no request of the policy test files\n' +
      'policies: 4 files, 10 rules, 4 test files (24 cases, 1 failed), 1 error, 2 warnings\n',
    err: '',
  })
})

v('without test files, no case runs and no rule is called untested', async () => {
  const dir = copyPolicies()
  for (const name of readdirSync(join(dir, 'policies')))
    if (name.endsWith('.test.yaml')) rmSync(join(dir, 'policies', name))
  const r = await inProcess((io) => validatePolicies(['policies'], io), dir)
  assert.equal(r, { code: 0, out: 'policies: 4 files, 10 rules, 0 errors, 0 warnings\n', err: '' })
})

t.run()
v.run()
