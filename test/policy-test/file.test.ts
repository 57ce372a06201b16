/**
 * Policy test files as files: their JSON Schema, every error at file:line:col (golden text), a
 * file in error running no case, and the policy loader leaving them alone (a folder's
 * `*.test.yaml` is no policy; one named explicitly is refused with a clear error).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { formatDiagnostics } from '../../src/policy/diagnostic.js'
import { isPolicyName, isPolicyTestName } from '../../src/policy/files.js'
import { loadPolicies } from '../../src/policy/load.js'
import { runSuite } from '../../src/policy-test/suite.js'
import { policyDir, yaml } from '../helpers/policies.js'

const root = new URL('../..', import.meta.url).pathname

const POLICY = yaml(`
  version: 1
  rules:
    - id: search
      match: /search
      ttl: 30s
`)

async function errorsOf(text: string): Promise<{ out: string; cases: number }> {
  const dir = policyDir({ 'policy.yaml': POLICY, 'bad.test.yaml': text })
  const r = await runSuite(['.'], { cwd: dir, requireTests: true })
  return { out: formatDiagnostics(r.diagnostics, 'text'), cases: r.counts.cases }
}

const f = suite('policy test files')

f('the schema is a draft 2020-12 schema with an $id (editors resolve it by the comment in each file)', () => {
  const schema = JSON.parse(readFileSync(join(root, 'schemas/policy-test.schema.json'), 'utf8'))
  assert.is(schema.$id, 'https://cachet.dev/schemas/policy-test.schema.json')
  assert.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
})

f('schema errors, each at file:line:col with what was expected and what was found', async () => {
  const r = await errorsOf(
    yaml(`
      version: 2
      cases:
        - name: bad request
          request: "GET"
          expect: { rule: search }
        - name: unknown field
          request: GET /x
          expect: { rul: search, stored: "5 minutes" }
        - name: request object
          request: { url: 5, methd: GET }
          expect: { decision: cache }
        - name: same key list
          request: GET /x
          expect:
            sameKey: [GET /a, { url: /b, headers: { "bad name": x } }, { method: GET }]
            removed: { query: [1] }
        - request: GET /x
          expect: {}
        - name: response
          request: GET /x
          response: { status: 99, header: {} }
          expect: { notStored: nope }
    `),
  )
  assert.fixture(
    r.out,
    [
      'bad.test.yaml:1:10: error: version: expected 1, got 2',
      'bad.test.yaml:4:14: error: case "bad request": request: expected a request like "GET /path?query", or a map with method, url and headers, got "GET"',
      'bad.test.yaml:8:15: error: case "unknown field": expect: unknown field "rul" (did you mean "rule"?)',
      'bad.test.yaml:8:36: error: case "unknown field": expect.stored: expected true, false or a duration like "5m", "30s" or a number of seconds, got "5 minutes"',
      'bad.test.yaml:10:21: error: case "request object": request.url: expected a path like "/products/1?page=2" or an absolute URL, got 5',
      'bad.test.yaml:10:24: error: case "request object": request: unknown field "methd" (did you mean "method"?)',
      'bad.test.yaml:11:25: error: case "request object": expect.decision: expected lookup, bypass, method or pass, got "cache"',
      'bad.test.yaml:15:47: error: case "same key list": expect.sameKey[1].headers: expected a header name (an HTTP token), got "bad name"',
      'bad.test.yaml:15:66: error: case "same key list": expect.sameKey[2]: missing required field "url"',
      'bad.test.yaml:16:26: error: case "same key list": expect.removed.query[0]: expected a name (1 to 256 characters), got 1',
      'bad.test.yaml:17:5: error: cases[4]: missing required field "name"',
      'bad.test.yaml:18:13: error: cases[4].expect: expected a map of expectations (rule, decision, bypass, sameKey, differentKey, removed, tags, stored, notStored), got {}',
      'bad.test.yaml:21:25: error: case "response": response.status: expected a status code from 100 to 999, got 99',
      'bad.test.yaml:21:29: error: case "response": response: unknown field "header" (did you mean "headers"?)',
      'bad.test.yaml:22:26: error: case "response": expect.notStored: expected a reason a response is not stored: pass, bypass, method, head, status, set-cookie, no-store, private, no-cache, vary-star, authorization, expired, no-lifetime, content-type or too-large, got "nope"',
      '',
    ].join('\n'),
  )
  assert.is(r.cases, 0, 'a file in error runs no case')
})

f('what the schema cannot say: a response to judge, consistent expectations, distinct names', async () => {
  const r = await errorsOf(
    yaml(`
      version: 1
      cases:
        - name: no response
          request: GET /search
          expect: { stored: 30s }
        - name: contradiction
          request: GET /search
          response: { status: 200 }
          expect: { decision: lookup, bypass: rule, stored: true, notStored: status }
        - name: no response
          request: GET /search
          expect: { rule: search }
    `),
  )
  assert.fixture(
    r.out,
    [
      'bad.test.yaml:5:15: error: case "no response": expect.stored: needs a response to judge (response: { status, headers })',
      'bad.test.yaml:9:33: error: case "contradiction": expect.bypass: says the request bypasses, but decision says lookup',
      'bad.test.yaml:9:61: error: case "contradiction": expect.notStored: says the response is not stored, but stored says true',
      'bad.test.yaml:10:11: error: case "no response": duplicate case name, first at bad.test.yaml:3:11',
      '',
    ].join('\n'),
  )
})

f('YAML problems are the loader’s: syntax and duplicate keys at file:line:col', async () => {
  assert.is(
    (await errorsOf('version: 1\ncases:\n  - name: a\n    name: b\n')).out,
    'bad.test.yaml:4:5: error: duplicate key "name": each field may appear once\n',
  )
  assert.match((await errorsOf('version: 1\ncases: [\n')).out, /^bad\.test\.yaml:3:1: error: invalid YAML: /)
})

f('the policy loader skips *.test.yaml in a folder, and refuses one named as a policy', async () => {
  assert.ok(isPolicyName('10-catalog.yaml') && isPolicyName('x.yml'))
  assert.not.ok(isPolicyName('10-catalog.test.yaml') || isPolicyName('a.test.yml') || isPolicyName('.a.yaml'))
  assert.ok(isPolicyTestName('10-catalog.test.yaml') && isPolicyTestName('a.test.yml'))
  assert.not.ok(isPolicyTestName('10-catalog.yaml') || isPolicyTestName('.a.test.yaml'))

  const dir = policyDir({ 'policy.yaml': POLICY, 'policy.test.yaml': 'version: 1\ncases: []\n' })
  const r = await loadPolicies(dir)
  assert.ok(r.ok, 'the test file (invalid as a policy) is not read as one')
  assert.equal(r.ok && r.files.map((x) => x.slice(x.lastIndexOf('/') + 1)), ['policy.yaml'])
  const named = await loadPolicies('policy.test.yaml', { cwd: dir })
  assert.equal(!named.ok && named.errors, [
    {
      code: 'POLICY_TEST_FILE',
      severity: 'error',
      file: 'policy.test.yaml',
      line: 0,
      col: 0,
      message:
        'a policy test file (*.test.yaml) is not a policy: `cachet test` and `validate-policies` run it',
    },
  ])
})

f.run()
