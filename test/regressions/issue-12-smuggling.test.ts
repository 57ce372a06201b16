/**
 * Issue 12, item 1: request smuggling through `cachet serve`. The proxy dropped Transfer-Encoding
 * as hop-by-hop but still piped the de-chunked body; on GET, DELETE and OPTIONS node:http's client
 * adds no framing of its own, so the body followed the headers raw and the upstream read it as a
 * second request on the pooled connection, whose answer then went to the next client (and was
 * stored under that client's URL). RFC 9112 §6.1, §11.2.
 *
 * What must hold: a body is always forwarded with explicit framing, or the request is refused; a
 * GET or HEAD with a body is refused before the cache or the upstream sees it; every malformed
 * framing form is refused with 400 and reaches nothing.
 */
import { connect } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Env, envs } from '../conformance/harness.js'

const test = suite('regression: request smuggling through cachet serve (issue 12.1)')
const pool = envs()
test.after.each(() => pool.closeAll())

/**
 * Sends raw bytes on one connection (not half-closed: node:http drops a response to a client that
 * sent FIN first); resolves with everything the proxy wrote until it closed the connection, which
 * it does after a 400 or a `Connection: close` request.
 */
function raw(env: Env, bytes: string): Promise<string> {
  const port = Number(new URL(env.url).port)
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    const got: Buffer[] = []
    s.on('data', (c: Buffer) => got.push(c))
    s.once('error', reject)
    s.once('close', () => resolve(Buffer.concat(got).toString('latin1')))
    s.write(bytes)
  })
}

/** The status codes of every response in a raw stream, in order. */
function statuses(stream: string): number[] {
  return [...stream.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
}

const SMUGGLED = 'GET /poison HTTP/1.1\r\nHost: shop.example\r\n\r\n'
const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`

async function cachingOrigin(): Promise<Env> {
  const env = await pool.start()
  env.origin.fallback((req) => ({
    headers: { 'cache-control': 'max-age=60' },
    body: `body of ${req.method} ${req.url}`,
  }))
  return env
}

async function assertVictimUnharmed(env: Env): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const v = await env.send('/victim', { host: 'shop.example' })
    assert.is(v.status, 200)
    assert.is(v.body, 'body of GET /victim', `victim request ${i + 1} gets its own answer`)
  }
  assert.equal(env.origin.calls('/poison'), [], 'the smuggled request never reached the upstream')
}

for (const method of ['GET', 'HEAD']) {
  test(`${method} with a chunked body holding a second request is refused with 400, and reaches nothing`, async () => {
    const env = await cachingOrigin()
    const out = await raw(
      env,
      `${method} /harmless HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk(SMUGGLED)}`,
    )
    assert.equal(statuses(out), [400])
    assert.is(env.origin.count, 0, 'the upstream saw no request at all')
    await assertVictimUnharmed(env)
  })

  test(`${method} with a Content-Length body is refused with 400, and reaches nothing`, async () => {
    const env = await cachingOrigin()
    const out = await raw(
      env,
      `${method} /harmless HTTP/1.1\r\nHost: shop.example\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: close\r\n\r\n${SMUGGLED}`,
    )
    assert.equal(statuses(out), [400])
    assert.is(env.origin.count, 0)
    await assertVictimUnharmed(env)
  })
}

test('GET with "Content-Length: 0" is an ordinary GET (no body), cached as usual', async () => {
  const env = await cachingOrigin()
  const out = await raw(
    env,
    'GET /plain HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  )
  assert.equal(statuses(out), [200])
  assert.ok(out.includes('body of GET /plain'))
  const again = await env.send('/plain', { host: 'shop.example' })
  assert.is(again.body, 'body of GET /plain')
  assert.is(env.origin.count, 1)
})

for (const method of ['DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'PROPFIND']) {
  test(`${method} with a chunked body reaches the upstream as one request with that body, re-framed`, async () => {
    const env = await cachingOrigin()
    const out = await raw(
      env,
      `${method} /harmless HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk(SMUGGLED)}`,
    )
    assert.equal(statuses(out), [200])
    assert.is(env.origin.count, 1)
    const got = env.origin.requests[0]!
    assert.is(got.method, method)
    assert.is(got.url, '/harmless')
    assert.is(got.body.toString('latin1'), SMUGGLED, 'the chunk arrived as the body, byte for byte')
    assert.is(got.headers['transfer-encoding'], 'chunked', 'framed explicitly')
    await assertVictimUnharmed(env)
  })

  test(`${method} with a Content-Length body keeps that framing upstream`, async () => {
    const env = await cachingOrigin()
    const out = await raw(
      env,
      `${method} /harmless HTTP/1.1\r\nHost: shop.example\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: close\r\n\r\n${SMUGGLED}`,
    )
    assert.equal(statuses(out), [200])
    const got = env.origin.requests[0]!
    assert.is(got.headers['content-length'], String(SMUGGLED.length))
    assert.is(got.body.toString('latin1'), SMUGGLED)
    await assertVictimUnharmed(env)
  })
}

test('a request body under other codings keeps them: "Transfer-Encoding: gzip, chunked" is forwarded as such', async () => {
  const env = await cachingOrigin()
  const out = await raw(
    env,
    `POST /coded HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n${chunk('not really gzip')}`,
  )
  assert.equal(statuses(out), [200])
  const got = env.origin.requests[0]!
  assert.is(got.headers['transfer-encoding'], 'gzip, chunked')
  assert.is(got.body.toString('latin1'), 'not really gzip')
  assert.is(env.origin.count, 1)
})

/**
 * Malformed framing (RFC 9112 §6.3, §7.1; the forms of Kettle's "HTTP Desync Attacks" and
 * PortSwigger's request-smuggling catalogue). Each is refused with 400 and reaches nothing.
 */
const MALFORMED: Record<string, string> = {
  'Content-Length and Transfer-Encoding (CL.TE)': `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}`,
  'Transfer-Encoding and Content-Length (TE.CL)': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunk(SMUGGLED)}`,
  'two different Content-Length fields': `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd${SMUGGLED}`,
  'a Content-Length list': `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 40\r\n\r\nabcd${SMUGGLED}`,
  'a signed Content-Length': `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd${SMUGGLED}`,
  'a non-numeric Content-Length': `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4x\r\n\r\nabcd${SMUGGLED}`,
  'a chunk size that is not hex': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${SMUGGLED}\r\n0\r\n\r\n`,
  'a chunk without its CRLF': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX${SMUGGLED}0\r\n\r\n`,
  'a chunk size with a bare LF': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n${SMUGGLED}`,
  'a chunk extension with a bare CR': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n${SMUGGLED}`,
  'Transfer-Encoding with chunked not last': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n${chunk(SMUGGLED)}`,
  'an obs-folded Transfer-Encoding': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n${chunk(SMUGGLED)}`,
  'an obs-folded Content-Length': `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 4\r\n\r\nabcd${SMUGGLED}`,
  'white space before the colon (Transfer-Encoding : chunked)': `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n${chunk(SMUGGLED)}`,
  'white space before the field name': `POST /x HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}`,
  'a bare LF between header fields': `POST /x HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}`,
  'a bare CR in a header value': `GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\rTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}`,
  'a NUL in a header value': `GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n`,
  'a request line with a bare LF': `GET /x HTTP/1.1\nHost: a\r\n\r\n`,
  'HTTP/1.1 without Host': `GET /x HTTP/1.1\r\nX-A: b\r\n\r\n`,
  'two Host fields': `GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
  'a chunked HTTP/1.0 body': `POST /x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}`,
}

for (const [name, bytes] of Object.entries(MALFORMED)) {
  test(`malformed framing is refused with 400 and reaches nothing: ${name}`, async () => {
    const env = await cachingOrigin()
    const out = await raw(env, bytes)
    assert.equal(statuses(out), [400], `the only answer is a 400: ${JSON.stringify(out.slice(0, 80))}`)
    assert.is(env.origin.count, 0, 'the upstream saw no request')
    await assertVictimUnharmed(env)
  })
}

test.run()
