import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { formatDiagnostics, sortDiagnostics } from '../../src/policy/diagnostic.js'
import type { Diagnostic } from '../../src/policy/types.js'

const d = (file: string, line: number, col: number, extra: Partial<Diagnostic> = {}): Diagnostic => ({
  code: 'POLICY_SCHEMA',
  severity: 'error',
  file,
  line,
  col,
  message: `m ${file}:${line}:${col}`,
  ...extra,
})

const fmt = suite('formatDiagnostics')

fmt('sorts by file, then line, then column; errors first at one place', () => {
  const list = [
    d('b.yaml', 1, 1),
    d('a.yaml', 10, 2),
    d('a.yaml', 2, 9, { severity: 'warning' }),
    d('a.yaml', 2, 9),
    d('a.yaml', 2, 3),
  ]
  assert.equal(
    sortDiagnostics(list).map((x) => `${x.file}:${x.line}:${x.col}:${x.severity}`),
    ['a.yaml:2:3:error', 'a.yaml:2:9:error', 'a.yaml:2:9:warning', 'a.yaml:10:2:error', 'b.yaml:1:1:error'],
  )
  assert.is(list[0]!.file, 'b.yaml', 'the input is not reordered')
})

fmt('text: path:line:col: severity: [rule "id": ]message; whole-file findings have no position', () => {
  const out = formatDiagnostics(
    [
      {
        code: 'DURATION_FORMAT',
        severity: 'error',
        file: 'policies/catalog.yaml',
        line: 14,
        col: 10,
        ruleId: 'search',
        message: 'ttl: expected a duration like "30s", "5m" or a number of seconds, got "5 minutes"',
      },
      {
        code: 'RULE_SHADOWED',
        severity: 'warning',
        file: 'policies/catalog.yaml',
        line: 20,
        col: 5,
        ruleId: 'all-products',
        message:
          'rule "all-products" can never match: rule "products" (line 8) matches everything it matches',
      },
      {
        code: 'POLICY_TOO_LARGE',
        severity: 'error',
        file: 'policies/big.yaml',
        line: 0,
        col: 0,
        message: 'file is 2000000 bytes, over the 1 MiB limit for a policy file',
      },
    ],
    'text',
  )
  assert.fixture(
    out,
    [
      'policies/big.yaml: error: file is 2000000 bytes, over the 1 MiB limit for a policy file',
      'policies/catalog.yaml:14:10: error: rule "search": ttl: expected a duration like "30s", "5m" or a number of seconds, got "5 minutes"',
      'policies/catalog.yaml:20:5: warning: rule "all-products" can never match: rule "products" (line 8) matches everything it matches',
      '',
    ].join('\n'),
  )
})

fmt('text of nothing is empty', () => {
  assert.is(formatDiagnostics([], 'text'), '')
  assert.is(formatDiagnostics([], 'github'), '')
  assert.is(formatDiagnostics([], 'json'), '[]\n')
})

fmt('json: an array with stable field names; ruleId null when there is none', () => {
  const out = formatDiagnostics(
    [
      d('b.yaml', 3, 4, { ruleId: 'x', code: 'GLOB_INVALID' }),
      d('a.yaml', 0, 0, { code: 'POLICY_READ', message: 'cannot read' }),
    ],
    'json',
  )
  assert.equal(JSON.parse(out), [
    {
      code: 'POLICY_READ',
      severity: 'error',
      file: 'a.yaml',
      line: 0,
      col: 0,
      ruleId: null,
      message: 'cannot read',
    },
    {
      code: 'GLOB_INVALID',
      severity: 'error',
      file: 'b.yaml',
      line: 3,
      col: 4,
      ruleId: 'x',
      message: 'm b.yaml:3:4',
    },
  ])
  assert.equal(Object.keys(JSON.parse(out)[0]), [
    'code',
    'severity',
    'file',
    'line',
    'col',
    'ruleId',
    'message',
  ])
})

fmt('github: workflow commands, escaped the way actions/toolkit escapes them', () => {
  const out = formatDiagnostics(
    [
      d('policies/a,b:c.yaml', 3, 7, { ruleId: 'r', message: '50% of\nthings' }),
      d('policies/x.yaml', 0, 0, { severity: 'warning', code: 'POLICY_EMPTY', message: 'nothing here' }),
    ],
    'github',
  )
  assert.fixture(
    out,
    [
      '::error file=policies/a%2Cb%3Ac.yaml,line=3,col=7,title=POLICY_SCHEMA::rule "r": 50%25 of%0Athings',
      '::warning file=policies/x.yaml,title=POLICY_EMPTY::nothing here',
      '',
    ].join('\n'),
  )
})

fmt.run()
