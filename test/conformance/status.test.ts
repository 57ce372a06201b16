/**
 * Status codes through `cachet serve` (RFC 9111 §3, RFC 9110 §15): which statuses are stored when
 * the response states its lifetime (any final one, 299 and 599 included: `otherStatuses:
 * explicit`, issue 8 item 3), that any status (299, 999) is forwarded untouched, that a 206 is
 * never stored (§3.3: cachet does not combine partial content), nor a 4xx that answers unkeyed
 * request fields (400, 403, 412, 416, 431: CPDoS, T18), nor a status beyond 599.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs, type Reply } from './harness.js'

const test = suite('conformance: status codes (RFC 9111 §3)')
const pool = envs()
test.after.each(pool.closeAll)

const STORED = [
  200, 201, 202, 203, 204, 299, 300, 301, 302, 307, 308, 404, 405, 410, 414, 500, 501, 502, 503, 504, 599,
]
const NOT_STORED = [206, 400, 403, 406, 412, 416, 431, 499, 999]

test('RFC 9111 §3: responses with explicit freshness and an understood, cacheable status are stored and replayed with that status', async () => {
  const env = await pool.start()
  let n = 0
  for (const status of STORED) {
    const path = `/s${status}`
    env.origin.script(path, {
      status,
      headers: {
        'cache-control': 'max-age=60',
        ...(status >= 300 && status < 400 ? { location: '/there' } : {}),
      },
    })
    const a = await env.send(path)
    n++
    assert.is(a.status, status)
    await env.waitStored(path)
    const b = await env.send(path)
    assert.is(b.status, status, `${status} replayed`)
    assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60', `${status} is a hit`)
    assert.is(b.body, status === 204 ? '' : `response #${n}`)
    assert.is(b.headers['x-response'], String(n))
    if (status >= 300 && status < 400) assert.is(b.headers.location, '/there')
  }
  assert.is(env.origin.count, STORED.length)
})

test('RFC 9111 §3: a 206, a 4xx that answers unkeyed request fields, or a status beyond 599 is forwarded but not stored, even with max-age', async () => {
  const env = await pool.start()
  for (const status of NOT_STORED) {
    const path = `/n${status}`
    env.origin.script(path, {
      status,
      headers: {
        'cache-control': 'max-age=60',
        ...(status === 206 ? { 'content-range': 'bytes 0-10/100' } : {}),
      },
    })
    const before = env.origin.count
    const a = await env.send(path)
    assert.is(a.status, status)
    const b = await env.send(path)
    assert.is(b.status, status)
    assert.is(b.body, `response #${before + 2}`, `${status} is not reused`)
    assert.is(await env.entry(path), undefined, `${status} is not stored`)
  }
})

test('RFC 9110 §15: unknown statuses (299, 999) go through untouched: status, headers and body', async () => {
  const env = await pool.start()
  env.origin.script('/odd', (req) => ({
    status: req.n === 1 ? 299 : 999,
    headers: { 'x-odd': `yes ${req.n}` },
    body: `odd body ${req.n}`,
  }))
  const a = await env.send('/odd')
  assert.is(a.status, 299)
  assert.is(a.headers['x-odd'], 'yes 1')
  assert.is(a.body, 'odd body 1')
  assert.is(a.complete, true)
  const b = await env.send('/odd')
  assert.is(b.status, 999)
  assert.is(b.headers['x-odd'], 'yes 2')
  assert.is(b.body, 'odd body 2')
})

test("RFC 9110 §14.2: with rangeMiss: forward (a policy's default), a Range request that the origin answers 206 is passed on, and the 206 is never replayed to a full GET", async () => {
  // (the plain cache uses rangeMiss: fetch: conformance/range.test.ts)
  const env = await pool.start({
    policies: 'version: 1\nrules:\n  - id: all\n    match: "/**"\n    ttl: 0\n    key: { query: all }\n',
  })
  env.origin.script(
    '/range',
    (req): Reply =>
      req.headers.range !== undefined
        ? {
            status: 206,
            headers: { 'cache-control': 'max-age=60', 'content-range': 'bytes 0-3/20' },
            body: 'resp',
          }
        : { headers: { 'cache-control': 'max-age=60' } },
  )
  const a = await env.send('/range', { headers: { range: 'bytes=0-3' } })
  assert.is(a.status, 206)
  assert.is(a.body, 'resp')
  assert.is(env.origin.requests[0]!.headers.range, 'bytes=0-3')
  const b = await env.send('/range')
  assert.is(b.status, 200)
  assert.is(b.body, 'response #2')
})

test('RFC 9111 §3: a 204 is stored with no body', async () => {
  const env = await pool.start()
  env.origin.script('/empty', { status: 204, headers: { 'cache-control': 'max-age=60' } })
  await env.send('/empty')
  await env.waitStored('/empty')
  const b = await env.send('/empty')
  assert.is(b.status, 204)
  assert.is(b.body, '')
  assert.is(b.headers['content-length'], undefined)
  assert.is(b.headers['x-response'], '1')
})

test('RFC 9110 §9.3.2: a HEAD on a cold cache is forwarded and stores nothing for GET', async () => {
  const env = await pool.start()
  env.origin.script('/head', { headers: { 'cache-control': 'max-age=60' } })
  const h = await env.send('/head', { method: 'HEAD' })
  assert.is(h.status, 200)
  assert.is(h.body, '')
  assert.is(env.origin.requests[0]!.method, 'HEAD')
  const g = await env.send('/head')
  assert.is(g.body, 'response #2')
  assert.is(g.headers['cache-status'], 'cachet; fwd=uri-miss')
})

test('docs/policy-format.md "Freshness": a body over maxBodySize (default 1 MiB) is relayed whole and not stored', async () => {
  const env = await pool.start()
  const big = Buffer.alloc(2 * 1024 * 1024, 'b')
  env.origin.script('/huge', { headers: { 'cache-control': 'max-age=60' }, body: big })
  const a = await env.send('/huge')
  assert.is(a.complete, true)
  assert.ok(a.bytes.equals(big))
  const b = await env.send('/huge')
  assert.is(b.headers['x-response'], '2')
  assert.is(await env.entry('/huge'), undefined)
})

test('RFC 9111 §3: what a policy lists stays the allow-list: an unlisted 201 or 503 with max-age is not stored', async () => {
  const env = await pool.start({
    policies: 'version: 1\nrules:\n  - id: all\n    match: "/**"\n    ttl: 0\n    statuses: [200]\n',
  })
  for (const status of [201, 503]) {
    env.origin.script(`/p${status}`, { status, headers: { 'cache-control': 'max-age=60' } })
    await env.send(`/p${status}`)
    const b = await env.send(`/p${status}`)
    assert.is(b.status, status)
    assert.is(await env.entry(`/p${status}`), undefined, `${status} is not stored`)
  }
})

test.run()
