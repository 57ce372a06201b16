/**
 * Purge on one real redis-server (the README "Purge", docs/policy-format.md "Tags and invalidation",
 * README "How purge works"): by tag, by URL (path form for every host, absolute form, every Vary
 * variant), by rule, all (this cache's namespace only); malformed input; `invalidate.tags` on an
 * unsafe rule; RFC 9111 §4.4 URL invalidation after a successful unsafe request; response tags
 * (Surrogate-Key / Cache-Tag). Every "gone" is proven with the origin's call number in the body.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { tagGen } from '../../src/generation/keys.js'
import { eventually } from '../helpers/http.js'
import { type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  defaults:
    ttl: 1m
  rules:
    - id: products
      match: /products/*
      tags: [products, "product:{path.2}"]
    - id: reviews
      match: /products/*/reviews
      tags: ["product:{path.2}"]
    - id: product-writes
      match: [/products/*, /products/*/reviews]
      methods: [PUT, POST, DELETE]
      invalidate:
        tags: ["product:{path.2}"]
    - id: pages
      match: /pages/**
      key: { query: [page] }
    - id: search
      match: /search
    - id: lang
      match: /lang/**
    - id: other
      match: /other/**
    - id: surrogate
      match: /sk/**
      tagsFromResponse: true
`)

const HIT = /^cachet; hit; ttl=\d+$/
const STORED_MISS = /^cachet; fwd=uri-miss; stored$/

const s = suite('purge on one redis-server')
const sites = siteTracker()
const dir = policyDir(POLICY)
let r: RedisProc

s.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
s.before.each(async () => {
  await r.cli('FLUSHALL')
})
s.after.each(async () => {
  await sites.closeAll()
})
s.after(async () => {
  await r.stop()
})

/** GET (a miss that stores), wait for the write, GET again (a hit with the same body). Returns the body. */
async function prime(site: Site, target: string, headers: Record<string, string> = {}): Promise<string> {
  const a = await site.get(target, { headers })
  assert.is(a.status, 200, `GET ${target}`)
  const name = site.cache.name
  assert.match(
    a.headers['cache-status'] ?? '',
    new RegExp(`^${name}; fwd=uri-miss; stored$`),
    `first GET ${target} is a stored miss`,
  )
  await site.waitStored(target, headers)
  const b = await site.get(target, { headers })
  assert.match(
    b.headers['cache-status'] ?? '',
    new RegExp(`^${name}; hit; ttl=\\d+$`),
    `second GET ${target} is a hit`,
  )
  assert.is(b.body, a.body)
  return a.body
}

async function expectHit(
  site: Site,
  target: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const res = await site.get(target, { headers })
  assert.match(res.headers['cache-status'] ?? '', HIT, `GET ${target} ${JSON.stringify(headers)} still a hit`)
  assert.is(res.body, body)
}

async function expectMiss(
  site: Site,
  target: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const res = await site.get(target, { headers })
  assert.match(
    res.headers['cache-status'] ?? '',
    STORED_MISS,
    `GET ${target} ${JSON.stringify(headers)} is a miss after the purge`,
  )
  assert.is(res.body, body)
}

s('purge by template tag: every entry carrying product:42 is gone, others stay', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  assert.is(await prime(site, '/products/42'), '#1 GET /products/42 cookie=')
  assert.is(await prime(site, '/products/42/reviews'), '#1 GET /products/42/reviews cookie=')
  assert.is(await prime(site, '/products/43'), '#1 GET /products/43 cookie=')
  // the tag's generation key exists in Redis, named by the digest of the resolved tag
  assert.is(await r.cli('EXISTS', tagGen('cachet', 'product:42')), '1')

  const res = await site.cache.purge({ tags: ['product:42'] })
  assert.equal(res, { tags: 1, urls: 0, rules: 0, all: false, generations: 1 })
  await expectMiss(site, '/products/42', '#2 GET /products/42 cookie=')
  await expectMiss(site, '/products/42/reviews', '#2 GET /products/42/reviews cookie=')
  await expectHit(site, '/products/43', '#1 GET /products/43 cookie=')

  // the literal tag "products" covers both product pages but not the reviews
  await site.waitStored('/products/42')
  await site.cache.purge({ tags: ['products'] })
  await expectMiss(site, '/products/42', '#3 GET /products/42 cookie=')
  await expectMiss(site, '/products/43', '#2 GET /products/43 cookie=')
  await expectHit(site, '/products/42/reviews', '#2 GET /products/42/reviews cookie=')
  assert.is(site.origin.total, 7)
})

s('purge by URL, path form: every host, every keyed-query spelling; other URLs stay', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  const a = { host: 'a.shop.test' }
  const b = { host: 'b.shop.test' }
  await prime(site, '/pages/x?page=2', a)
  await prime(site, '/pages/x?page=2', b)
  await prime(site, '/pages/x?page=3', a)
  await prime(site, '/pages/y?page=2', a)
  await prime(site, '/search?a=1&b=2', a)

  // `page` is the only keyed parameter: utm_source is dropped, as for the key
  const res = await site.cache.purge({ urls: ['/pages/x?utm_source=mail&page=2'] })
  assert.is(res.urls, 1)
  await expectMiss(site, '/pages/x?page=2', '#4 GET /pages/x?page=2 cookie=', a)
  await expectMiss(site, '/pages/x?page=2', '#5 GET /pages/x?page=2 cookie=', b)
  await expectHit(site, '/pages/x?page=3', '#3 GET /pages/x?page=3 cookie=', a)
  await expectHit(site, '/pages/y?page=2', '#1 GET /pages/y?page=2 cookie=', a)

  // query: all keys every parameter in a normalised order: ?b=2&a=1 names the same entry
  await site.cache.purge({ urls: ['/search?b=2&a=1'] })
  await expectMiss(site, '/search?a=1&b=2', '#2 GET /search?a=1&b=2 cookie=', a)
})

s('purge by URL, absolute form: that URL is gone, other paths and queries stay', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  const h = { host: 'shop.test' }
  await prime(site, '/pages/abs?page=1', h)
  await prime(site, '/pages/abs?page=9', h)
  await prime(site, '/pages/other', h)
  const res = await site.cache.purge({ urls: ['https://shop.test/pages/abs?page=1#fragment'] })
  assert.equal(res, { tags: 0, urls: 1, rules: 0, all: false, generations: 1 })
  await expectMiss(site, '/pages/abs?page=1', '#3 GET /pages/abs?page=1 cookie=', h)
  await expectHit(site, '/pages/abs?page=9', '#2 GET /pages/abs?page=9 cookie=', h)
  await expectHit(site, '/pages/other', '#1 GET /pages/other cookie=', h)
  // a raw non-ASCII path means the percent-encoded one requests carry
  await prime(site, '/pages/caf%C3%A9', h)
  await site.cache.purge({ urls: ['http://shop.test/pages/café'] })
  await expectMiss(site, '/pages/caf%C3%A9', '#2 GET /pages/caf%C3%A9 cookie=', h)
})

s('purge by URL covers every Vary variant of it', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  const calls = new Map<string, number>()
  site.origin.route(/^\/lang\//, (ctx) => {
    const lang = ctx.get('accept-language')
    const n = (calls.get(lang) ?? 0) + 1
    calls.set(lang, n)
    ctx.set('Vary', 'Accept-Language')
    ctx.body = `${lang} #${n}`
  })
  const en = { 'accept-language': 'en' }
  const fr = { 'accept-language': 'fr' }
  const key = site.key('/lang/home')!
  // the Vary index sits at the key, each variant at key~<digest>: wait for the writes by counting them
  const stored = async () =>
    (await r.cli('--scan', '--pattern', `${key}*`)).split('\n').filter(Boolean).length
  const first = await site.get('/lang/home', { headers: en })
  assert.is(first.body, 'en #1')
  assert.match(first.headers['cache-status'] ?? '', STORED_MISS)
  await eventually(async () => (await stored()) === 2, 'index + en variant stored')
  const frFirst = await site.get('/lang/home', { headers: fr })
  assert.is(frFirst.body, 'fr #1')
  assert.match(frFirst.headers['cache-status'] ?? '', /^cachet; fwd=vary-miss; stored$/)
  await eventually(async () => (await stored()) === 3, 'fr variant stored')
  await expectHit(site, '/lang/home', 'en #1', en)
  await expectHit(site, '/lang/home', 'fr #1', fr)
  assert.is(site.origin.calls('/lang/home'), 2)

  await site.cache.purge({ urls: ['/lang/home'] })
  const enAfter = await site.get('/lang/home', { headers: en })
  const frAfter = await site.get('/lang/home', { headers: fr })
  assert.is(enAfter.body, 'en #2')
  assert.is(frAfter.body, 'fr #2')
  assert.not.match(enAfter.headers['cache-status'] ?? '', /hit/)
  assert.not.match(frAfter.headers['cache-status'] ?? '', /hit/)
  assert.is(site.origin.calls('/lang/home'), 4)
})

s('purge by rule: every entry of that rule is gone, other rules keep theirs', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  await prime(site, '/pages/1')
  await prime(site, '/pages/2')
  await prime(site, '/other/1')
  const res = await site.cache.purge({ rules: ['pages'] })
  assert.equal(res, { tags: 0, urls: 0, rules: 1, all: false, generations: 1 })
  await expectMiss(site, '/pages/1', '#2 GET /pages/1 cookie=')
  await expectMiss(site, '/pages/2', '#2 GET /pages/2 cookie=')
  await expectHit(site, '/other/1', '#1 GET /other/1 cookie=')
})

s(
  "purge all: only this cache's namespace; another cache name on the same Redis keeps its entries",
  async () => {
    const shop = await sites.start({ policies: dir, store: r.url, name: 'shop' })
    const blog = await sites.start({ policies: policyDir(POLICY), store: r.url, name: 'blog' })
    const shopBody = await prime(shop, '/other/page')
    const blogBody = await prime(blog, '/other/page')
    assert.ok(shop.key('/other/page')!.startsWith('shop:'))
    assert.ok(blog.key('/other/page')!.startsWith('blog:'))
    const res = await shop.cache.purge({ all: true })
    assert.equal(res, { tags: 0, urls: 0, rules: 0, all: true, generations: 1 })
    const after = await shop.get('/other/page')
    assert.match(after.headers['cache-status'] ?? '', /^shop; fwd=uri-miss; stored$/)
    assert.is(after.body, '#2 GET /other/page cookie=')
    const kept = await blog.get('/other/page')
    assert.match(kept.headers['cache-status'] ?? '', /^blog; hit; ttl=\d+$/)
    assert.is(kept.body, blogBody)
    assert.is(shopBody, '#1 GET /other/page cookie=')
  },
)

s('purge with malformed input rejects with a TypeError and bumps nothing', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  await prime(site, '/products/7')
  const bad: unknown[] = [
    null,
    'product:7',
    { tags: 'product:7' },
    { tags: [7] },
    { urls: ['products/7'] },
    { urls: '/products/7' },
    { rules: [null] },
    { all: 'yes' },
  ]
  for (const what of bad) {
    let err: unknown
    try {
      await site.cache.purge(what as never)
    } catch (e) {
      err = e
    }
    assert.instance(err, TypeError, `purge(${JSON.stringify(what)}) rejects with a TypeError`)
  }
  await expectHit(site, '/products/7', '#1 GET /products/7 cookie=')
})

s(
  'purge with an unknown field (a typo such as "tag") rejects with a TypeError instead of purging nothing',
  async () => {
    // docs/policy-format.md: "a typo must never silently change caching"; the README: a purge never claims a
    // success it did not have. { tag: [...] } purges nothing, so resolving would claim one.
    const site = await sites.start({ policies: dir, store: r.url })
    let err: unknown
    let result: unknown
    try {
      result = await site.cache.purge({ tag: ['product:7'] } as never)
    } catch (e) {
      err = e
    }
    assert.instance(
      err,
      TypeError,
      `purge({ tag }) rejects with a TypeError (resolved with ${JSON.stringify(result)})`,
    )
  },
)

s(
  'invalidate.tags on a PUT rule: the GET entries of that tag are gone before the PUT answer is sent',
  async () => {
    const site = await sites.start({ policies: dir, store: r.url })
    await prime(site, '/products/42')
    await prime(site, '/products/42/reviews')
    await prime(site, '/products/43')
    const put = await site.get('/products/42', {
      method: 'PUT',
      body: '{"price":1}',
      headers: { 'content-type': 'application/json' },
    })
    assert.is(put.status, 200)
    assert.is(put.headers['cache-status'], 'cachet; fwd=method')
    // the very next GET, sent only after the PUT answer arrived: no waiting, no polling
    await expectMiss(site, '/products/42/reviews', '#2 GET /products/42/reviews cookie=')
    await expectMiss(site, '/products/42', '#3 GET /products/42 cookie=')
    await expectHit(site, '/products/43', '#1 GET /products/43 cookie=')
  },
)

s('invalidate.tags: a 4xx or 5xx answer to the PUT purges nothing', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  await prime(site, '/products/44/reviews')
  site.origin.route('/products/44', (ctx) => {
    if (ctx.method === 'PUT') {
      ctx.status = ctx.get('x-fail') === '5' ? 503 : 409
      ctx.body = 'conflict'
    } else ctx.body = 'product 44'
  })
  const put4 = await site.get('/products/44', { method: 'PUT', body: 'x' })
  assert.is(put4.status, 409)
  const put5 = await site.get('/products/44', { method: 'PUT', body: 'x', headers: { 'x-fail': '5' } })
  assert.is(put5.status, 503)
  await expectHit(site, '/products/44/reviews', '#1 GET /products/44/reviews cookie=')
})

s('invalidate.tags resolves {path.N} as GET entries do, also for a percent-encoded segment', async () => {
  // The GET entry of /products/caf%C3%A9/reviews carries the tag "product:café" (decide() resolves
  // templates over the decoded path); the PUT must purge the same tag, not "product:caf%C3%A9".
  const site = await sites.start({ policies: dir, store: r.url })
  await prime(site, '/products/caf%C3%A9/reviews')
  const put = await site.get('/products/caf%C3%A9', { method: 'PUT', body: 'x' })
  assert.is(put.status, 200)
  await expectMiss(site, '/products/caf%C3%A9/reviews', '#2 GET /products/caf%C3%A9/reviews cookie=')
  // and the tag as an operator types it covers it too
  await site.waitStored('/products/caf%C3%A9/reviews')
  await site.cache.purge({ tags: ['product:café'] })
  await expectMiss(site, '/products/caf%C3%A9/reviews', '#3 GET /products/caf%C3%A9/reviews cookie=')
})

s(
  'RFC 9111 §4.4: a 2xx POST invalidates its URL even when no rule matches the POST; a 4xx does not',
  async () => {
    const site = await sites.start({ policies: dir, store: r.url })
    site.origin.route('/pages/form', (ctx) => {
      if (ctx.method === 'POST') {
        ctx.status = ctx.get('x-reject') ? 422 : 201
        ctx.body = 'posted'
      } else ctx.body = `form #${site.origin.calls('/pages/form')}`
    })
    await prime(site, '/pages/form?page=1')
    await prime(site, '/pages/form?page=2')
    assert.is(
      site.cache.explain({ method: 'POST', url: '/pages/form?page=1', headers: { host: site.host } }).rule,
      null,
      'no rule matches the POST',
    )
    const rejected = await site.get('/pages/form?page=1', {
      method: 'POST',
      body: 'a=1',
      headers: { 'x-reject': '1' },
    })
    assert.is(rejected.status, 422)
    assert.is(rejected.headers['cache-status'], undefined, 'no rule matched: no Cache-Status')
    await expectHit(site, '/pages/form?page=1', 'form #1')
    const post = await site.get('/pages/form?page=1', { method: 'POST', body: 'a=1' })
    assert.is(post.status, 201)
    const after = await site.get('/pages/form?page=1')
    assert.match(after.headers['cache-status'] ?? '', STORED_MISS)
    assert.is(after.body, 'form #5')
    await expectHit(site, '/pages/form?page=2', 'form #2')
  },
)

s('RFC 9111 §4.4: a same-origin Location of a successful POST is invalidated too', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  await prime(site, '/other/created')
  await prime(site, '/other/elsewhere')
  site.origin.route('/other-post', (ctx) => {
    ctx.status = 303
    ctx.set('Location', '/other/created')
    ctx.body = ''
  })
  const post = await site.get('/other-post', { method: 'POST', body: 'x' })
  assert.is(post.status, 303)
  await expectMiss(site, '/other/created', '#2 GET /other/created cookie=')
  await expectHit(site, '/other/elsewhere', '#1 GET /other/elsewhere cookie=')
})

s('tagsFromResponse: Surrogate-Key and Cache-Tag tags are purgeable', async () => {
  const site = await sites.start({ policies: dir, store: r.url })
  site.origin.route(/^\/sk\//, (ctx, n) => {
    if (ctx.path === '/sk/a') ctx.set('Surrogate-Key', 'cat-1  shared')
    else if (ctx.path === '/sk/b') ctx.set('Cache-Tag', 'cat-2, shared')
    else ctx.set('Surrogate-Key', 'cat-3')
    ctx.body = `${ctx.path} #${n}`
  })
  await prime(site, '/sk/a')
  await prime(site, '/sk/b')
  await prime(site, '/sk/c')
  await site.cache.purge({ tags: ['cat-1'] })
  await expectMiss(site, '/sk/a', '/sk/a #2')
  await expectHit(site, '/sk/b', '/sk/b #1')
  await expectHit(site, '/sk/c', '/sk/c #1')
  await site.waitStored('/sk/a')
  await site.cache.purge({ tags: ['shared'] })
  await expectMiss(site, '/sk/a', '/sk/a #3')
  await expectMiss(site, '/sk/b', '/sk/b #2')
  await expectHit(site, '/sk/c', '/sk/c #1')
})

s.run()
