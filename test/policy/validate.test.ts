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
v.before(() => { tmp = mkdtempSync(join(tmpdir(), 'cachet-validate-')) })
v.after(() => { rmSync(tmp, { recursive: true, force: true }) })

v('a valid file has no errors', async () => {
  assert.equal(await errorsOf(rule('    ttl: 5m\n')), [])
})

v('one message per bad duration, not one per anyOf branch', async () => {
  assert.equal(await errorsOf(rule('    ttl: 5 minutes\n')), [
    ['DURATION_FORMAT', 5, 10, 'r', 'ttl: expected a duration like "30s", "5m" or a number of seconds, got "5 minutes"'],
  ])
})

v('one message per bad size', async () => {
  const errs = await errorsOf(rule('    ttl: 1m\n    maxBodySize: 1 MB\n'))
  assert.equal(errs.map((e) => e[0]), ['SIZE_FORMAT'])
})

v('a bad element of a list is named exactly, without the union noise about the list', async () => {
  assert.equal(await errorsOf('version: 1\nrules:\n  - id: r\n    match: [/ok, 5]\n    ttl: 1m\n'), [
    ['POLICY_SCHEMA', 4, 18, 'r', 'match[1]: expected a glob like "/products/*", got 5'],
  ])
})

v('each planned field is its own FIELD_NOT_SUPPORTED error, pointing at the key', async () => {
  const errs = await errorsOf(rule('    ttl: 1m\n    tags: [a]\n    invalidate: { tags: [a] }\n    staleWhileRevalidate: 1m\n    staleIfError: oops\n'))
  assert.equal(errs, [
    ['FIELD_NOT_SUPPORTED', 6, 5, 'r', 'tags is not supported yet (planned)'],
    ['FIELD_NOT_SUPPORTED', 7, 5, 'r', 'invalidate is not supported yet (planned)'],
    ['FIELD_NOT_SUPPORTED', 8, 5, 'r', 'staleWhileRevalidate is not supported yet (planned)'],
    ['FIELD_NOT_SUPPORTED', 9, 5, 'r', 'staleIfError is not supported yet (planned)'],
  ])
})

v('unknown fields: UNKNOWN_FIELD at the key, with a suggestion when one is close', async () => {
  assert.equal(await errorsOf(rule('    ttl: 1m\n    TTL: 2m\n')), [['UNKNOWN_FIELD', 6, 5, 'r', 'unknown field "TTL" (did you mean "ttl"?)']])
  assert.equal(await errorsOf(rule('    ttl: 1m\n    key: { cookie: [a] }\n')), [['UNKNOWN_FIELD', 6, 12, 'r', 'key: unknown field "cookie" (did you mean "cookies"?)']])
})

v('missing required fields and a wrong version', async () => {
  assert.equal(await errorsOf('rules: []\n'), [['MISSING_FIELD', 1, 1, undefined, 'missing required field "version"']])
  assert.equal(await errorsOf('version: "1"\nrules: []\n'), [['VERSION_UNSUPPORTED', 1, 10, undefined, 'version: expected 1, got "1"']])
  assert.equal(await errorsOf('version: 1\nrules:\n  - id: r\n    ttl: 1m\n'), [['MISSING_FIELD', 3, 5, 'r', 'missing required field "match"']])
})

v('semantic checks: globs, hosts, lifetimes, cookie header', async () => {
  const codes = async (body: string) => (await errorsOf(rule(body))).map((e) => e[0])
  assert.equal(await codes('    ttl: 1m\n    host: "[a"\n'), ['GLOB_INVALID'])
  assert.equal(await codes('    ttl: 1m\n    host: a.example:443\n'), ['HOST_FORMAT'])
  assert.equal(await codes('    ttl: 1m\n    host: "[::1]"\n'), [])
  assert.equal(await codes('    statuses: [200]\n'), ['TTL_MISSING'])
  assert.equal(await codes('    statuses: { 200: 1m }\n'), [])
  assert.equal(await codes('    cache: false\n'), [])
  assert.equal(await codes('    ttl: 0\n'), [], 'ttl 0 with origin respect: only what the origin dates is stored')
  assert.equal(await codes('    ttl: 0\n    origin: override\n'), ['TTL_ZERO'])
  assert.equal(await codes('    ttl: 1m\n    key: { headers: [COOKIE] }\n'), ['KEY_COOKIE_HEADER'])
  assert.equal(await codes('    ttl: 1m\n    key: { query: ["a{"] }\n'), [], 'a query name without * or ? is a literal name')
  assert.equal(await codes('    ttl: 1m\n    key: { query: ["a*{"] }\n'), ['GLOB_INVALID'])
  assert.equal(await codes('    ttl: 1m\n    maxBodySize: 99999999999999gb\n'), ['SIZE_RANGE'])
  assert.equal(await codes('    statuses: { 200: 99999999999999999d }\n'), ['DURATION_RANGE'])
})

v('a rule with schema errors is not checked again semantically (one problem, one message)', async () => {
  const errs = await errorsOf('version: 1\nrules:\n  - id: r\n    match: relative\n    ttl: soon\n')
  assert.equal(errs.map((e) => e[0]), ['DURATION_FORMAT'])
})

v('a defaults error is reported once, in defaults, not once per rule', async () => {
  const errs = await errorsOf('version: 1\ndefaults:\n  ttl: 1m\n  host: "a.example:80"\nrules:\n  - id: a\n    match: /a\n  - id: b\n    match: /b\n')
  assert.equal(errs, [['HOST_FORMAT', 4, 9, undefined, 'defaults.host: expected a host name glob without port, got "a.example:80"']])
})

v('duplicate ids within one file', async () => {
  const errs = await errorsOf('version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: 1m\n  - id: a\n    match: /b\n    ttl: 1m\n')
  assert.equal(errs, [['DUPLICATE_ID', 6, 9, 'a', `duplicate id, first defined at p${n - 1}.yaml:3:9`]])
})

v('a non-map document and a non-list rules', async () => {
  assert.equal((await errorsOf('- a\n- b\n')).map((e) => e.slice(0, 3)), [['POLICY_SCHEMA', 1, 1]])
  assert.equal(await errorsOf('version: 1\nrules: {}\n'), [['POLICY_SCHEMA', 2, 8, undefined, 'rules: expected a list of rules, got {}']])
})

v.run()
