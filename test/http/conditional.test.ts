/**
 * http/conditional.ts on plain objects: a client's If-None-Match / If-Modified-Since against the
 * response the cache answers with (RFC 9110 §13.1, §13.2.2; RFC 9111 §4.3.2).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { notModified, storedView, type ValidatorView } from '../../src/http/conditional.js'

const T = Date.UTC(1994, 10, 6, 8, 49, 37)
const d = (ms: number) => new Date(ms).toUTCString()
const view = (o: Partial<ValidatorView> = {}): ValidatorView => ({
  status: 200,
  etag: undefined,
  lastModified: undefined,
  date: undefined,
  receivedAt: T,
  ...o,
})

const test = suite('notModified')

test('no validators: never 304', () => {
  assert.is(notModified({}, view({ etag: '"a"' })), false)
})

test('If-None-Match: weak comparison, lists, *, malformed tags', () => {
  const cases: [string, string | undefined, boolean][] = [
    ['"a"', '"a"', true],
    ['W/"a"', '"a"', true],
    ['"a"', 'W/"a"', true],
    ['"b", "a"', '"a"', true],
    ['"b",,  W/"a" ', '"a"', true],
    ['"a,b"', '"a,b"', true],
    ['"a,b"', '"a"', false],
    ['"A"', '"a"', false],
    ['"b"', '"a"', false],
    ['*', '"a"', true],
    ['*', undefined, true],
    ['"a"', undefined, false],
    ['a', 'a', false],
    ['"a"', 'a', false],
  ]
  for (const [inm, etag, want] of cases)
    assert.is(notModified({ 'if-none-match': inm }, view({ etag })), want, `${inm} vs ${etag}`)
})

test('§13.1.3: with If-None-Match present, If-Modified-Since is not looked at', () => {
  const lm = d(T)
  const older = d(T - 3600_000)
  assert.is(
    notModified(
      { 'if-none-match': '"a"', 'if-modified-since': older },
      view({ etag: '"a"', lastModified: lm }),
    ),
    true,
  )
  assert.is(
    notModified(
      { 'if-none-match': '"x"', 'if-modified-since': d(T) },
      view({ etag: '"a"', lastModified: lm }),
    ),
    false,
  )
})

test('If-Modified-Since: against Last-Modified, else Date, else the time received', () => {
  const since = { 'if-modified-since': d(T) }
  assert.is(notModified(since, view({ lastModified: d(T) })), true)
  assert.is(notModified(since, view({ lastModified: d(T + 1000) })), false)
  assert.is(notModified(since, view({ date: d(T - 1000) })), true)
  assert.is(notModified(since, view({ date: d(T + 1000) })), false)
  assert.is(
    notModified(since, view({ lastModified: d(T - 1000), date: d(T + 1000) })),
    true,
    'Last-Modified first',
  )
  assert.is(notModified(since, view({ receivedAt: T + 999 })), true, 'whole seconds')
  assert.is(notModified(since, view({ receivedAt: T + 1000 })), false)
  assert.is(
    notModified(since, view({ lastModified: 'garbage', date: d(T) })),
    true,
    'an invalid Last-Modified: Date',
  )
})

test('If-Modified-Since that is not one HTTP-date is ignored', () => {
  for (const ims of [
    '1994-11-06T08:49:37Z',
    '784111777',
    'sun, 06 nov 1994 08:49:37 gmt',
    `${d(T)}, ${d(T)}`,
  ])
    assert.is(
      notModified({ 'if-modified-since': ims }, view({ lastModified: d(T - 86_400_000) })),
      false,
      ims,
    )
})

test('only a 2xx is answered 304; a request with Cache-Control: no-cache never is', () => {
  for (const status of [301, 404, 500])
    assert.is(notModified({ 'if-none-match': '*' }, view({ status })), false)
  assert.is(notModified({ 'if-none-match': '*' }, view({ status: 204 })), true)
  assert.is(notModified({ 'if-none-match': '*', 'cache-control': 'max-age=0, no-cache' }, view()), false)
  assert.is(notModified({ 'if-none-match': '*', 'cache-control': 'no-cache-x' }, view()), true)
})

test('storedView reads the validators among flat stored headers', () => {
  const v = storedView(
    200,
    ['content-type', 'text/plain', 'etag', '"e"', 'last-modified', 'L', 'date', 'D'],
    5,
  )
  assert.equal(v, { status: 200, etag: '"e"', lastModified: 'L', date: 'D', receivedAt: 5 })
})

test.run()
