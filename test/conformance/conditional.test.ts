/**
 * Validators through `cachet serve`: a client's If-None-Match / If-Modified-Since answered 304
 * from a hit (RFC 9110 §13.1, weak comparison for If-None-Match, §13.1.2), and a stale entry
 * revalidated upstream with a conditional request whose 304 refreshes the stored headers without
 * refetching the body (RFC 9111 §4.3).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs, storedHeader } from './harness.js'

const test = suite('conformance: conditional requests (RFC 9110 §13, RFC 9111 §4.3)')
const pool = envs()
test.after.each(pool.closeAll)

const httpDate = (ms: number) => new Date(ms).toUTCString()

test('RFC 9110 §13.1.2: If-None-Match on a hit is answered 304 by the cache (weak comparison, lists, *)', async () => {
  const env = await pool.start()
  env.origin.script('/e', { headers: { 'cache-control': 'max-age=60', etag: '"abc"' } })
  env.origin.script('/w', { headers: { 'cache-control': 'max-age=60', etag: 'W/"abc"' } })
  await env.send('/e')
  await env.send('/w')
  await env.waitStored('/e')
  await env.waitStored('/w')
  const cases: [string, string, number][] = [
    ['/e', '"abc"', 304],
    ['/e', 'W/"abc"', 304],
    ['/w', '"abc"', 304],
    ['/w', 'W/"abc"', 304],
    ['/e', '"x", "abc"', 304],
    ['/e', '*', 304],
    ['/e', '"zzz"', 200],
    ['/e', '"ABC"', 200],
  ]
  for (const [path, inm, status] of cases) {
    const r = await env.send(path, { headers: { 'if-none-match': inm } })
    assert.is(r.status, status, `${path} If-None-Match: ${inm}`)
    assert.is(r.body, status === 304 ? '' : 'response #1')
    assert.match(String(r.headers['cache-status']), /^cachet; hit; ttl=\d+$/)
    if (status === 304)
      assert.is(r.headers.etag, path === '/e' ? '"abc"' : 'W/"abc"', 'the 304 names the validator')
  }
  assert.is(env.origin.count, 2)
})

test('RFC 9110 §13.1.3: If-Modified-Since on a hit: 304 when not modified since, 200 otherwise', async () => {
  const env = await pool.start()
  const lm = Math.floor(Date.now() / 1000) * 1000 - 86_400_000
  env.origin.script('/lm', { headers: { 'cache-control': 'max-age=60', 'last-modified': httpDate(lm) } })
  await env.send('/lm')
  await env.waitStored('/lm')
  assert.is((await env.send('/lm', { headers: { 'if-modified-since': httpDate(lm) } })).status, 304)
  assert.is(
    (await env.send('/lm', { headers: { 'if-modified-since': httpDate(lm + 3600_000) } })).status,
    304,
  )
  const older = await env.send('/lm', { headers: { 'if-modified-since': httpDate(lm - 3600_000) } })
  assert.is(older.status, 200)
  assert.is(older.body, 'response #1')
  assert.is(env.origin.count, 1)
})

test('RFC 9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since', async () => {
  const env = await pool.start()
  const lm = Math.floor(Date.now() / 1000) * 1000 - 86_400_000
  env.origin.script('/both', {
    headers: { 'cache-control': 'max-age=60', etag: '"v"', 'last-modified': httpDate(lm) },
  })
  await env.send('/both')
  await env.waitStored('/both')
  const r = await env.send('/both', {
    headers: { 'if-none-match': '"other"', 'if-modified-since': httpDate(lm) },
  })
  assert.is(r.status, 200)
  assert.is(r.body, 'response #1')
})

test('RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present, even when it would say "modified"', async () => {
  const env = await pool.start()
  const lm = Math.floor(Date.now() / 1000) * 1000 - 86_400_000
  env.origin.script('/inm-wins', {
    headers: { 'cache-control': 'max-age=60', etag: '"v"', 'last-modified': httpDate(lm) },
  })
  await env.send('/inm-wins')
  await env.waitStored('/inm-wins')
  // the tag matches; the date is older than Last-Modified (it alone would mean "modified")
  const r = await env.send('/inm-wins', {
    headers: { 'if-none-match': '"v"', 'if-modified-since': httpDate(lm - 3600_000) },
  })
  assert.is(r.status, 304)
  assert.is(r.body, '')
  // and on a miss too: the answer just fetched, stored, then a 304 to this client
  env.origin.script('/inm-wins-cold', {
    headers: { 'cache-control': 'max-age=60', etag: '"c"', 'last-modified': httpDate(lm) },
  })
  const cold = await env.send('/inm-wins-cold', {
    headers: { 'if-none-match': 'W/"c"', 'if-modified-since': httpDate(lm - 3600_000) },
  })
  assert.is(cold.status, 304)
  assert.is(env.origin.count, 2)
})

test('RFC 9111 §4.3.2: If-Modified-Since against a stored response without Last-Modified is judged by its Date', async () => {
  const env = await pool.start()
  const date = Math.floor(Date.now() / 1000) * 1000 - 3600_000
  env.origin.script('/by-date', { headers: { 'cache-control': 'max-age=60', date: httpDate(date) } })
  await env.send('/by-date')
  await env.waitStored('/by-date')
  const same = await env.send('/by-date', { headers: { 'if-modified-since': httpDate(date) } })
  assert.is(same.status, 304, 'Date no later than the given date: not modified')
  const later = await env.send('/by-date', { headers: { 'if-modified-since': httpDate(date + 60_000) } })
  assert.is(later.status, 304)
  const earlier = await env.send('/by-date', { headers: { 'if-modified-since': httpDate(date - 60_000) } })
  assert.is(earlier.status, 200)
  assert.is(earlier.body, 'response #1')
  assert.is(env.origin.count, 1)
})

test('RFC 9110 §13.1.3: an If-Modified-Since that is not an HTTP-date is ignored: the full response', async () => {
  const env = await pool.start()
  const lm = Math.floor(Date.now() / 1000) * 1000 - 86_400_000
  env.origin.script('/bad-ims', { headers: { 'cache-control': 'max-age=60', 'last-modified': httpDate(lm) } })
  await env.send('/bad-ims')
  await env.waitStored('/bad-ims')
  const future = new Date(lm + 86_400_000 * 2)
  for (const ims of [future.toISOString(), String(Math.floor(future.getTime() / 1000)), 'yesterday']) {
    const r = await env.send('/bad-ims', { headers: { 'if-modified-since': ims } })
    assert.is(r.status, 200, `If-Modified-Since: ${ims}`)
    assert.is(r.body, 'response #1')
  }
  assert.is(env.origin.count, 1)
})

test("RFC 9111 §4.3.1: a client's validators on a miss are not forwarded; the full response is stored and the client still gets its 304", async () => {
  const env = await pool.start()
  env.origin.script('/cold', { headers: { 'cache-control': 'max-age=60', etag: '"c"' } })
  const a = await env.send('/cold', { headers: { 'if-none-match': '"c"' } })
  assert.is(a.status, 304)
  assert.is(env.origin.requests[0]!.headers['if-none-match'], undefined)
  await env.waitStored('/cold')
  const b = await env.send('/cold')
  assert.is(b.status, 200)
  assert.is(b.body, 'response #1')
  assert.is(env.origin.count, 1)
})

test('RFC 9111 §4.3.1: same with a large body: the 304 to the client does not keep the entry from being stored', async () => {
  const env = await pool.start()
  const big = Buffer.alloc(256 * 1024, 'x')
  env.origin.script('/cold-big', { headers: { 'cache-control': 'max-age=60', etag: '"big"' }, body: big })
  const a = await env.send('/cold-big', { headers: { 'if-none-match': '"big"' } })
  assert.is(a.status, 304)
  await env.waitStored('/cold-big')
  const b = await env.send('/cold-big')
  assert.is(b.status, 200)
  assert.is(b.bytes.length, big.length)
  assert.is(env.origin.count, 1)
})

test('RFC 9111 §4.3.4: a stale entry is revalidated with If-None-Match; the 304 refreshes its headers and keeps the stored body', async () => {
  const env = await pool.start()
  env.origin.script(
    '/rv',
    { headers: { 'cache-control': 'max-age=10', etag: '"r1"', 'x-version': 'old' } },
    (req) => ({
      status: 304,
      headers: {
        etag: req.headers['if-none-match'] === '"r1"' ? '"r1"' : '"?"',
        'cache-control': 'max-age=100',
        'x-version': 'refreshed',
      },
    }),
  )
  const a = await env.send('/rv')
  assert.is(a.body, 'response #1')
  assert.is(a.headers['x-version'], 'old')
  await env.waitStored('/rv')
  env.clock.advance(11)

  const b = await env.send('/rv')
  assert.is(env.origin.count, 2)
  const cond = env.origin.requests[1]!
  assert.is(cond.headers['if-none-match'], '"r1"', 'conditional request upstream')
  assert.is(b.status, 200)
  assert.is(b.body, 'response #1', 'the stored body, not refetched')
  assert.is(b.headers['x-version'], 'refreshed', 'headers from the 304')
  assert.is(b.headers['cache-control'], 'max-age=100')
  assert.is(b.headers['x-response'], '2', 'the 304 (response #2) updated X-Response too')
  assert.is(b.headers['cache-status'], 'cachet; fwd=stale; fwd-status=304; stored')
  assert.is(b.headers['content-length'], String('response #1'.length))

  const e = await env.waitStored('/rv', {}, (x) => storedHeader(x, 'x-version') === 'refreshed')
  assert.is(e.body.toString(), 'response #1')
  env.clock.advance(50)
  const c = await env.send('/rv')
  assert.is(c.body, 'response #1')
  assert.is(c.headers['x-version'], 'refreshed')
  assert.is(c.headers['cache-status'], 'cachet; hit; ttl=50')
  assert.is(c.headers.age, '50')
  assert.is(env.origin.count, 2)
})

test('RFC 9111 §4.3.4: a 304 stating a year of freshness refreshes the entry for 30 days at most, like a new response', async () => {
  const env = await pool.start()
  env.origin.script(
    '/year',
    { headers: { 'cache-control': 'max-age=10', etag: '"y1"' } },
    { status: 304, headers: { etag: '"y1"', 'cache-control': 'max-age=31536000' } },
  )
  await env.send('/year')
  await env.waitStored('/year')
  env.clock.advance(11)
  const b = await env.send('/year')
  assert.is(b.headers['cache-status'], 'cachet; fwd=stale; fwd-status=304; stored')
  const e = await env.waitStored('/year', {}, (x) => storedHeader(x, 'cache-control') === 'max-age=31536000')
  assert.is(e.expires - env.clock.now(), 30 * 24 * 3600_000, 'fresh for 30 days, not 365')
  const c = await env.send('/year')
  assert.is(c.headers['cache-status'], `cachet; hit; ttl=${30 * 24 * 3600}`)
  assert.is(env.origin.count, 2)
})

test('RFC 9111 §4.3.4: a 304 whose strong validator names another representation does not refresh the stored one', async () => {
  const env = await pool.start()
  env.origin.script(
    '/other',
    { headers: { 'cache-control': 'max-age=10', etag: '"r1"' } },
    { status: 304, headers: { 'cache-control': 'max-age=100', etag: '"r2"' } },
    { headers: { 'cache-control': 'max-age=100', etag: '"r2"' } },
  )
  await env.send('/other')
  await env.waitStored('/other')
  env.clock.advance(11)
  const b = await env.send('/other')
  assert.is(env.origin.requests[1]!.headers['if-none-match'], '"r1"')
  // "If none of the stored responses contain the same strong validator, then the cache MUST NOT
  // use the new response to update any stored responses": body #1 must never go out as "r2"
  assert.not.ok(
    b.body === 'response #1' && b.headers.etag === '"r2"',
    `served ${b.body} with ETag ${String(b.headers.etag)}`,
  )
  const e = await env.entry('/other')
  if (e !== undefined)
    assert.not.ok(
      e.body.toString() === 'response #1' && storedHeader(e, 'etag') === '"r2"',
      'stored body #1 relabelled "r2"',
    )
})

test('RFC 9111 §4.3.1: a stale entry with only Last-Modified is revalidated with If-Modified-Since', async () => {
  const env = await pool.start()
  const lm = httpDate(Math.floor(Date.now() / 1000) * 1000 - 86_400_000)
  env.origin.script(
    '/rlm',
    { headers: { 'cache-control': 'max-age=10', 'last-modified': lm } },
    { status: 304, headers: { 'cache-control': 'max-age=10' } },
  )
  await env.send('/rlm')
  await env.waitStored('/rlm')
  env.clock.advance(11)
  const b = await env.send('/rlm')
  assert.is(env.origin.requests[1]!.headers['if-modified-since'], lm)
  assert.is(env.origin.requests[1]!.headers['if-none-match'], undefined)
  assert.is(b.body, 'response #1')
  assert.is(b.headers['last-modified'], lm)
})

test('RFC 9111 §4.3.3: revalidation answered 200 replaces the entry with the new response', async () => {
  const env = await pool.start()
  env.origin.script(
    '/chg',
    { headers: { 'cache-control': 'max-age=10', etag: '"1"' } },
    { headers: { 'cache-control': 'max-age=10', etag: '"2"' } },
  )
  await env.send('/chg')
  await env.waitStored('/chg')
  env.clock.advance(11)
  const b = await env.send('/chg')
  assert.is(b.body, 'response #2')
  assert.is(b.headers['cache-status'], 'cachet; fwd=stale; fwd-status=200')
  await env.waitStored('/chg', {}, (x) => x.body.toString() === 'response #2')
  const c = await env.send('/chg')
  assert.is(c.body, 'response #2')
  assert.is(c.headers.etag, '"2"')
  assert.is(env.origin.count, 2)
})

test("RFC 9111 §4.3.2: the client's own validator on a stale entry: upstream 304, client 304", async () => {
  const env = await pool.start()
  env.origin.script(
    '/both-stale',
    { headers: { 'cache-control': 'max-age=10', etag: '"s"' } },
    { status: 304, headers: { 'cache-control': 'max-age=10', etag: '"s"' } },
  )
  await env.send('/both-stale')
  await env.waitStored('/both-stale')
  env.clock.advance(11)
  const b = await env.send('/both-stale', { headers: { 'if-none-match': '"s"' } })
  assert.is(b.status, 304)
  assert.is(env.origin.requests[1]!.headers['if-none-match'], '"s"')
  const c = await env.send('/both-stale')
  assert.is(c.status, 200)
  assert.is(c.body, 'response #1')
  assert.is(env.origin.count, 2)
})

test('RFC 9110 §9.3.2: HEAD is answered from the GET entry, conditionals included', async () => {
  const env = await pool.start()
  env.origin.script('/h', { headers: { 'cache-control': 'max-age=60', etag: '"h"' } })
  const a = await env.send('/h')
  await env.waitStored('/h')
  const h = await env.send('/h', { method: 'HEAD' })
  assert.is(h.status, 200)
  assert.is(h.body, '')
  assert.is(h.headers['content-length'], a.headers['content-length'])
  assert.is(h.headers['x-response'], '1')
  assert.match(String(h.headers['cache-status']), /^cachet; hit; ttl=60$/)
  const h304 = await env.send('/h', { method: 'HEAD', headers: { 'if-none-match': '"h"' } })
  assert.is(h304.status, 304)
  assert.is(env.origin.count, 1)
})

test.run()
