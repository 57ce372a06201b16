/**
 * RFC 9111 §5.2 Cache-Control through `cachet serve`: robust parsing (case, quoting, duplicates,
 * several field lines, garbage), and the response directives a shared cache obeys: no-store,
 * private, public, no-cache, must-revalidate, proxy-revalidate; plus §3.5 (Authorization).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs } from './harness.js'

const test = suite('conformance: Cache-Control (RFC 9111 §5.2)')
const pool = envs()
test.after.each(pool.closeAll)

/** Two requests: the second is a hit on response #1 with this Cache-Status ttl. */
async function assertStoredFor(cc: string | readonly string[], ttl: number, path = '/p'): Promise<void> {
  const env = await pool.start()
  env.origin.script(path, { headers: { 'cache-control': cc } })
  const a = await env.send(path)
  assert.is(a.body, 'response #1')
  await env.waitStored(path)
  const b = await env.send(path)
  assert.is(b.body, 'response #1', `${String(cc)}: second request served from the cache`)
  assert.is(b.headers['cache-status'], `cachet; hit; ttl=${ttl}`, String(cc))
  assert.is(env.origin.count, 1)
}

/** Two requests: both reach the origin; nothing is stored. */
async function assertNotStored(
  headers: Record<string, string | readonly string[]>,
  path = '/p',
): Promise<void> {
  const env = await pool.start()
  env.origin.script(path, { headers })
  await env.send(path)
  const b = await env.send(path)
  assert.is(b.body, 'response #2', JSON.stringify(headers))
  assert.is(env.origin.count, 2)
  assert.is(await env.entry(path), undefined)
}

test('RFC 9111 §5.2: directive names are case-insensitive', async () => {
  await assertStoredFor('MAX-AGE=60', 60)
  await assertStoredFor('Public, S-MaxAge=90, max-age=5', 90)
  await assertNotStored({ 'cache-control': 'max-age=60, No-Store' })
  await assertNotStored({ 'cache-control': 'PRIVATE, max-age=60' })
})

test('RFC 9111 §5.2: a quoted argument is accepted where a token is expected (max-age="60")', async () => {
  await assertStoredFor('max-age="60"', 60)
})

test('RFC 9111 §5.2: a comma or directive inside a quoted string is not a directive', async () => {
  await assertStoredFor('community="no-store, private", max-age=60', 60)
  await assertStoredFor('x-ext="a,\\"b, no-store", max-age=45', 45)
})

test('RFC 9111 §5.2: unknown directives and garbage between commas are ignored', async () => {
  await assertStoredFor('max-age=60, ,, =x, @@@, foo-bar=, x="unterminated', 60)
  await assertStoredFor(' , max-age=30 , extension-directive ', 30)
})

test('RFC 9111 §5.2: several Cache-Control field lines combine', async () => {
  await assertStoredFor(['public', 'max-age=60'], 60)
  await assertNotStored({ 'cache-control': ['max-age=60', 'no-store'] })
})

test('RFC 9111 §5.2.2.5: no-store: never stored, whatever else the response says', async () => {
  await assertNotStored({ 'cache-control': 'no-store, max-age=60, public' })
  await assertNotStored({ 'cache-control': 's-maxage=60, no-store' })
})

test('RFC 9111 §5.2.2.7: private: never stored by a shared cache', async () => {
  await assertNotStored({ 'cache-control': 'private, max-age=60' })
  await assertNotStored({ 'cache-control': 'private="set-cookie", s-maxage=60' })
})

test('RFC 9111 §5.2.2.9: public alone gives no lifetime; with max-age it is stored', async () => {
  await assertNotStored({ 'cache-control': 'public' })
  await assertStoredFor('public, max-age=60', 60)
})

test('RFC 9111 §5.2.2.4: no-cache with a validator: stored, but every reuse is revalidated upstream', async () => {
  const env = await pool.start()
  env.origin.script('/nc', { headers: { 'cache-control': 'no-cache, max-age=600', etag: '"v1"' } }, (req) =>
    req.headers['if-none-match'] === '"v1"'
      ? { status: 304, headers: { etag: '"v1"', 'cache-control': 'no-cache, max-age=600' } }
      : { headers: { 'cache-control': 'no-cache, max-age=600', etag: '"v1"' } },
  )
  const a = await env.send('/nc')
  assert.is(a.body, 'response #1')
  await env.waitStored('/nc')
  for (let i = 2; i <= 4; i++) {
    const b = await env.send('/nc')
    assert.is(b.status, 200)
    assert.is(b.body, 'response #1', 'the stored body, after a 304')
    assert.is(env.origin.count, i, 'each reuse asked the origin')
    const req = env.origin.requests[i - 1]!
    assert.is(req.headers['if-none-match'], '"v1"', 'a conditional request')
    assert.is(b.headers['cache-status'], 'cachet; fwd=stale; fwd-status=304; stored')
  }
})

test('RFC 9111 §5.2.2.4: no-cache without a validator cannot be revalidated: every request goes to the origin', async () => {
  await assertNotStored({ 'cache-control': 'no-cache, max-age=600' })
})

test('RFC 9111 §5.2.2.2: must-revalidate: a stale entry is revalidated, never served as is', async () => {
  const env = await pool.start()
  env.origin.script(
    '/mr',
    { headers: { 'cache-control': 'max-age=10, must-revalidate, stale-while-revalidate=600', etag: '"m1"' } },
    { status: 304, headers: { etag: '"m1"', 'cache-control': 'max-age=10, must-revalidate' } },
  )
  await env.send('/mr')
  await env.waitStored('/mr')
  env.clock.advance(11)
  const b = await env.send('/mr')
  assert.is(b.body, 'response #1')
  assert.is(env.origin.count, 2)
  assert.is(env.origin.requests[1]!.headers['if-none-match'], '"m1"')
  assert.is(b.headers['cache-status'], 'cachet; fwd=stale; fwd-status=304; stored')
})

test('RFC 9111 §5.2.2.8: proxy-revalidate binds a shared cache like must-revalidate', async () => {
  const env = await pool.start()
  env.origin.script(
    '/pr',
    {
      headers: { 'cache-control': 'max-age=10, proxy-revalidate, stale-while-revalidate=600', etag: '"p1"' },
    },
    { headers: { 'cache-control': 'max-age=10' } },
  )
  await env.send('/pr')
  await env.waitStored('/pr')
  env.clock.advance(11)
  const b = await env.send('/pr')
  assert.is(b.body, 'response #2', 'answered after asking the origin, not stale')
  assert.is(env.origin.requests[1]!.headers['if-none-match'], '"p1"')
})

test('RFC 9111 §3.5: a request with Authorization bypasses the plain shared cache (even for public responses)', async () => {
  const env = await pool.start()
  env.origin.script('/auth', { headers: { 'cache-control': 'public, max-age=60' } })
  const a = await env.send('/auth', { headers: { authorization: 'Bearer alice' } })
  assert.is(a.body, 'response #1')
  assert.is(a.headers['cache-status'], 'cachet; fwd=bypass; detail=authorization')
  assert.is(env.origin.requests[0]!.headers.authorization, 'Bearer alice')
  // nothing stored from it, and a stored entry is never handed to an authorised request either
  const b = await env.send('/auth')
  assert.is(b.body, 'response #2')
  await env.waitStored('/auth')
  const c = await env.send('/auth', { headers: { authorization: 'Bearer bob' } })
  assert.is(c.body, 'response #3')
  assert.is(c.headers['cache-status'], 'cachet; fwd=bypass; detail=authorization')
})

test('RFC 9111 §5.2.1.4 (README "HTTP semantics", T31): a client\'s no-cache / max-age=0 / Pragma does not force a refetch', async () => {
  const env = await pool.start()
  env.origin.script('/client-cc', { headers: { 'cache-control': 'max-age=60' } })
  await env.send('/client-cc')
  await env.waitStored('/client-cc')
  const requests: Record<string, string>[] = [
    { 'cache-control': 'no-cache' },
    { 'cache-control': 'max-age=0' },
    { pragma: 'no-cache' },
  ]
  for (const headers of requests) {
    const r = await env.send('/client-cc', { headers })
    assert.is(r.body, 'response #1', JSON.stringify(headers))
    assert.is(r.headers['cache-status'], 'cachet; hit; ttl=60')
  }
  assert.is(env.origin.count, 1)
})

const AUTH_KEYED = `version: 1
rules:
  - id: api
    match: /**
    ttl: 0
    origin: respect
    key:
      headers: [authorization]
`

test('RFC 9111 §3.5: with Authorization keyed, only public, s-maxage or must-revalidate responses are stored', async () => {
  const env = await pool.start({ policies: AUTH_KEYED })
  const cases: [string, string, boolean][] = [
    ['/plain', 'max-age=60', false],
    ['/public', 'public, max-age=60', true],
    ['/smax', 's-maxage=60', true],
    ['/mustrev', 'max-age=60, must-revalidate', true],
  ]
  let n = 0
  for (const [path, cc, stored] of cases) {
    env.origin.script(path, { headers: { 'cache-control': cc } })
    const a = await env.send(path, { headers: { authorization: 'Bearer alice' } })
    n++
    assert.is(a.body, `response #${n}`)
    if (stored) await env.waitStored(path, { authorization: 'Bearer alice' })
    const b = await env.send(path, { headers: { authorization: 'Bearer alice' } })
    if (!stored) n++
    assert.is(b.body, `response #${n}`, `${cc}: ${stored ? 'reused' : 'not reused'}`)
    assert.is(env.origin.count, n)
  }
  // keyed: another user's request never gets alice's entry
  const c = await env.send('/public', { headers: { authorization: 'Bearer bob' } })
  assert.is(c.body, `response #${n + 1}`)
})

test.run()
