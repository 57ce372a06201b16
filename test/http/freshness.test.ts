/**
 * http/freshness.ts on plain objects: the Cache-Control and HTTP-date parsers, and verdict() as a
 * table (RFC 9111 §3 storing, §4.2 freshness, RFC 5861 stale windows). Rules come from YAML through
 * the real loader, so a rule here means what it means in a policy file.
 */

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseHttpDate } from '../../src/http/date.js'
import { parseCacheControl, type ResponseView, type Verdict, verdict } from '../../src/http/freshness.js'
import { rulesById } from '../helpers/rules.js'

const S = 1000

// one file of rules, loaded before any suite is queued (uvu starts on the first run())
const rules = await rulesById(`
  version: 1
  rules:
    - id: plain
      match: /plain/**
      ttl: 1m
    - id: stated-only
      match: /stated/**
      ttl: 0
    - id: stale
      match: /stale/**
      ttl: 1m
      staleWhileRevalidate: 30s
      staleIfError: 10m
    - id: override
      match: /override/**
      ttl: 1m
      origin: override
      staleWhileRevalidate: 30s
      staleIfError: 10m
    - id: override-zero
      match: /override-zero/**
      origin: override
      statuses:
        200: 1m
        404: 0
    - id: per-status
      match: /per-status/**
      statuses:
        200: 5m
        404: 30s
    - id: status-zero
      match: /status-zero/**
      statuses:
        200: 1m
        404: 0
    - id: listed
      match: /listed/**
      ttl: 1m
      statuses: [200, 404]
`)

// ---------------------------------------------------------------------------------------------
const cc = suite('parseCacheControl')
const entries = (v: Parameters<typeof parseCacheControl>[0]) => [...parseCacheControl(v)]

cc('absent or empty: no directives', () => {
  assert.equal(entries(undefined), [])
  assert.equal(entries(''), [])
  assert.equal(entries([]), [])
})

cc('names are case-insensitive (lower-cased), values kept as written', () => {
  assert.equal(entries('Max-Age=60, PUBLIC, No-Cache="Set-Cookie"'), [
    ['max-age', '60'],
    ['public', ''],
    ['no-cache', 'Set-Cookie'],
  ])
})

cc('whitespace around names, "=" and values is ignored', () => {
  assert.equal(entries('  max-age = 60 ,\tpublic\t'), [
    ['max-age', '60'],
    ['public', ''],
  ])
})

cc('a quoted value is unquoted, commas inside it do not split, backslash escapes are resolved', () => {
  assert.equal(entries('max-age="60"'), [['max-age', '60']])
  assert.equal(entries('no-cache="set-cookie, x-foo", max-age=5'), [
    ['no-cache', 'set-cookie, x-foo'],
    ['max-age', '5'],
  ])
  assert.equal(entries('x="a\\"b", y=1'), [
    ['x', 'a"b'],
    ['y', '1'],
  ])
})

cc('an unterminated quote swallows the rest of the line (nothing after it is a directive)', () => {
  assert.equal(entries('x="abc, max-age=5'), [['x', '"abc, max-age=5']])
})

cc('"name=" gives an empty value', () => {
  assert.equal(entries('max-age='), [['max-age', '']])
})

cc('several header lines are combined as one list', () => {
  assert.equal(entries(['max-age=60', 'public', 'stale-if-error=5']), [
    ['max-age', '60'],
    ['public', ''],
    ['stale-if-error', '5'],
  ])
})

cc('a duplicate that agrees is one directive', () => {
  assert.equal(entries('max-age=60, max-age=60'), [['max-age', '60']])
  assert.equal(entries(['no-store', 'no-store']), [['no-store', '']])
})

cc('a duplicate that disagrees is marked conflicting, not first- or last-wins (RFC 9111 §4.2.1)', () => {
  for (const v of ['max-age=60, max-age=120', ['max-age=60', 'max-age=120'], 'max-age=60, max-age']) {
    const got = parseCacheControl(v).get('max-age')
    assert.type(got, 'string')
    assert.not.ok(['60', '120', ''].includes(got!), `${JSON.stringify(v)} → ${JSON.stringify(got)}`)
    assert.not.match(got!, /^\d+$/, 'a conflict is never a valid delta-seconds')
  }
})

cc('garbage between commas is skipped: empty members, bare values, names that are not tokens', () => {
  assert.equal(entries('max-age=60, , ,,  , "junk", =5, foo bar, a/b, public'), [
    ['max-age', '60'],
    ['public', ''],
  ])
})

cc('a number (as node:http may hold a header) is read as its text', () => {
  assert.equal(entries(5), [['5', '']])
})

cc.run()

// ---------------------------------------------------------------------------------------------
const date = suite('parseHttpDate')
const EPOCH_1994 = 784111777000 // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 §5.6.7's example)

date('IMF-fixdate, the preferred format', () => {
  assert.is(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), EPOCH_1994)
  assert.is(parseHttpDate('Thu, 01 Jan 1970 00:00:00 GMT'), 0)
})

date('invalid: absent, empty, "0", "-1", a number of seconds, an ISO date, a day name then garbage', () => {
  const invalid = [
    undefined,
    '',
    '0',
    '-1',
    '3600',
    '1994-11-06T08:49:37Z',
    'Sun, garbage',
    'Sun, 06 Nov 1994 25:49:37 GMT',
  ]
  for (const v of invalid) {
    assert.ok(Number.isNaN(parseHttpDate(v)), `${JSON.stringify(v)} is not a date`)
  }
})

date(
  'by the grammar, not Date.parse: case, inner spaces, no comma, a numeric zone, other zones, ISO are invalid',
  () => {
    const invalid = [
      'sun, 06 nov 1994 08:49:37 gmt',
      'Sun, 06 Nov 1994 08:49:37 gmt',
      'Sun,  06 Nov 1994 08:49:37 GMT',
      'Sun, 6 Nov 1994 08:49:37 GMT',
      'Sun 06 Nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 08:49:37 +0100',
      'Sun, 06 Nov 1994 08:49:37 UTC',
      'Sun, 06 Nov 1994 08:49:37 EST',
      'Sun, 06 Nov 1994 08:49:37',
      'Sun, 06 Nov 94 08:49:37 GMT',
      'Sun, 06 November 1994 08:49:37 GMT',
      'Sunday, 06 Nov 1994 08:49:37 GMT',
      'Sun, 06-Nov-94 08:49:37 GMT',
      'Sun, 06 Nov 1994 8:49:37 GMT',
      'Sun, 06 Nov 1994 08:49 GMT',
      'Sun, 06 Nov 1994 08:49:37.000 GMT',
      'Sun, 06 Nov 1994 08:49:37 GMT x',
      'Nov 06 1994',
      '2030-01-01',
      'Tue, 2030-01-01',
      'Sun Nov 6 08:49:37 1994',
      'Sun Nov  6 08:49:37 1994 GMT',
      'Sun, 31 Apr 1994 08:49:37 GMT',
      'Tue, 29 Feb 1994 08:49:37 GMT',
      'Sun, 00 Nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:60:00 GMT',
      'Sun, 06 Nov 1994 08:49:61 GMT',
      '\u0000Sun, 06 Nov 1994 08:49:37 GMT',
    ]
    for (const v of invalid) assert.ok(Number.isNaN(parseHttpDate(v)), `${JSON.stringify(v)} is not a date`)
  },
)

date(
  'whitespace around the field is allowed; a day name need not be the right one; a leap second is the next second',
  () => {
    assert.is(parseHttpDate('  Sun, 06 Nov 1994 08:49:37 GMT\t'), EPOCH_1994)
    assert.is(parseHttpDate('Mon, 06 Nov 1994 08:49:37 GMT'), EPOCH_1994)
    assert.is(parseHttpDate('Wed, 31 Dec 2008 23:59:60 GMT'), Date.UTC(2009, 0, 1))
    assert.is(parseHttpDate('Thu, 29 Feb 1996 00:00:00 GMT'), Date.UTC(1996, 1, 29))
  },
)

date('asctime-date: a one-digit day after two spaces, or two digits', () => {
  assert.is(parseHttpDate('Sun Nov  6 08:49:37 1994'), EPOCH_1994)
  assert.is(parseHttpDate('Sun Nov 06 08:49:37 1994'), EPOCH_1994)
  assert.is(parseHttpDate('Thu Dec 31 23:59:59 1999'), Date.UTC(1999, 11, 31, 23, 59, 59))
})

date('rfc850-date: a two-digit year more than 50 years ahead is the last century (§5.6.7)', () => {
  const in2026 = Date.UTC(2026, 11, 3)
  assert.is(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', in2026), EPOCH_1994)
  assert.is(parseHttpDate('Friday, 01-Jan-76 00:00:00 GMT', in2026), Date.UTC(2076, 0, 1))
  assert.is(parseHttpDate('Friday, 01-Jan-77 00:00:00 GMT', in2026), Date.UTC(1977, 0, 1))
  assert.is(parseHttpDate('Thursday, 01-Jan-70 00:00:00 GMT', in2026), Date.UTC(2070, 0, 1))
})

date('RFC 9110 §5.6.7: a recipient MUST accept the obsolete rfc850-date format', () => {
  assert.is(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), EPOCH_1994)
})

date('RFC 9110 §5.6.7: an asctime-date is GMT, whatever the process time zone', () => {
  const tz = process.env.TZ
  process.env.TZ = 'America/New_York' // Node re-reads TZ when it is assigned
  try {
    assert.is(parseHttpDate('Sun Nov  6 08:49:37 1994'), EPOCH_1994)
  } finally {
    if (tz === undefined) delete process.env.TZ
    else process.env.TZ = tz
  }
})

date.run()

// ---------------------------------------------------------------------------------------------

const NOW = EPOCH_1994
const DATE = 'Sun, 06 Nov 1994 08:49:37 GMT'
const at = (secs: number) => new Date(NOW + secs * S).toUTCString()
type Headers = Record<string, string | string[]>
const res = (status: number, headers: Headers = {}): ResponseView => ({ status, header: (n) => headers[n] })
const no = (reason: string): Verdict => ({ ttl: 0, initialAge: 0, swr: 0, sie: 0, siu: 0, reason })
const ok = (ttl: number, o: { age?: number; swr?: number; sie?: number; siu?: number } = {}): Verdict => ({
  ttl,
  initialAge: o.age ?? 0,
  swr: o.swr ?? 0,
  sie: o.sie ?? 0,
  siu: o.siu ?? 0,
  reason: undefined,
})

interface Case {
  name: string
  rule: string
  status?: number
  headers?: Headers
  authorized?: boolean
  want: Verdict
}

function table(title: string, cases: Case[]): void {
  const t = suite(title)
  for (const c of cases) {
    t(c.name, () => {
      const rule = rules[c.rule]
      if (!rule) throw new Error(`no rule ${c.rule}`)
      assert.equal(verdict(rule, res(c.status ?? 200, c.headers), c.authorized ?? false, NOW), c.want)
    })
  }
  t.run()
}

table('verdict: never stored', [
  {
    name: 'a status the rule does not list (default statuses)',
    rule: 'plain',
    status: 500,
    want: no('status'),
  },
  { name: '206 is not a default status', rule: 'plain', status: 206, want: no('status') },
  { name: 'a status outside an explicit list', rule: 'listed', status: 301, want: no('status') },
  {
    name: 'the status is checked first',
    rule: 'plain',
    status: 500,
    headers: { 'set-cookie': 'a=1', 'cache-control': 'no-store' },
    want: no('status'),
  },
  {
    name: 'Set-Cookie, even with public and max-age',
    rule: 'plain',
    headers: { 'set-cookie': ['a=1'], 'cache-control': 'public, max-age=60' },
    want: no('set-cookie'),
  },
  {
    name: 'Set-Cookie under origin: override',
    rule: 'override',
    headers: { 'set-cookie': 'a=1' },
    want: no('set-cookie'),
  },
  {
    name: 'no-store',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60, no-store' },
    want: no('no-store'),
  },
  {
    name: 'NO-STORE (case-insensitive)',
    rule: 'plain',
    headers: { 'cache-control': 'NO-STORE' },
    want: no('no-store'),
  },
  {
    name: 'no-store under origin: override',
    rule: 'override',
    headers: { 'cache-control': 'no-store' },
    want: no('no-store'),
  },
  {
    name: 'private',
    rule: 'plain',
    headers: { 'cache-control': 'private, max-age=60' },
    want: no('private'),
  },
  {
    name: 'private="field" is private too',
    rule: 'plain',
    headers: { 'cache-control': 'private="x-user", max-age=60' },
    want: no('private'),
  },
  {
    name: 'private under origin: override',
    rule: 'override',
    headers: { 'cache-control': 'private' },
    want: no('private'),
  },
  { name: 'Vary: *', rule: 'plain', headers: { vary: '*' }, want: no('vary-star') },
  {
    name: 'Vary: * among other names',
    rule: 'plain',
    headers: { vary: 'accept-encoding, * ' },
    want: no('vary-star'),
  },
  {
    name: 'Authorization without public, s-maxage or must-revalidate',
    rule: 'plain',
    authorized: true,
    headers: { 'cache-control': 'max-age=60' },
    want: no('authorization'),
  },
  {
    name: 'Authorization and no Cache-Control at all',
    rule: 'plain',
    authorized: true,
    want: no('authorization'),
  },
  {
    name: 'no-cache without a validator',
    rule: 'plain',
    headers: { 'cache-control': 'no-cache' },
    want: no('no-cache'),
  },
  {
    name: 'no lifetime: the rule has ttl 0 and the response states none',
    rule: 'stated-only',
    want: no('no-lifetime'),
  },
  {
    name: 'no lifetime: override, and a status whose map TTL is 0',
    rule: 'override-zero',
    status: 404,
    headers: { 'cache-control': 'max-age=60' },
    want: no('no-lifetime'),
  },
  {
    name: 'no lifetime: a status whose map TTL is 0 and a response that states none',
    rule: 'status-zero',
    status: 404,
    want: no('no-lifetime'),
  },
  {
    name: 'expired: max-age=0',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=0' },
    want: no('expired'),
  },
  {
    name: 'expired: Age at least max-age',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60', age: '60' },
    want: no('expired'),
  },
  { name: 'expired: Age at least the rule ttl', rule: 'plain', headers: { age: '61' }, want: no('expired') },
  {
    name: 'expired: Expires in the past',
    rule: 'plain',
    headers: { date: DATE, expires: at(-1) },
    want: no('expired'),
  },
  {
    name: 'expired: Expires equal to Date',
    rule: 'plain',
    headers: { date: DATE, expires: DATE },
    want: no('expired'),
  },
  {
    name: 'expired: an invalid Expires ("0") means already expired (§5.3)',
    rule: 'plain',
    headers: { expires: '0' },
    want: no('expired'),
  },
  {
    name: 'expired: two Expires lines',
    rule: 'plain',
    headers: { date: DATE, expires: [at(60), at(120)] },
    want: no('expired'),
  },
  {
    name: 'expired: an invalid max-age is stale, not the rule ttl',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=abc' },
    want: no('expired'),
  },
  {
    name: 'expired: a negative max-age',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=-1' },
    want: no('expired'),
  },
  {
    name: 'expired: conflicting max-age values',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60, max-age=120' },
    want: no('expired'),
  },
  {
    name: 'expired: an empty s-maxage wins over a valid max-age',
    rule: 'plain',
    headers: { 'cache-control': 's-maxage=, max-age=60' },
    want: no('expired'),
  },
])

table('verdict: the lifetime (origin: respect)', [
  { name: 'no stated lifetime: the rule ttl', rule: 'plain', want: ok(60 * S) },
  {
    name: 'max-age wins over the rule ttl, longer',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=300' },
    want: ok(300 * S),
  },
  {
    name: 'max-age wins over the rule ttl, shorter',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=5' },
    want: ok(5 * S),
  },
  { name: 'MAX-AGE in capitals', rule: 'plain', headers: { 'cache-control': 'MAX-AGE=5' }, want: ok(5 * S) },
  { name: 'a quoted max-age', rule: 'plain', headers: { 'cache-control': 'max-age="5"' }, want: ok(5 * S) },
  {
    name: 'max-age over two header lines',
    rule: 'plain',
    headers: { 'cache-control': ['public', 'max-age=5'] },
    want: ok(5 * S),
  },
  {
    name: 's-maxage wins over max-age',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60, s-maxage=120' },
    want: ok(120 * S),
  },
  {
    name: 's-maxage wins over max-age even when shorter',
    rule: 'plain',
    headers: { 'cache-control': 's-maxage=10, max-age=600' },
    want: ok(10 * S),
  },
  {
    name: 'max-age wins over Expires',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=5', date: DATE, expires: at(600) },
    want: ok(5 * S),
  },
  { name: 'Expires − Date', rule: 'plain', headers: { date: DATE, expires: at(100) }, want: ok(100 * S) },
  {
    name: 'Expires − Date, whatever our clock says (origin clock skew)',
    rule: 'plain',
    headers: { date: at(-3600), expires: at(-3500) },
    want: ok(100 * S),
  },
  {
    name: 'Expires − now when Date is absent',
    rule: 'plain',
    headers: { expires: at(90) },
    want: ok(90 * S),
  },
  {
    name: 'Expires − now when Date is invalid',
    rule: 'plain',
    headers: { date: 'yesterday', expires: at(90) },
    want: ok(90 * S),
  },
  {
    name: 'a stated lifetime applies with a rule ttl of 0',
    rule: 'stated-only',
    headers: { 'cache-control': 'max-age=30' },
    want: ok(30 * S),
  },
  {
    name: 'Age is subtracted from max-age and recorded',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60', age: '10' },
    want: ok(50 * S, { age: 10 }),
  },
  {
    name: 'Age is subtracted from Expires − Date',
    rule: 'plain',
    headers: { date: DATE, expires: at(100), age: '30' },
    want: ok(70 * S, { age: 30 }),
  },
  {
    name: 'Age is subtracted from the rule ttl',
    rule: 'plain',
    headers: { age: '15' },
    want: ok(45 * S, { age: 15 }),
  },
  {
    name: 'an invalid Age counts as 0',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60', age: '1.5' },
    want: ok(60 * S),
  },
  {
    name: 'two Age lines are invalid, so 0',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60', age: ['10', '20'] },
    want: ok(60 * S),
  },
  {
    name: 'delta-seconds beyond 2^31 are capped at 2^31 (lifetime() caps the entry later)',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=99999999999' },
    want: ok(2147483648 * S),
  },
  {
    name: 'a status map gives the lifetime of its status',
    rule: 'per-status',
    status: 404,
    want: ok(30 * S),
  },
  { name: '...and of another status', rule: 'per-status', status: 200, want: ok(300 * S) },
  {
    name: 'a stated lifetime wins over a status map',
    rule: 'per-status',
    status: 404,
    headers: { 'cache-control': 'max-age=7' },
    want: ok(7 * S),
  },
  {
    name: 'a status whose map TTL is 0 takes what the response states',
    rule: 'status-zero',
    status: 404,
    headers: { 'cache-control': 'max-age=9' },
    want: ok(9 * S),
  },
  { name: 'a status list uses the rule ttl', rule: 'listed', status: 404, want: ok(60 * S) },
  {
    name: 'Authorization with public: stored',
    rule: 'plain',
    authorized: true,
    headers: { 'cache-control': 'public, max-age=60' },
    want: ok(60 * S),
  },
  {
    name: 'Authorization with s-maxage: stored',
    rule: 'plain',
    authorized: true,
    headers: { 'cache-control': 's-maxage=60' },
    want: ok(60 * S),
  },
  {
    name: 'Authorization with must-revalidate: stored, with the rule ttl',
    rule: 'plain',
    authorized: true,
    headers: { 'cache-control': 'must-revalidate' },
    want: ok(60 * S),
  },
  {
    name: 'Vary naming headers is stored (the variant key handles it)',
    rule: 'plain',
    headers: { vary: 'accept-encoding' },
    want: ok(60 * S),
  },
  {
    name: 'no-cache with an ETag: stored with no freshness, to be revalidated',
    rule: 'plain',
    headers: { 'cache-control': 'no-cache, max-age=60', etag: '"a"' },
    want: ok(0),
  },
  {
    name: 'no-cache with Last-Modified: likewise, keeping the Age',
    rule: 'plain',
    headers: { 'cache-control': 'no-cache', 'last-modified': DATE, age: '5' },
    want: ok(0, { age: 5 }),
  },
])

table('verdict: origin: override', [
  {
    name: 'the rule ttl, whatever max-age says',
    rule: 'override',
    headers: { 'cache-control': 'max-age=5' },
    want: ok(60 * S, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: 'the rule ttl even for max-age=0',
    rule: 'override',
    headers: { 'cache-control': 'max-age=0' },
    want: ok(60 * S, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: 'the rule ttl even for a past Expires',
    rule: 'override',
    headers: { date: DATE, expires: at(-60) },
    want: ok(60 * S, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: 'Age is neither subtracted nor recorded',
    rule: 'override',
    headers: { age: '50' },
    want: ok(60 * S, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: 'no-cache without a validator is stored for the ttl, without stale windows',
    rule: 'override',
    headers: { 'cache-control': 'no-cache' },
    want: ok(60 * S),
  },
  {
    name: "the response's stale-* directives are ignored: the rule's windows",
    rule: 'override',
    headers: { 'cache-control': 'stale-while-revalidate=1, stale-if-error=2' },
    want: ok(60 * S, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: 'must-revalidate still disables the stale windows',
    rule: 'override',
    headers: { 'cache-control': 'must-revalidate' },
    want: ok(60 * S),
  },
  {
    name: 's-maxage still disables the stale windows',
    rule: 'override',
    headers: { 'cache-control': 's-maxage=5' },
    want: ok(60 * S),
  },
])

table('verdict: stale windows', [
  {
    name: "the rule's windows when the response states none",
    rule: 'stale',
    headers: { 'cache-control': 'max-age=60' },
    want: ok(60 * S, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: "the response's windows win over the rule's",
    rule: 'stale',
    headers: { 'cache-control': 'max-age=60, stale-while-revalidate=5, stale-if-error=7' },
    want: ok(60 * S, { swr: 5 * S, sie: 7 * S }),
  },
  {
    name: 'one window from the response, the other from the rule',
    rule: 'stale',
    headers: { 'cache-control': 'max-age=60, stale-if-error=7' },
    want: ok(60 * S, { swr: 30 * S, sie: 7 * S }),
  },
  {
    name: 'the response grants windows the rule does not have',
    rule: 'plain',
    headers: { 'cache-control': 'max-age=60, stale-while-revalidate=5, stale-if-error=7' },
    want: ok(60 * S, { swr: 5 * S, sie: 7 * S }),
  },
  {
    name: "an invalid stale-* value means no window, not the rule's",
    rule: 'stale',
    headers: { 'cache-control': 'max-age=60, stale-while-revalidate=soon, stale-if-error' },
    want: ok(60 * S),
  },
  {
    name: "expired but inside the rule's windows: stored with no freshness",
    rule: 'stale',
    headers: { 'cache-control': 'max-age=0' },
    want: ok(0, { swr: 30 * S, sie: 600 * S }),
  },
  {
    name: "expired but with the response's stale-if-error: stored",
    rule: 'plain',
    headers: { 'cache-control': 'max-age=0, stale-if-error=60' },
    want: ok(0, { sie: 60 * S }),
  },
  {
    name: 'older than its lifetime (Age) but inside a window',
    rule: 'stale',
    headers: { 'cache-control': 'max-age=10', age: '100' },
    want: ok(0, { age: 100, swr: 30 * S, sie: 600 * S }),
  },
  {
    name: 'must-revalidate disables them',
    rule: 'stale',
    headers: { 'cache-control': 'max-age=60, must-revalidate, stale-if-error=7' },
    want: ok(60 * S),
  },
  {
    name: 'proxy-revalidate disables them',
    rule: 'stale',
    headers: { 'cache-control': 'max-age=60, proxy-revalidate' },
    want: ok(60 * S),
  },
  {
    name: 's-maxage disables them (it implies proxy-revalidate, §5.2.2.10)',
    rule: 'stale',
    headers: { 'cache-control': 's-maxage=60' },
    want: ok(60 * S),
  },
  {
    name: 'no-cache disables them',
    rule: 'stale',
    headers: { 'cache-control': 'no-cache, stale-while-revalidate=5', etag: 'W/"x"' },
    want: ok(0),
  },
  {
    name: 'expired with must-revalidate is not stored at all',
    rule: 'stale',
    headers: { 'cache-control': 'max-age=0, must-revalidate' },
    want: no('expired'),
  },
])
