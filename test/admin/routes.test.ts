/**
 * The admin routes under one path (issue 9, item 3), over real HTTP with a real cache: which
 * route needs the token, the security headers on every answer (CSP, no-store, nosniff), 404 for
 * anything else under the path, 405 with Allow for other methods, the purge endpoint's two URLs,
 * explain through the cache's own explain(), lockouts across routes, and that nothing of it is
 * ever cached or reaches the application though a rule matches every path.
 */
import { readFileSync } from 'node:fs'
import Koa from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { AdminOptions } from '../../src/admin/options.js'
import { type Cache, createCache } from '../../src/create-cache.js'
import { type HttpResponse, type Listening, listen, request } from '../helpers/http.js'
import { createOrigin, type Origin } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'

const TOKEN = 'console-admin-token-0123456789'
// `everything` matches the admin paths too: the admin must answer before the cache
const POLICY = yaml(`
  version: 1
  rules:
    - id: products
      match: /products/*
      ttl: 1m
      tags: ["product:{path.2}"]
      key:
        query: [page]
    - id: everything
      match: /**
      ttl: 1h
      origin: override
`)
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

interface Admin {
  cache: Cache
  origin: Origin
  srv: Listening
}

const s = suite('admin routes: console, stats, metrics, explain, purge')
const open: Admin[] = []
s.after.each(async () => {
  for (const a of open.splice(0)) {
    await a.srv.close()
    await a.cache.close()
  }
})

async function start(o: Partial<AdminOptions> = {}): Promise<Admin> {
  const cache = await createCache({ policies: policyDir(POLICY), store: 'memory' })
  const origin = createOrigin()
  const app = new Koa()
  app.use(cache.admin({ token: TOKEN, ...o }))
  app.use(cache.middleware())
  app.use(origin.middleware)
  const a = { cache, origin, srv: await listen(app) }
  open.push(a)
  return a
}

function call(
  a: Admin,
  target: string,
  o: { method?: string; token?: string | null; body?: string; headers?: Record<string, string> } = {},
): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...o.headers }
  if (o.token !== null) headers.authorization = `Bearer ${o.token ?? TOKEN}`
  if (o.body !== undefined) headers['content-type'] = 'application/json'
  return request(a.srv.url + target, {
    method: o.method ?? 'GET',
    headers,
    ...(o.body !== undefined ? { body: o.body } : {}),
  })
}

function secured(res: HttpResponse, what: string): void {
  assert.is(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`)
  assert.is(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
  assert.is(res.headers['content-security-policy'], CSP, `${what}: CSP`)
  assert.is(res.headers['cache-status'], undefined, `${what}: answered before the cache`)
  assert.is(res.headers['access-control-allow-origin'], undefined, `${what}: no CORS`)
}

s('the page and its files: no token needed, the strict CSP, no-store, nosniff, their types', async () => {
  const a = await start()
  const page = await call(a, '/_cachet/', { token: null })
  assert.is(page.status, 200)
  secured(page, 'page')
  assert.is(page.headers['content-type'], 'text/html; charset=utf-8')
  assert.is(page.headers['x-frame-options'], 'DENY')
  assert.is(page.headers['referrer-policy'], 'no-referrer')
  assert.is(page.body, readFileSync(new URL('../../console/index.html', import.meta.url), 'utf8'))
  const js = await call(a, '/_cachet/console.js', { token: null })
  assert.is(js.status, 200)
  secured(js, 'console.js')
  assert.is(js.headers['content-type'], 'text/javascript; charset=utf-8')
  assert.match(js.body, /^\/\/ @ts-check\n/)
  const css = await call(a, '/_cachet/console.css', { token: null })
  assert.is(css.status, 200)
  assert.is(css.headers['content-type'], 'text/css; charset=utf-8')
  const head = await call(a, '/_cachet/', { method: 'HEAD', token: null })
  assert.is(head.status, 200)
  assert.is(head.body, '')
  secured(head, 'HEAD page')
  assert.is(a.origin.total, 0, 'the application never saw a console request')
})

s('the page holds no inline script, style or event handler, and the script writes no HTML', () => {
  const html = readFileSync(new URL('../../console/index.html', import.meta.url), 'utf8')
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
  assert.is(scripts.length, 1)
  for (const [, attrs, body] of scripts) {
    assert.match(attrs ?? '', /\ssrc="console\.js"/)
    assert.is(body, '', 'no inline script')
  }
  assert.not.match(html, /<style\b/i, 'no <style> element')
  assert.not.match(html, /\sstyle=/i, 'no style attribute')
  assert.not.match(html, /\son[a-z]+=/i, 'no inline event handler')
  assert.not.match(html, /(src|href)="(https?:)?\/\//i, 'nothing from another origin')
  const js = readFileSync(new URL('../../console/console.js', import.meta.url), 'utf8')
  for (const sink of [
    'innerHTML',
    'outerHTML',
    'insertAdjacentHTML',
    'document.write',
    'eval(',
    'new Function',
  ])
    assert.not.ok(js.includes(sink), `console.js uses no ${sink}`)
  assert.not.match(js, /\.style\b|setAttribute\(\s*'style'/, 'console.js sets no inline style')
  assert.not.match(js, /document\.cookie/, 'never a cookie')
})

s('POST <path> and POST <path>/purge both purge; the default path keeps /_cachet/purge working', async () => {
  const a = await start()
  const prime = async () => {
    await request(`${a.srv.url}/products/1`)
    const hit = await request(`${a.srv.url}/products/1`)
    assert.match(hit.headers['cache-status'] ?? '', /^cachet; hit/)
  }
  for (const target of ['/_cachet', '/_cachet/purge']) {
    await prime()
    const before = a.origin.calls('/products/1')
    const res = await call(a, target, { method: 'POST', body: '{"tags":["product:1"]}' })
    assert.is(res.status, 200, target)
    secured(res, target)
    assert.equal(JSON.parse(res.body), { ok: true, tags: 1, urls: 0, rules: 0, all: false, generations: 1 })
    const after = await request(`${a.srv.url}/products/1`)
    assert.is(after.headers['cache-status'], 'cachet; fwd=uri-miss; stored', `${target} purged`)
    assert.is(a.origin.calls('/products/1'), before + 1)
  }
  const bad = await call(a, '/_cachet/purge', { method: 'POST', body: '{"tag":["x"]}' })
  assert.is(bad.status, 400)
  assert.match(JSON.parse(bad.body).error, /unknown field "tag"/)
})

s('explain: the token, then the cache’s own explain() of the body', async () => {
  const a = await start()
  const req = {
    method: 'GET',
    url: '/products/42?page=2&utm_source=mail',
    headers: { host: 'shop.test', cookie: 'session=abc' },
  }
  const res = await call(a, '/_cachet/explain', { method: 'POST', body: JSON.stringify(req) })
  assert.is(res.status, 200)
  secured(res, 'explain')
  const x = JSON.parse(res.body)
  assert.equal(x, JSON.parse(JSON.stringify(a.cache.explain(req))))
  assert.is(x.rule, 'products')
  assert.is(x.decision, 'bypass', 'a Cookie the rule does not key: bypass')
  const plain = JSON.parse(
    (await call(a, '/_cachet/explain', { method: 'POST', body: '{"url":"/products/42?utm_source=x"}' })).body,
  )
  assert.is(plain.decision, 'lookup')
  assert.equal(plain.removed.query, ['utm_source'])
  assert.is(plain.method, 'GET', 'method defaults to GET')

  const noToken = await call(a, '/_cachet/explain', { method: 'POST', token: null, body: '{"url":"/"}' })
  assert.is(noToken.status, 401)
  assert.is(noToken.headers['www-authenticate'], 'Bearer realm="cachet"')
  secured(noToken, '401')
  const wrong = await call(a, '/_cachet/explain', {
    method: 'POST',
    token: 'wrong-token-wrong-token',
    body: '{"url":"/"}',
  })
  assert.is(wrong.status, 403)
  for (const [body, error] of [
    ['not json', /^body must be JSON \{ method\?, url, headers\? \}/],
    ['[]', /expected an object/],
    ['{}', /url must be a non-empty string/],
    ['{"url":"/","extra":1}', /unknown field "extra"/],
    ['{"url":"/","method":"G E T"}', /method must be a word/],
    ['{"url":"/","headers":{"x":1}}', /header "x" must be a string/],
    ['{"url":"/","headers":[]}', /headers must be an object/],
  ] as const) {
    const r = await call(a, '/_cachet/explain', { method: 'POST', body })
    assert.is(r.status, 400, body)
    assert.match(JSON.parse(r.body).error, error, body)
  }
  assert.is(a.origin.total, 0)
})

s('a route’s other methods: 405 with Allow, before the token is looked at', async () => {
  const a = await start()
  for (const [target, method, allow] of [
    ['/_cachet/', 'POST', 'GET, HEAD'],
    ['/_cachet/console.js', 'PUT', 'GET, HEAD'],
    ['/_cachet/stats', 'DELETE', 'GET, HEAD'],
    ['/_cachet/metrics', 'POST', 'GET, HEAD'],
    ['/_cachet/explain', 'GET', 'POST'],
    ['/_cachet/purge', 'GET', 'POST'],
    ['/_cachet/purge', 'OPTIONS', 'POST'],
    ['/_cachet', 'GET', 'POST'],
  ] as const) {
    const res = await call(a, target, { method, token: null })
    assert.is(res.status, 405, `${method} ${target}`)
    assert.is(res.headers.allow, allow, `${method} ${target}`)
    secured(res, `${method} ${target}`)
  }
})

s('anything else under the path is 404 (no-store, never the application, never cached)', async () => {
  const a = await start()
  for (const target of [
    '/_cachet/nope',
    '/_cachet/index.html',
    '/_cachet/stats/',
    '/_cachet//stats',
    '/_cachet/%73tats',
    '/_cachet/console.js/x',
    '/_cachet/../_cachet/stats',
  ]) {
    for (let i = 0; i < 2; i++) {
      const res = await call(a, target)
      assert.is(res.status, 404, target)
      secured(res, target)
      assert.type(JSON.parse(res.body).error, 'string')
    }
  }
  assert.is(a.origin.total, 0)
  // a path that only starts like the admin path is the application's
  const other = await request(`${a.srv.url}/_cachetx`)
  assert.is(other.status, 200)
  assert.is(a.origin.calls('/_cachetx'), 1)
})

s('a browser opening the bare path is redirected to the console; other clients get 405', async () => {
  const a = await start({ path: '/ops/admin/' })
  const res = await call(a, '/ops/admin', {
    token: null,
    headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
  })
  assert.is(res.status, 308)
  assert.is(res.headers.location, 'admin/', 'relative: it holds under a mount prefix')
  assert.is(res.headers['cache-control'], 'no-store')
  assert.is((await call(a, '/ops/admin', { token: null })).status, 405)
  assert.is(
    (await call(a, '/ops/admin/', { token: null })).status,
    200,
    '"/ops/admin/" is mounted at "/ops/admin"',
  )
})

s('wrong tokens on any route lock the address out of every route that needs one, not the page', async () => {
  const a = await start({ maxFailures: 2 })
  assert.is((await call(a, '/_cachet/explain', { method: 'POST', token: 'guess-one-guess-one' })).status, 403)
  assert.is((await call(a, '/_cachet/stats', { token: 'guess-two-guess-two' })).status, 403)
  for (const [target, method] of [
    ['/_cachet/explain', 'POST'],
    ['/_cachet/purge', 'POST'],
    ['/_cachet', 'POST'],
    ['/_cachet/stats', 'GET'],
    ['/_cachet/metrics', 'GET'],
  ] as const) {
    const res = await call(a, target, { method, body: '{"url":"/"}' })
    assert.is(res.status, 429, `${method} ${target}, the right token`)
    assert.is(res.headers['retry-after'], '60')
    assert.match(res.headers.connection ?? '', /close/i, 'the body is never read')
  }
  assert.is((await call(a, '/_cachet/', { token: null })).status, 200, 'the page holds no data')
  assert.is(a.cache.metrics().purges, 0)
})

s('options: the path is normalised, "/" and non-string paths refused, publicMetrics a boolean', async () => {
  const cache = await createCache({ policies: policyDir(POLICY), store: 'memory' })
  try {
    assert.throws(() => cache.admin({ token: TOKEN, path: '/' }), /must not be "\/"/)
    assert.throws(() => cache.admin({ token: TOKEN, path: '//' }), /must not be "\/"/)
    assert.throws(() => cache.admin({ token: TOKEN, path: 'x' }), /must start with "\/"/)
    assert.throws(() => cache.admin({ token: 'short' }), /at least 16 characters/)
    assert.throws(
      () => cache.admin({ token: TOKEN, publicMetrics: 'yes' as unknown as boolean }),
      /publicMetrics option must be a boolean/,
    )
  } finally {
    await cache.close()
  }
})

s('stats: the token (401, 403), then cache.stats() as JSON; HEAD without a body', async () => {
  const a = await start()
  await request(`${a.srv.url}/products/1`)
  await request(`${a.srv.url}/other`)
  assert.is((await call(a, '/_cachet/stats', { token: null })).status, 401)
  assert.is((await call(a, '/_cachet/stats', { token: 'wrong-token-wrong-token' })).status, 403)
  const res = await call(a, '/_cachet/stats')
  assert.is(res.status, 200)
  secured(res, 'stats')
  assert.match(res.headers['content-type'] ?? '', /^application\/json/)
  const { at, ...got } = JSON.parse(res.body)
  const { at: now, ...want } = JSON.parse(JSON.stringify(a.cache.stats()))
  assert.equal(got, want)
  assert.ok(Date.parse(at) <= Date.parse(now))
  assert.is(got.rules.find((r: { id: string }) => r.id === 'products').outcomes.miss, 1)
  assert.is(got.rules.find((r: { id: string }) => r.id === 'everything').outcomes.miss, 1)
  const head = await call(a, '/_cachet/stats', { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.is(head.body, '')
  assert.is(a.origin.calls('/_cachet/stats'), 0)
})

s(
  'publicMetrics: stats (and metrics) answer without the token; explain and purge still need it',
  async () => {
    const a = await start({ publicMetrics: true })
    const res = await call(a, '/_cachet/stats', { token: null })
    assert.is(res.status, 200)
    assert.is(JSON.parse(res.body).name, 'cachet')
    secured(res, 'public stats')
    const metrics = await call(a, '/_cachet/metrics', { token: null })
    assert.is(metrics.status, 200)
    assert.is(metrics.body, a.cache.prometheus())
    assert.is(
      (await call(a, '/_cachet/explain', { method: 'POST', token: null, body: '{"url":"/"}' })).status,
      401,
    )
    assert.is(
      (await call(a, '/_cachet/purge', { method: 'POST', token: null, body: '{"all":true}' })).status,
      401,
    )
    assert.is((await call(a, '/_cachet', { method: 'POST', token: null, body: '{"all":true}' })).status, 401)
  },
)

s('metrics: the token (401, 403), then cache.prometheus() as text/plain version 0.0.4', async () => {
  const a = await start()
  await request(`${a.srv.url}/products/1`)
  assert.is((await call(a, '/_cachet/metrics', { token: null })).status, 401)
  assert.is((await call(a, '/_cachet/metrics', { token: 'wrong-token-wrong-token' })).status, 403)
  const res = await call(a, '/_cachet/metrics')
  assert.is(res.status, 200)
  secured(res, 'metrics')
  assert.is(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  assert.is(res.body, a.cache.prometheus())
  assert.ok(res.body.includes('cachet_requests_total{cache="cachet",rule="products",outcome="miss"} 1\n'))
  const head = await call(a, '/_cachet/metrics', { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.is(head.body, '')
})

s.run()
