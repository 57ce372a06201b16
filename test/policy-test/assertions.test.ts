/**
 * `cachet test`'s assertion kinds, one test each, every one shown passing and failing: the
 * failure is asserted whole (the field, the line:col of the expectation, expected and actual as
 * printed). Real files in a temp folder, run through runSuite, as the CLI runs them.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSuite } from '../../src/policy-test/suite.js'
import { policyDir, yaml } from '../helpers/policies.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: account
      match: /account/**
      cache: false
    - id: writes
      match: /items/*
      methods: [POST, PUT]
    - id: items
      match: /items/*
      statuses: { 200: 5m, 404: 30s }
      key:
        query: [page]
        headers: [accept-language]
        cookies: [locale]
      tags: [items, "item:{path.2}"]
    - id: assets
      match: /assets/**
      ttl: 1h
      key:
        query: none
        cookies: []
`)

type Outcome = true | { field: string; at: string; expected: string; actual: string }[]

/** Runs `cases` (the YAML list, indented as written) against POLICY: case name → outcome. */
async function run(cases: string): Promise<Record<string, Outcome>> {
  const text = `version: 1\ncases:\n${yaml(cases)
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n')}`
  const dir = policyDir({ 'policy.yaml': POLICY, 'cases.test.yaml': text })
  const report = await runSuite(['.'], { cwd: dir, requireTests: true })
  assert.equal(
    report.diagnostics.filter((d) => d.severity === 'error'),
    [],
    'the test file is valid',
  )
  const out: Record<string, Outcome> = {}
  for (const c of report.results.flatMap((r) => r.cases))
    out[c.name] = c.ok
      ? true
      : c.failures.map((f) => ({
          field: f.field,
          at: `${f.pos.line}:${f.pos.col}`,
          expected: f.expected,
          actual: f.actual,
        }))
  return out
}

const t = suite('policy test assertions')

t('rule: the id of the rule that matches, or null for none', async () => {
  assert.equal(
    await run(`
      - name: matches
        request: GET /items/1
        expect: { rule: items }
      - name: none
        request: GET /elsewhere
        expect: { rule: null }
      - name: wrong
        request: GET /items/1
        expect: { rule: account }
      - name: unknown id
        request: GET /elsewhere
        expect: { rule: itemz }
    `),
    {
      matches: true,
      none: true,
      wrong: [{ field: 'rule', at: '11:21', expected: 'account', actual: 'items' }],
      'unknown id': [
        {
          field: 'rule',
          at: '14:21',
          expected: 'itemz (no rule has this id)',
          actual: 'none (no rule matches)',
        },
      ],
    },
  )
})

t('decision: lookup, bypass, method or pass', async () => {
  assert.equal(
    await run(`
      - name: lookup
        request: GET /items/1
        expect: { decision: lookup }
      - name: method
        request: PUT /items/1
        expect: { decision: method }
      - name: pass
        request: GET /elsewhere
        expect: { decision: pass }
      - name: wrong
        request: GET /account/me
        expect: { decision: lookup }
    `),
    {
      lookup: true,
      method: true,
      pass: true,
      wrong: [{ field: 'decision', at: '14:25', expected: 'lookup', actual: 'bypass (rule)' }],
    },
  )
})

t('bypass: the reason, as Cache-Status detail= says it', async () => {
  assert.equal(
    await run(`
      - name: rule
        request: GET /account/me
        expect: { bypass: rule }
      - name: authorization
        request: { url: /items/1, headers: { Authorization: Bearer x } }
        expect: { decision: bypass, bypass: authorization }
      - name: wrong reason
        request: GET /account/me
        expect: { bypass: cookie }
      - name: not a bypass
        request: GET /items/1
        expect: { bypass: rule }
    `),
    {
      rule: true,
      authorization: true,
      'wrong reason': [
        { field: 'bypass', at: '11:23', expected: 'bypass (cookie)', actual: 'bypass (rule)' },
      ],
      'not a bypass': [{ field: 'bypass', at: '14:23', expected: 'bypass (rule)', actual: 'lookup' }],
    },
  )
})

t('sameKey: requests that share the entry, with what tells them apart when they do not', async () => {
  assert.equal(
    await run(`
      - name: shares
        request: GET /items/1?page=2&utm_source=x
        expect:
          sameKey: [GET /items/1?page=2, HEAD /items/1?page=2&ref=y]
      - name: does not
        request: GET /items/1?page=2
        expect:
          sameKey:
            - GET /items/1?page=3
            - { url: /items/1?page=2, headers: { accept-language: fr } }
            - GET /account/me
    `),
    {
      shares: true,
      'does not': [
        {
          field: 'sameKey[0]',
          at: '11:11',
          expected: 'the same entry as GET /items/1?page=2',
          actual: 'GET /items/1?page=3: another entry (query page=3 vs page=2)',
        },
        {
          field: 'sameKey[1]',
          at: '12:11',
          expected: 'the same entry as GET /items/1?page=2',
          actual: 'GET /items/1?page=2: another entry (header accept-language fr vs (absent))',
        },
        {
          field: 'sameKey[2]',
          at: '13:11',
          expected: 'the same entry as GET /items/1?page=2',
          actual: 'GET /account/me is not looked up (decision: bypass (rule)), so it shares no entry',
        },
      ],
    },
  )
})

t('differentKey: requests that do not share the entry; both must be looked up', async () => {
  assert.equal(
    await run(`
      - name: differs
        request: { url: /items/1, headers: { cookie: locale=fr } }
        expect:
          differentKey:
            - { url: /items/1, headers: { cookie: locale=de } }
            - GET /items/2
      - name: shares
        request: GET /items/1?page=2
        expect:
          differentKey: GET /items/1?page=2&utm_source=x
      - name: bypassed
        request: GET /items/1
        expect:
          differentKey: { url: /items/1, headers: { authorization: Basic eA== } }
    `),
    {
      differs: true,
      shares: [
        {
          field: 'differentKey',
          at: '12:21',
          expected: 'another entry than GET /items/1?page=2',
          actual: 'GET /items/1?page=2&utm_source=x: the same entry',
        },
      ],
      bypassed: [
        {
          field: 'differentKey',
          at: '16:21',
          expected: 'another entry than GET /items/1',
          actual: 'GET /items/1 is not looked up (decision: bypass (authorization)), so it shares no entry',
        },
      ],
    },
  )
})

t('removed.query: exactly the query parameters the application never sees', async () => {
  assert.equal(
    await run(`
      - name: removed
        request: GET /items/1?page=2&utm_source=x&ref=y&ref=z
        expect: { removed: { query: [ref, utm_source] } }
      - name: nothing
        request: GET /items/1?page=2
        expect: { removed: { query: [] } }
      - name: wrong
        request: GET /items/1?page=2&ref=y
        expect: { removed: { query: [page] } }
    `),
    {
      removed: true,
      nothing: true,
      wrong: [{ field: 'removed.query', at: '11:33', expected: '[page]', actual: '[ref]' }],
    },
  )
})

t('removed.cookies: the cookies a rule does not key are removed', async () => {
  assert.equal(
    await run(`
      - name: removed
        request: { url: /items/1, headers: { cookie: "locale=fr; session=abc; ab=1" } }
        expect: { removed: { cookies: [session, ab] } }
      - name: wrong
        request: { url: /items/1, headers: { cookie: "locale=fr; session=abc" } }
        expect: { removed: { cookies: [] } }
    `),
    {
      removed: true,
      wrong: [{ field: 'removed.cookies', at: '8:35', expected: '[]', actual: '[session]' }],
    },
  )
})

t('removed.headers: Cookie when no cookie is kept, and fields the Connection header names', async () => {
  assert.equal(
    await run(`
      - name: cookie header
        request: { url: /assets/app.js, headers: { cookie: session=abc } }
        expect: { removed: { headers: [cookie], cookies: [session] } }
      - name: no kept cookie
        request: { url: /items/1, headers: { cookie: session=abc } }
        expect: { removed: { headers: [cookie] } }
      - name: connection
        request: { url: /items/1, headers: { connection: "close, x-debug", x-debug: "1" } }
        expect: { removed: { headers: [x-debug] } }
      - name: wrong
        request: { url: /items/1, headers: { cookie: "locale=fr" } }
        expect: { removed: { headers: [cookie] } }
    `),
    {
      'cookie header': true,
      'no kept cookie': true,
      connection: true,
      wrong: [{ field: 'removed.headers', at: '14:35', expected: '[cookie]', actual: '[]' }],
    },
  )
})

t('tags: the resolved tags of the entry', async () => {
  assert.equal(
    await run(`
      - name: tags
        request: GET /items/42
        expect: { tags: ["item:42", items] }
      - name: wrong
        request: GET /items/42
        expect: { tags: [items, "item:41"] }
      - name: not looked up
        request: GET /account/me
        expect: { tags: [] }
    `),
    {
      tags: true,
      wrong: [{ field: 'tags', at: '8:21', expected: '[item:41, items]', actual: '[item:42, items]' }],
      'not looked up': true,
    },
  )
})

t('stored: true, false, or stored and fresh for exactly a duration', async () => {
  assert.equal(
    await run(`
      - name: status lifetime
        request: GET /items/1
        response: { status: 404 }
        expect: { stored: 30s }
      - name: stated lifetime
        request: GET /items/1
        response: { headers: { Cache-Control: "max-age=90", Age: "30" } }
        expect: { stored: 1m }
      - name: stored
        request: GET /items/1
        response: { status: 200 }
        expect: { stored: true }
      - name: not stored
        request: GET /items/1
        response: { status: 500 }
        expect: { stored: false }
      - name: wrong lifetime
        request: GET /items/1
        response: { headers: { etag: '"v1"' } }
        expect: { stored: 1h }
      - name: wrong yes
        request: GET /items/1
        response: { headers: { cache-control: no-store } }
        expect: { stored: true }
      - name: wrong no
        request: GET /assets/app.js
        response: { headers: { content-type: text/javascript } }
        expect: { stored: false }
    `),
    {
      'status lifetime': true,
      'stated lifetime': true,
      stored: true,
      'not stored': true,
      'wrong lifetime': [
        {
          field: 'stored',
          at: '22:23',
          expected: 'stored, fresh for 1h',
          actual: 'stored, fresh for 5m (kept 10m)',
        },
      ],
      'wrong yes': [{ field: 'stored', at: '26:23', expected: 'stored', actual: 'not stored (no-store)' }],
      'wrong no': [{ field: 'stored', at: '30:23', expected: 'not stored', actual: 'stored, fresh for 1h' }],
    },
  )
})

t('notStored: not stored, and why', async () => {
  assert.equal(
    await run(`
      - name: set-cookie
        request: GET /items/1
        response: { headers: { set-cookie: [a=1, b=2] } }
        expect: { notStored: set-cookie }
      - name: head
        request: HEAD /items/1
        response: { status: 200 }
        expect: { notStored: head }
      - name: deception guard
        request: GET /assets/x.css
        response: { headers: { content-type: text/html } }
        expect: { notStored: content-type }
      - name: too large
        request: GET /items/1
        response: { headers: { content-length: 2000000 } }
        expect: { notStored: too-large }
      - name: bypass
        request: GET /account/me
        response: { status: 200 }
        expect: { notStored: bypass }
      - name: wrong reason
        request: GET /items/1
        response: { headers: { cache-control: private } }
        expect: { notStored: no-store }
      - name: stored after all
        request: GET /items/1
        response: { status: 200 }
        expect: { notStored: status }
    `),
    {
      'set-cookie': true,
      head: true,
      'deception guard': true,
      'too large': true,
      bypass: true,
      'wrong reason': [
        {
          field: 'notStored',
          at: '26:26',
          expected: 'not stored (no-store)',
          actual: 'not stored (private)',
        },
      ],
      'stored after all': [
        { field: 'notStored', at: '30:26', expected: 'not stored (status)', actual: 'stored, fresh for 5m' },
      ],
    },
  )
})

t('a case with several expectations reports each one that fails, in the order written', async () => {
  assert.equal(
    await run(`
      - name: several
        request: GET /items/1?ref=x
        response: { status: 200 }
        expect:
          stored: 1m
          rule: items
          removed: { query: [] }
          decision: bypass
    `),
    {
      several: [
        { field: 'stored', at: '7:15', expected: 'stored, fresh for 1m', actual: 'stored, fresh for 5m' },
        { field: 'removed.query', at: '9:25', expected: '[]', actual: '[ref]' },
        { field: 'decision', at: '10:17', expected: 'bypass', actual: 'lookup' },
      ],
    },
  )
})

t.run()
