/**
 * RFC 9111 §4.4 invalidation through `cachet serve`: a non-error response to an unsafe method
 * invalidates the target URI, and the Location / Content-Location URIs when they are same-origin;
 * an error response invalidates nothing.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Env, envs } from './harness.js'

const test = suite('conformance: invalidation (RFC 9111 §4.4)')
const pool = envs()
test.after.each(pool.closeAll)

const CACHED = { headers: { 'cache-control': 'max-age=600' } }

/** GET `path` until it is stored; returns the numbered body it holds */
async function warm(env: Env, path: string): Promise<string> {
  const a = await env.send(path)
  await env.waitStored(path)
  const b = await env.send(path)
  assert.is(b.body, a.body, `${path} is served from the cache`)
  return a.body
}

for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
  test(`RFC 9111 §4.4: a 2xx to ${method} invalidates the target URI`, async () => {
    const env = await pool.start()
    env.origin.fallback(CACHED)
    assert.is(await warm(env, '/t'), 'response #1')
    const w = await env.send('/t', { method, body: method === 'DELETE' ? undefined : 'payload' })
    assert.is(w.status, 200)
    assert.is(w.body, 'response #2')
    const c = await env.send('/t')
    assert.is(c.body, 'response #3')
    assert.is(c.headers['cache-status'], 'cachet; fwd=uri-miss')
  })
}

test('RFC 9111 §4.4: a 3xx to an unsafe method invalidates too', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  env.origin.script('/r', CACHED, { status: 303, headers: { location: '/elsewhere' } }, CACHED)
  await warm(env, '/r')
  const w = await env.send('/r', { method: 'POST', body: 'x' })
  assert.is(w.status, 303)
  assert.is((await env.send('/r')).body, 'response #3')
})

test('RFC 9111 §4.4: 4xx and 5xx responses to unsafe methods invalidate nothing', async () => {
  const env = await pool.start()
  env.origin.script(
    '/keep',
    CACHED,
    { status: 400 },
    { status: 404 },
    { status: 500 },
    { status: 503 },
    CACHED,
  )
  await warm(env, '/keep')
  for (const status of [400, 404, 500, 503]) {
    const w = await env.send('/keep', { method: 'POST', body: 'x' })
    assert.is(w.status, status)
    const c = await env.send('/keep')
    assert.is(c.body, 'response #1', `still cached after a ${status}`)
  }
  assert.is(env.origin.count, 5)
})

test('RFC 9111 §4.4: safe methods (OPTIONS, and GET/HEAD themselves) invalidate nothing', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  await warm(env, '/safe')
  await env.send('/safe', { method: 'OPTIONS' })
  assert.is((await env.send('/safe')).body, 'response #1')
})

test('RFC 9111 §4.4: an unsafe method whose safety is unknown to the cache (PROPPATCH) invalidates', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  await warm(env, '/dav')
  const w = await env.send('/dav', { method: 'PROPPATCH', body: '<x/>' })
  assert.is(w.status, 200)
  assert.is(env.origin.requests[1]!.method, 'PROPPATCH')
  assert.is((await env.send('/dav')).body, 'response #3')
})

test('RFC 9111 §4.4: the query is part of the URI: only that URI is invalidated', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  assert.is(await warm(env, '/q?a=1'), 'response #1')
  assert.is(await warm(env, '/q?a=2'), 'response #2')
  assert.is(await warm(env, '/q'), 'response #3')
  await env.send('/q?a=1', { method: 'POST', body: 'x' })
  assert.is((await env.send('/q?a=1')).body, 'response #5')
  assert.is((await env.send('/q?a=2')).body, 'response #2')
  assert.is((await env.send('/q')).body, 'response #3')
})

test('RFC 9111 §4.4: a same-origin Location and Content-Location are invalidated too', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  await warm(env, '/items/1')
  await warm(env, '/items/2')
  await warm(env, '/items/3')
  env.origin.script('/items', {
    status: 201,
    headers: { location: '/items/1', 'content-location': `http://${env.host}/items/2` },
  })
  const w = await env.send('/items', { method: 'POST', body: 'new' })
  assert.is(w.status, 201)
  assert.is((await env.send('/items/1')).body, 'response #5')
  assert.is((await env.send('/items/2')).body, 'response #6')
  assert.is((await env.send('/items/3')).body, 'response #3', 'an unnamed URI stays cached')
})

test('RFC 9111 §4.4: a Location on another origin is not invalidated (nor anything on this one)', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  await warm(env, '/x/1')
  env.origin.script('/x', {
    status: 201,
    headers: { location: 'http://other.example/x/1', 'content-location': `https://${env.host}/x/1` },
  })
  await env.send('/x', { method: 'POST', body: 'new' })
  assert.is((await env.send('/x/1')).body, 'response #1', 'other host, and other scheme, are other origins')
})

test('RFC 9111 §4.4: a relative Location resolves against the request URI', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  await warm(env, '/dir/child')
  env.origin.script('/dir/create', { status: 201, headers: { location: 'child' } })
  await env.send('/dir/create', { method: 'POST', body: 'x' })
  assert.is((await env.send('/dir/child')).body, 'response #3')
})

test('RFC 9111 §4.4: the invalidated URI is compared with its query normalised as for keys', async () => {
  const env = await pool.start()
  env.origin.fallback(CACHED)
  await warm(env, '/n?a=1&b=2')
  await env.send('/n?b=2&a=1', { method: 'DELETE' })
  assert.is((await env.send('/n?a=1&b=2')).body, 'response #3')
})

test('RFC 9211 §2.2: an unsafe method a rule names is forwarded with fwd=method, and still invalidates', async () => {
  const env = await pool.start({
    policies: `version: 1
rules:
  - id: api
    match: /**
    methods: [GET, HEAD, POST]
    ttl: 0
    origin: respect
`,
  })
  env.origin.fallback(CACHED)
  await warm(env, '/api')
  const p = await env.send('/api', { method: 'POST', body: 'x' })
  assert.is(p.headers['cache-status'], 'cachet; fwd=method')
  const g = await env.send('/api')
  assert.is(g.body, 'response #3')
  // a 4xx to it is forwarded the same way and invalidates nothing
  env.origin.script('/api', { status: 409 }, CACHED)
  await env.waitStored('/api')
  const bad = await env.send('/api', { method: 'POST', body: 'x' })
  assert.is(bad.status, 409)
  assert.is(bad.headers['cache-status'], 'cachet; fwd=method')
  assert.is((await env.send('/api')).body, 'response #3')
})

test.run()
