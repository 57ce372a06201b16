/**
 * Header handling of `cachet serve`: hop-by-hop fields stripped both ways (RFC 9110 §7.6.1),
 * unknown fields forwarded both ways and replayed on hits (RFC 9111 §3.1), Set-Cookie never stored
 * (a deliberate deviation from RFC 9111 §7), the client's Host kept and X-Forwarded-For / -Proto
 * added (README "Stores"), Cache-Status appended after an upstream cache's member (RFC 9211 §2).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs } from './harness.js'

const test = suite('conformance: header fields (RFC 9110 §7.6, RFC 9111 §3.1)')
const pool = envs()
test.after.each(pool.closeAll)

test('RFC 9110 §7.6.1: request hop-by-hop fields, and the fields Connection names, are not forwarded', async () => {
  const env = await pool.start()
  await env.send('/hop', {
    method: 'POST',
    body: 'chunked body',
    headers: {
      'transfer-encoding': 'chunked',
      connection: 'close, X-Hop-Secret',
      'x-hop-secret': 'do not forward',
      'keep-alive': 'timeout=99',
      te: 'trailers',
      trailer: 'X-Checksum',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
      'proxy-connection': 'keep-alive',
      'x-end-to-end': 'forward me',
    },
  })
  const h = env.origin.requests[0]!.headers
  assert.is(h['x-hop-secret'], undefined)
  assert.is(h['keep-alive'], undefined)
  assert.is(h.te, undefined)
  assert.is(h.trailer, undefined)
  assert.is(h['proxy-authorization'], undefined)
  assert.is(h['proxy-connection'], undefined)
  assert.not.match(String(h.connection ?? ''), /x-hop-secret/i)
  assert.is(h['x-end-to-end'], 'forward me')
  assert.is(env.origin.requests[0]!.body.toString(), 'chunked body')
})

test('RFC 3875 §4.1.18 / httpoxy: a request "Proxy" field is not forwarded to the origin', async () => {
  const env = await pool.start()
  await env.send('/httpoxy', { headers: { proxy: 'http://attacker.example:8080' } })
  assert.is(env.origin.requests[0]!.headers.proxy, undefined)
})

test('RFC 9110 §7.6.1: response hop-by-hop fields are not relayed, neither on the miss nor on the hit', async () => {
  const env = await pool.start()
  env.origin.script('/rhop', {
    headers: {
      'cache-control': 'max-age=60',
      connection: 'X-Internal',
      'x-internal': 'secret',
      'keep-alive': 'timeout=99, max=7',
      'proxy-authenticate': 'Basic realm="origin"',
      upgrade: 'h2c',
      trailer: 'X-Checksum',
      'x-end-to-end': 'relay me',
    },
    chunked: true, // Trailer is only valid on a chunked message
  })
  const a = await env.send('/rhop')
  await env.waitStored('/rhop')
  const b = await env.send('/rhop')
  assert.is(b.headers['x-response'], '1')
  for (const r of [a, b]) {
    assert.is(r.headers['x-internal'], undefined)
    assert.is(
      r.headers['keep-alive'],
      undefined,
      "our client asked for Connection: close, so any Keep-Alive would be the origin's",
    )
    assert.is(r.headers['proxy-authenticate'], undefined)
    assert.is(r.headers.upgrade, undefined)
    assert.is(r.headers.trailer, undefined)
    assert.is(r.headers.connection, 'close')
    assert.is(r.headers['x-end-to-end'], 'relay me')
  }
})

test('RFC 9112 §6.1: a chunked response is re-framed, not relayed as Transfer-Encoding; the hit has a Content-Length', async () => {
  const env = await pool.start()
  env.origin.script('/chunked', {
    headers: { 'cache-control': 'max-age=60' },
    body: 'a'.repeat(5000),
    chunked: true,
  })
  const a = await env.send('/chunked')
  assert.is(a.body, 'a'.repeat(5000))
  assert.is(a.complete, true)
  await env.waitStored('/chunked')
  const b = await env.send('/chunked')
  assert.is(b.body, 'a'.repeat(5000))
  assert.is(b.headers['content-length'], '5000')
  assert.is(b.headers['transfer-encoding'], undefined)
})

test('RFC 9111 §3.1: unknown header fields go through both ways and are replayed on hits', async () => {
  const env = await pool.start()
  env.origin.script('/unknown', {
    headers: { 'cache-control': 'max-age=60', 'x-weird-field': 'v=1; q="a,b"', 'x-multi': ['one', 'two'] },
  })
  await env.send('/unknown', { headers: { 'x-client-thing': 'abc 123', 'x-client-multi': ['p', 'q'] } })
  const h = env.origin.requests[0]!.headers
  assert.is(h['x-client-thing'], 'abc 123')
  assert.is(h['x-client-multi'], 'p, q')
  await env.waitStored('/unknown')
  const b = await env.send('/unknown')
  assert.is(b.headers['x-response'], '1')
  assert.is(b.headers['x-weird-field'], 'v=1; q="a,b"')
  assert.is(b.headers['x-multi'], 'one, two')
})

test('deviation from RFC 9111 §7: a response with Set-Cookie is relayed but never stored', async () => {
  const env = await pool.start()
  env.origin.script('/cookie', {
    headers: {
      'cache-control': 'public, max-age=60',
      'set-cookie': ['session=alice; HttpOnly', 'theme=dark'],
    },
  })
  const a = await env.send('/cookie')
  assert.equal(a.headers['set-cookie'], ['session=alice; HttpOnly', 'theme=dark'])
  const b = await env.send('/cookie')
  assert.is(b.body, 'response #2')
  assert.is(await env.entry('/cookie'), undefined)
})

test('RFC 9111 §3.1: a 304 that carries Set-Cookie never puts it into the stored entry', async () => {
  const env = await pool.start()
  env.origin.script(
    '/ck304',
    { headers: { 'cache-control': 'max-age=10', etag: '"k"' } },
    { status: 304, headers: { 'cache-control': 'max-age=10', etag: '"k"', 'set-cookie': 'session=bob' } },
  )
  await env.send('/ck304')
  await env.waitStored('/ck304')
  env.clock.advance(11)
  await env.send('/ck304')
  const c = await env.send('/ck304')
  assert.is(c.headers['set-cookie'], undefined, "a later hit does not hand out the 304's cookie")
  assert.is(c.body, 'response #1')
})

test("the README: the client's Host is forwarded unchanged; X-Forwarded-For and -Proto are added", async () => {
  const env = await pool.start()
  await env.send('/xf', { host: 'shop.example' })
  await env.send('/xf2', { headers: { 'x-forwarded-for': '203.0.113.7' } })
  const [r1, r2] = env.origin.requests
  assert.is(r1!.headers.host, 'shop.example')
  assert.is(r1!.headers['x-forwarded-for'], '127.0.0.1')
  assert.is(r1!.headers['x-forwarded-proto'], 'http')
  assert.is(r2!.headers.host, env.host)
  assert.is(r2!.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1')
})

test('RFC 9111 §4: the Host is part of the cache key: two virtual hosts never share an entry', async () => {
  const env = await pool.start()
  env.origin.script('/vh', { headers: { 'cache-control': 'max-age=60' } })
  await env.send('/vh', { host: 'a.example' })
  await env.send('/vh', { host: 'b.example' })
  assert.is(env.origin.count, 2)
})

test("RFC 9211 §2: Cache-Status is appended after an upstream cache's member, and never shows the key", async () => {
  const env = await pool.start()
  env.origin.script('/cs', { headers: { 'cache-control': 'max-age=60', 'cache-status': 'origin-cdn; hit' } })
  const a = await env.send('/cs')
  assert.is(a.headers['cache-status'], 'origin-cdn; hit, cachet; fwd=uri-miss')
  await env.waitStored('/cs')
  const b = await env.send('/cs')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60')
  for (const r of [a, b]) assert.not.match(String(r.headers['cache-status']), /key=/)
})

test('RFC 9211 §2.2: bypassed requests say why (Cookie); RFC 9110 §9.3.1: a GET with a body is refused', async () => {
  const env = await pool.start()
  env.origin.fallback({ headers: { 'cache-control': 'max-age=60' } })
  const c = await env.send('/b', { headers: { cookie: 'session=1' } })
  assert.is(c.headers['cache-status'], 'cachet; fwd=bypass; detail=cookie')
  assert.is(env.origin.requests[0]!.headers.cookie, 'session=1')
  // The middleware bypasses a GET with a body (fwd=bypass; detail=body, test/middleware); cachet
  // serve refuses it before the cache, since node:http would forward it unframed (issue 12.1).
  const g = await env.send('/b', { body: 'fat get' })
  assert.is(g.status, 400)
  assert.is(g.headers['cache-status'], undefined)
  assert.is(env.origin.count, 1)
  assert.is(await env.entry('/b'), undefined)
})

test('RFC 9211 §2.1: a cache name from the options appears in Cache-Status', async () => {
  const env = await pool.start({ name: 'edge-1' })
  env.origin.script('/named', { headers: { 'cache-control': 'max-age=60' } })
  assert.is((await env.send('/named')).headers['cache-status'], 'edge-1; fwd=uri-miss')
  await env.waitStored('/named')
  assert.is((await env.send('/named')).headers['cache-status'], 'edge-1; hit; ttl=60')
})

test('RFC 9111 §4: a hit replays the stored headers byte for byte (Date, Content-Type, Content-Length, ETag)', async () => {
  const env = await pool.start()
  env.origin.script('/exact', {
    headers: {
      'cache-control': 'max-age=60',
      etag: '"e"',
      'content-type': 'application/x-thing; charset=latin1',
    },
  })
  const a = await env.send('/exact')
  await env.waitStored('/exact')
  const b = await env.send('/exact')
  for (const n of ['date', 'content-type', 'content-length', 'etag', 'cache-control', 'x-response'])
    assert.is(b.headers[n], a.headers[n], n)
  assert.ok(b.bytes.equals(a.bytes))
})

test.run()
