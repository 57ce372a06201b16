/**
 * Warnings about one rule alone (src/policy/lint-rule.ts): what each one fires on and, as much, what
 * must stay silent. The exact output through validate-policies is in lint-golden.test.ts.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { MAX_ENTRY_TTL } from '../../src/http/freshness.js'
import { formatDuration } from '../../src/policy/duration.js'
import { LIFETIME_CAP_MS, lintRule } from '../../src/policy/lint-rule.js'
import { normalizeRule, type RawRule } from '../../src/policy/normalize.js'

const pos = { file: 'p.yaml', line: 1, col: 1 }
const codes = (raw: Omit<RawRule, 'id' | 'match'> & { match?: RawRule['match'] }) =>
  lintRule(normalizeRule({ id: 'r', match: '/r', ttl: 60, ...raw }, 0, pos)).map((f) => [
    f.code,
    f.at.field.join('.'),
  ])

const s = suite('lintRule')

s('the lifetime cap is the one capture applies', () => {
  assert.is(LIFETIME_CAP_MS, MAX_ENTRY_TTL)
})

s('durations read in the policy units', () => {
  assert.is(formatDuration(30 * 86_400_000), '30d')
  assert.is(formatDuration(36 * 3_600_000), '1d12h')
  assert.is(formatDuration(90_500), '1m30s500ms')
  assert.is(formatDuration(0), '0s')
})

s('rules that store nothing are never warned about', () => {
  const noisy = { key: { headers: ['user-agent'] }, ttl: '90d', statuses: [206], match: '/**' }
  assert.equal(codes({ ...noisy, cache: false }), [])
  assert.equal(codes({ ...noisy, methods: ['POST'] }), [])
})

s('KEY_HIGH_CARDINALITY: per request, per client, per session, validators; not the usual keys', () => {
  assert.equal(
    codes({
      key: {
        query: 'none',
        headers: [
          'accept-language',
          'x-correlation-id',
          'true-client-ip',
          'x-csrf-token',
          'if-modified-since',
          'accept',
          'origin',
          'referer',
        ],
      },
    }),
    [
      ['KEY_HIGH_CARDINALITY', 'key.headers.1'],
      ['KEY_HIGH_CARDINALITY', 'key.headers.2'],
      ['KEY_HIGH_CARDINALITY', 'key.headers.3'],
      ['KEY_HIGH_CARDINALITY', 'key.headers.4'],
      ['KEY_HIGH_CARDINALITY', 'key.headers.7'],
    ],
  )
  // authorization has its own warning (KEY_UNSAFE, lint.ts); cookie is an error (check.ts)
  assert.equal(codes({ key: { headers: ['authorization'] } }), [])
})

s(
  'QUERY_UNBOUNDED: all or an exclude list on a `**` or unanchored glob; names, none or a bounded path are silent',
  () => {
    for (const match of ['/a/**', '**/*.css', '/*/edit', '/**', ['/a', '/b/**/c']])
      assert.equal(
        codes({ match }).map((c) => c[0]),
        ['QUERY_UNBOUNDED'],
        JSON.stringify(match),
      )
    assert.equal(codes({ match: '/a/**', key: { query: { exclude: ['utm_*'] } } }), [
      ['QUERY_UNBOUNDED', 'key.query'],
    ])
    for (const match of ['/a', '/a/*', '/a/*/b', '/{a,b}/*.css']) assert.equal(codes({ match }), [], match)
    assert.equal(codes({ match: '/a/**', key: { query: ['page'] } }), [])
    assert.equal(codes({ match: '/a/**', key: { query: 'none' } }), [])
  },
)

s('TTL_CAPPED: ttl, status lifetimes and stale windows over 30 days; 30 days itself is fine', () => {
  const none = { key: { query: 'none' as const } }
  assert.equal(codes({ ...none, ttl: '30d', staleIfError: '720h', staleWhileRevalidate: 30 * 86400 }), [])
  assert.equal(
    codes({ ...none, ttl: '30d1s', statuses: { 200: '31d', 404: '1m' }, staleWhileRevalidate: '60d' }),
    [
      ['TTL_CAPPED', 'ttl'],
      ['TTL_CAPPED', 'statuses.200'],
      ['TTL_CAPPED', 'staleWhileRevalidate'],
    ],
  )
})

s('STATUS_NEVER_STORED: 206 always, a 0 lifetime only under override', () => {
  const none = { key: { query: 'none' as const } }
  assert.equal(codes({ ...none, statuses: [200, 206] }), [['STATUS_NEVER_STORED', 'statuses.1']])
  assert.equal(codes({ ...none, statuses: { 200: '1m', 404: 0 } }), [])
  assert.equal(codes({ ...none, origin: 'override', statuses: { 200: '1m', 404: 0 } }), [
    ['STATUS_NEVER_STORED', 'statuses.404'],
  ])
  const [only] = lintRule(normalizeRule({ id: 'r', match: '/r', ttl: 60, ...none, statuses: [206] }, 0, pos))
  assert.match(only!.message, 'so it stores nothing')
})

s('STALE_UNREACHABLE: only under override, only past what the cap leaves', () => {
  const none = { key: { query: 'none' as const } }
  assert.equal(codes({ ...none, origin: 'override', ttl: '30d', staleIfError: '1d' }), [
    ['STALE_UNREACHABLE', 'staleIfError'],
  ])
  assert.equal(
    codes({ ...none, origin: 'override', ttl: '29d', staleIfError: '1d', staleWhileRevalidate: '25h' }),
    [['STALE_UNREACHABLE', 'staleWhileRevalidate']],
  )
  assert.equal(codes({ ...none, ttl: '30d', staleIfError: '1d' }), [], 'respect: the response may state less')
  // one status with room left is enough for the window to be reached
  assert.equal(
    codes({ ...none, origin: 'override', statuses: { 200: '30d', 404: '1m' }, staleIfError: '1d' }),
    [],
  )
  // a 206-only rule stores nothing: said once, by STATUS_NEVER_STORED
  assert.equal(codes({ ...none, origin: 'override', ttl: '30d', statuses: [206], staleIfError: '1d' }), [
    ['STATUS_NEVER_STORED', 'statuses.0'],
  ])
})

s.run()
