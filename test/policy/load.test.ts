import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadPolicies, loadPolicySet, MAX_ALIAS_COUNT, MAX_FILE_BYTES } from '../../src/policy/load.js'
import type { Diagnostic, LoadResult } from '../../src/policy/types.js'

const root = new URL('../..', import.meta.url).pathname
const valid = 'test/fixtures/policies/valid'
let tmp = ''

function write(name: string, text: string): string {
  const p = join(tmp, name)
  mkdirSync(join(p, '..'), { recursive: true })
  writeFileSync(p, text)
  return p
}

function errorsOf(r: LoadResult): Diagnostic[] {
  if (r.ok) throw new Error('expected the load to fail')
  return [...r.errors]
}

const RULE = (id: string, path = `/${id}`) => `  - id: ${id}\n    match: ${path}\n    ttl: 1m\n`

const load = suite('loadPolicies')
load.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-load-'))
})
load.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

load('a folder: *.yaml and *.yml in name order, not recursive, other files ignored', async () => {
  const r = await loadPolicies(`${valid}/set`, { cwd: root })
  assert.ok(r.ok)
  if (!r.ok) return
  assert.equal(r.files, [`${valid}/set/10-first.yaml`, `${valid}/set/20-second.yml`])
  assert.equal(
    r.rules.map((x) => [x.id, x.index]),
    [
      ['one', 0],
      ['two', 1],
      ['three', 2],
    ],
  )
  assert.equal(r.rules[2]!.pos, { file: `${valid}/set/20-second.yml`, line: 4, col: 9 })
  assert.equal(r.warnings, [])
  assert.match(r.version, /^[0-9a-f]{12}$/)
})

load('a list of targets keeps its order; a file listed twice is read once', async () => {
  const r = await loadPolicySet(
    [`${valid}/set/20-second.yml`, `${valid}/set`, `./${valid}/set/20-second.yml`],
    { cwd: root },
  )
  assert.ok(r.result.ok)
  assert.equal(r.files, [`${valid}/set/20-second.yml`, `${valid}/set/10-first.yaml`])
  if (r.result.ok)
    assert.equal(
      r.result.rules.map((x) => x.id),
      ['three', 'one', 'two'],
    )
})

load('names sort by code unit, so 10- comes before 9- and capitals first', async () => {
  write('order/b.yaml', `version: 1\nrules:\n${RULE('b')}`)
  write('order/9-a.yaml', `version: 1\nrules:\n${RULE('nine')}`)
  write('order/10-a.yaml', `version: 1\nrules:\n${RULE('ten')}`)
  write('order/Z.yml', `version: 1\nrules:\n${RULE('zed')}`)
  write('order/.hidden.yaml', 'not: [valid')
  const r = await loadPolicies(join(tmp, 'order'), { cwd: tmp })
  assert.ok(r.ok)
  if (r.ok) {
    assert.equal(r.files, ['order/10-a.yaml', 'order/9-a.yaml', 'order/Z.yml', 'order/b.yaml'])
    assert.equal(
      r.rules.map((x) => x.id),
      ['ten', 'nine', 'zed', 'b'],
    )
  }
})

load('symlinked files count (ConfigMap mounts), symlinked folders inside do not', async () => {
  const target = write('real/policy.yaml', `version: 1\nrules:\n${RULE('linked')}`)
  mkdirSync(join(tmp, 'links'))
  symlinkSync(target, join(tmp, 'links', 'a.yaml'))
  symlinkSync(join(tmp, 'real'), join(tmp, 'links', 'dir.yaml'))
  const r = await loadPolicies('links', { cwd: tmp })
  assert.ok(r.ok)
  if (r.ok)
    assert.equal(
      r.rules.map((x) => x.id),
      ['linked'],
    )
})

load('the version is stable for identical content and changes with it, and with order', async () => {
  write('v1/a.yaml', `version: 1\nrules:\n${RULE('a')}${RULE('b')}`)
  write('v2/renamed.yaml', `# a comment\nversion: 1\n\nrules:\n${RULE('a')}${RULE('b')}`)
  write('v3/a.yaml', `version: 1\nrules:\n${RULE('b')}${RULE('a')}`)
  write('v4/a.yaml', `version: 1\nrules:\n${RULE('a')}${RULE('b', '/other')}`)
  const v = async (d: string) => {
    const r = await loadPolicies(join(tmp, d))
    if (!r.ok) throw new Error(d)
    return r.version
  }
  const v1 = await v('v1')
  assert.is(await v('v1'), v1)
  assert.is(await v('v2'), v1, 'comments, blank lines and file names do not matter')
  assert.is.not(await v('v3'), v1, 'order decides which rule applies')
  assert.is.not(await v('v4'), v1)
})

load('a missing path is a diagnostic at line 0, never an exception', async () => {
  const r = await loadPolicies(['nope', 'nope.yaml'], { cwd: tmp })
  assert.equal(errorsOf(r), [
    {
      code: 'POLICY_READ',
      severity: 'error',
      file: 'nope',
      line: 0,
      col: 0,
      message: 'cannot read: no such file or directory',
    },
    {
      code: 'POLICY_READ',
      severity: 'error',
      file: 'nope.yaml',
      line: 0,
      col: 0,
      message: 'cannot read: no such file or directory',
    },
  ])
})

load('a path outside the working directory is shown absolute', async () => {
  const p = write('outside/x.yaml', 'version: 2\nrules: []\n')
  const r = await loadPolicies(p, { cwd: root })
  assert.is(errorsOf(r)[0]!.file, p)
})

load('an empty folder loads (nothing to cache) with a warning', async () => {
  mkdirSync(join(tmp, 'empty'))
  const r = await loadPolicies('empty', { cwd: tmp })
  assert.ok(r.ok)
  if (r.ok) {
    assert.equal(r.rules, [])
    assert.equal(
      r.warnings.map((w) => [w.code, w.file, w.line]),
      [['POLICY_EMPTY', 'empty', 0]],
    )
  }
})

load('one bad file fails the whole set: no rules at all', async () => {
  write('whole/10-good.yaml', `version: 1\nrules:\n${RULE('good')}`)
  write('whole/20-bad.yaml', 'version: 1\nrules:\n  - id: bad\n    match: /bad\n    ttl: soon\n')
  const r = await loadPolicies('whole', { cwd: tmp })
  assert.not.ok(r.ok)
  assert.not.ok('rules' in r)
  assert.equal(
    errorsOf(r).map((e) => [e.code, e.file, e.line, e.col, e.ruleId]),
    [['DURATION_FORMAT', 'whole/20-bad.yaml', 5, 10, 'bad']],
  )
})

load(`a file over ${MAX_FILE_BYTES} bytes is refused without being parsed`, async () => {
  const big = `version: 1\nrules:\n${RULE('big')}${'# padding\n'.repeat(110_000)}`
  write('big/huge.yaml', big)
  assert.ok(big.length > MAX_FILE_BYTES)
  const r = await loadPolicies('big', { cwd: tmp })
  assert.equal(errorsOf(r), [
    {
      code: 'POLICY_TOO_LARGE',
      severity: 'error',
      file: 'big/huge.yaml',
      line: 0,
      col: 0,
      message: `file is ${big.length} bytes, over the 1 MiB limit for a policy file`,
    },
  ])
  const small = await loadPolicies('big', { cwd: tmp, maxFileBytes: 2 * 1024 * 1024 })
  assert.ok(small.ok, 'the limit is an option')
})

load('maxFileBytes applies exactly at the limit', async () => {
  const text = `version: 1\nrules:\n${RULE('edge')}`
  write('edge/a.yaml', text)
  assert.ok((await loadPolicies('edge', { cwd: tmp, maxFileBytes: text.length })).ok)
  assert.is(
    errorsOf(await loadPolicies('edge', { cwd: tmp, maxFileBytes: text.length - 1 }))[0]!.code,
    'POLICY_TOO_LARGE',
  )
})

load('an alias bomb is refused at its first alias', async () => {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 10; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    )
  write('bomb/bomb.yaml', `version: 1\nrules: []\n${lines.join('\n')}\n`)
  const r = await loadPolicies('bomb', { cwd: tmp })
  assert.equal(errorsOf(r), [
    {
      code: 'POLICY_ALIASES',
      severity: 'error',
      file: 'bomb/bomb.yaml',
      line: 4,
      col: 10,
      message: `too many YAML aliases (limit ${MAX_ALIAS_COUNT}): alias expansion is capped so that a policy file cannot exhaust memory`,
    },
  ])
})

load(
  'a recursive alias is refused where it is, not thrown as a cyclic value (found by the fuzz test)',
  async () => {
    write('cycle/seq.yaml', 'version: 1\nrules:\n  - id: a\n    match: &m [/a, *m]\n    ttl: 1m\n')
    write(
      'cycle/map.yaml',
      'version: 1\nrules:\n  - id: b\n    match: /b\n    ttl: 1m\n    key: &k { query: none, x: *k }\n',
    )
    const r = await loadPolicies('cycle', { cwd: tmp })
    assert.equal(
      errorsOf(r).map((e) => [e.code, e.file, e.line, e.col]),
      [
        ['POLICY_ALIASES', 'cycle/map.yaml', 6, 31],
        ['POLICY_ALIASES', 'cycle/seq.yaml', 4, 20],
      ],
    )
  },
)

load('a few plain aliases are fine; maxAliasCount 0 forbids them', async () => {
  const text = [
    'version: 1',
    'rules:',
    '  - id: a',
    '    match: /a',
    '    ttl: 1m',
    '    key: &shared',
    '      query: none',
    '      headers: [accept-language]',
    '  - id: b',
    '    match: /b',
    '    ttl: 1m',
    '    key: *shared',
    '',
  ].join('\n')
  write('alias/a.yaml', text)
  const r = await loadPolicies('alias', { cwd: tmp })
  assert.ok(r.ok)
  if (r.ok) assert.equal(r.rules[1]!.key.headers, ['accept-language'])
  const none = errorsOf(await loadPolicies('alias', { cwd: tmp, maxAliasCount: 0 }))
  assert.equal(
    none.map((e) => [e.code, e.line, e.col]),
    [['POLICY_ALIASES', 12, 10]],
  )
})

load('YAML problems are diagnostics: syntax, second document, unresolved alias, bad UTF-8', async () => {
  write('yaml/a.yaml', 'version: 1\nrules: [\n')
  write('yaml/b.yaml', `version: 1\nrules:\n${RULE('b')}---\nversion: 1\n`)
  write('yaml/c.yaml', 'version: 1\nrules:\n  - id: c\n    match: *nothing\n')
  writeFileSync(join(tmp, 'yaml/d.yaml'), Buffer.from([0x76, 0x3a, 0x20, 0xff, 0xfe, 0x0a]))
  const errs = errorsOf(await loadPolicies('yaml', { cwd: tmp }))
  assert.equal(
    errs.map((e) => [e.code, e.file, e.line > 0]),
    [
      ['YAML_SYNTAX', 'yaml/a.yaml', true],
      ['YAML_SYNTAX', 'yaml/b.yaml', true],
      ['YAML_SYNTAX', 'yaml/c.yaml', true],
      ['POLICY_READ', 'yaml/d.yaml', false],
    ],
  )
  assert.is(errs[1]!.message, 'invalid YAML: a policy file holds one document, found a second one')
  assert.equal([errs[2]!.line, errs[2]!.col], [4, 12])
  assert.match(errs[2]!.message, /Unresolved alias/)
  assert.is(errs[3]!.message, 'cannot read: not valid UTF-8')
})

load('an unknown YAML tag is a warning that survives a failed load', async () => {
  write('tag/a.yaml', 'version: 1\nrules:\n  - id: a\n    match: !weird /a\n    ttl: nope\n')
  const r = await loadPolicies('tag', { cwd: tmp })
  assert.not.ok(r.ok)
  assert.equal(
    r.warnings.map((w) => [w.code, w.line, w.col]),
    [['YAML_WARNING', 4, 12]],
  )
})

load('programmer misuse throws a TypeError naming the option', async () => {
  for (const [opts, re] of [
    [{ maxFileBytes: 0 }, /maxFileBytes/],
    [{ maxFileBytes: 1.5 }, /maxFileBytes/],
    [{ maxAliasCount: -1 }, /maxAliasCount/],
  ] as const) {
    let thrown: unknown
    try {
      await loadPolicies('x', opts)
    } catch (err) {
      thrown = err
    }
    assert.instance(thrown, TypeError)
    assert.match((thrown as Error).message, re)
  }
  for (const target of [42, [1], null]) {
    let thrown: unknown
    try {
      await loadPolicies(target as unknown as string)
    } catch (err) {
      thrown = err
    }
    assert.instance(thrown, TypeError)
    assert.match((thrown as Error).message, /target/)
  }
})

load('the counts validate-policies prints cover failed sets too', async () => {
  const r = await loadPolicySet('whole', { cwd: tmp })
  assert.is(r.files.length, 2)
  assert.is(r.ruleCount, 2)
})

load.run()
