/**
 * The purge endpoint, `cache.admin({ path, token })` mounted before `cache.middleware()`, over
 * real HTTP on a real redis-server: RFC 6750 bearer credentials (401 + WWW-Authenticate when
 * missing or malformed, 403 when wrong), 405 for anything but POST, 400 for a body that is not a
 * purge, `Cache-Control: no-store` on every answer, and never cached even under a matching rule.
 */

import Koa from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Cache, createCache } from '../../src/create-cache.js'
import { eventually, type HttpResponse, type Listening, listen, request } from '../helpers/http.js'
import { createOrigin, type Origin } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

// `everything` matches the admin path too (GET/HEAD, and POST/PUT through `writes`): the admin
// endpoint must still never be read from or written to the cache.
const POLICY = yaml(`
  version: 1
  rules:
    - id: products
      match: /products/*
      ttl: 1m
      tags: ["product:{path.2}"]
    - id: writes
      match: /**
      methods: [POST, PUT, DELETE]
      invalidate:
        tags: [everything]
    - id: everything
      match: /**
      ttl: 1h
      origin: override
      tags: [everything]
`)
const TOKEN = 's3cret-admin-token-of-some-length'
const PATH = '/_cachet/purge'
const HIT = /^cachet; hit; ttl=\d+$/

const s = suite('admin purge endpoint')
let r: RedisProc
let cache: Cache
let origin: Origin
let srv: Listening

s.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  cache = await createCache({ policies: policyDir(POLICY), store: r.url })
  origin = createOrigin()
  const app = new Koa()
  app.use(cache.admin({ path: PATH, token: TOKEN }))
  app.use(cache.middleware())
  app.use(origin.middleware)
  srv = await listen(app)
})
s.after(async () => {
  await srv.close()
  await cache.close()
  await r.stop()
})

function admin(opts: { method?: string; auth?: string | null; body?: string } = {}): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (opts.auth !== null) headers.authorization = opts.auth ?? `Bearer ${TOKEN}`
  return request(srv.url + PATH, {
    method: opts.method ?? 'POST',
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  })
}

async function primed(path: string): Promise<string> {
  const a = await request(srv.url + path)
  assert.match(a.headers['cache-status'] ?? '', /^cachet; fwd=uri-miss; stored$/)
  await eventually(
    async () => HIT.test((await request(srv.url + path)).headers['cache-status'] ?? ''),
    `${path} becomes a hit`,
  )
  return a.body
}

async function keys(): Promise<string[]> {
  return (await r.cli('--scan', '--pattern', 'cachet:*')).split('\n').filter(Boolean).sort()
}

s('the right token purges: 200, a summary, no-store, and the entry is gone', async () => {
  const body = await primed('/products/5')
  assert.is(body, '#1 GET /products/5 cookie=')
  const res = await admin({
    body: JSON.stringify({ tags: ['product:5'], urls: ['/products/6'], rules: ['products'] }),
  })
  assert.is(res.status, 200)
  assert.is(res.headers['cache-control'], 'no-store')
  assert.match(res.headers['content-type'] ?? '', /^application\/json/)
  assert.equal(JSON.parse(res.body), { ok: true, tags: 1, urls: 1, rules: 1, all: false, generations: 3 })
  assert.is(res.headers['cache-status'], undefined, 'answered before the cache middleware')
  const after = await request(`${srv.url}/products/5`)
  assert.match(after.headers['cache-status'] ?? '', /^cachet; fwd=uri-miss; stored$/)
  assert.is(after.body, '#2 GET /products/5 cookie=')
})

s('a lower-case "bearer" scheme is accepted (RFC 7235 §2.1: the scheme is case-insensitive)', async () => {
  const res = await admin({ auth: `bearer ${TOKEN}`, body: '{"all":true}' })
  assert.is(res.status, 200)
  assert.equal(JSON.parse(res.body), { ok: true, tags: 0, urls: 0, rules: 0, all: true, generations: 1 })
})

s('missing or malformed Authorization: 401 with WWW-Authenticate, nothing purged', async () => {
  const body = await primed('/products/11')
  for (const auth of [
    null,
    '',
    'Basic dXNlcjpwYXNz',
    `Bearer`,
    `Bearer  ${TOKEN}`,
    `Token ${TOKEN}`,
    `Bearer ${TOKEN} extra`,
  ]) {
    const res = await admin({ auth, body: '{"all":true}' })
    assert.is(res.status, 401, `Authorization ${JSON.stringify(auth)}`)
    assert.is(res.headers['www-authenticate'], 'Bearer realm="cachet"')
    assert.is(res.headers['cache-control'], 'no-store')
    assert.is(JSON.parse(res.body).ok, undefined)
  }
  const still = await request(`${srv.url}/products/11`)
  assert.match(still.headers['cache-status'] ?? '', HIT)
  assert.is(still.body, body)
})

s('a wrong token: 403, nothing purged (also a prefix, a longer one, another case)', async () => {
  const body = await primed('/products/12')
  for (const wrong of ['wrong-token-entirely-wrong', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
    const res = await admin({ auth: `Bearer ${wrong}`, body: '{"all":true}' })
    assert.is(res.status, 403, wrong)
    assert.is(res.headers['cache-control'], 'no-store')
    assert.is(res.headers['www-authenticate'], undefined)
  }
  const still = await request(`${srv.url}/products/12`)
  assert.match(still.headers['cache-status'] ?? '', HIT)
  assert.is(still.body, body)
})

s('GET, HEAD, PUT, DELETE: 405 with Allow: POST and no-store, even with the right token', async () => {
  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
    const res = await admin({ method, ...(method === 'PUT' ? { body: '{"all":true}' } : {}) })
    assert.is(res.status, 405, method)
    assert.is(res.headers.allow, 'POST')
    assert.is(res.headers['cache-control'], 'no-store')
  }
})

s('a body that is not a purge: 400 (bad JSON, wrong shapes), no-store', async () => {
  for (const body of [
    '{tags:',
    'not json',
    '{"tags":"product:1"}',
    '{"urls":["relative/path"]}',
    '{"all":"yes"}',
    'null',
    '42',
  ]) {
    const res = await admin({ body })
    assert.is(res.status, 400, body)
    assert.is(res.headers['cache-control'], 'no-store')
    assert.type(JSON.parse(res.body).error, 'string')
  }
})

s(
  'the endpoint is never cached, though a rule matches its path: repeated calls all reach the admin',
  async () => {
    const before = await keys()
    for (let i = 0; i < 3; i++) {
      const get = await admin({ method: 'GET' })
      assert.is(get.status, 405)
      assert.is(get.headers['cache-status'], undefined)
      assert.is(get.headers.age, undefined)
      const post = await admin({ body: '{"tags":["nothing-here"]}' })
      assert.is(post.status, 200)
      assert.is(post.headers['cache-status'], undefined)
      const noAuth = await admin({ method: 'GET', auth: null })
      assert.is(noAuth.status, 405)
    }
    assert.is(origin.calls(PATH), 0, 'the application never saw the admin path')
    const entries = (await keys()).filter((k) => !before.includes(k) && !k.startsWith('cachet:g:'))
    assert.equal(entries, [], 'no entry key was written for the admin path')
    assert.is(
      cache.explain({ method: 'GET', url: PATH, headers: { host: `127.0.0.1:${srv.port}` } }).decision,
      'lookup',
      'a rule does match the path',
    )
  },
)

s.run()
