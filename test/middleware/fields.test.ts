/**
 * Every field of a rule (docs/policy-format.md), seen from the outside: real requests through the
 * middleware, an origin that echoes what it saw, exact Cache-Status values and origin call counts.
 * Runs on both stores: the embedded memory LRU and a real redis-server.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreOption } from '../../src/options.js'
import { cs, hitTtl, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const MAIN = yaml(`
  version: 1
  defaults:
    ttl: 2m
  rules:
    - id: list-match
      match: [/one/*, /two/**]
      ttl: 30s
    - id: host-glob
      match: /hosted/**
      host: "*.example.com"
    - id: get-only
      match: /get-only/**
      methods: [GET]
    - id: with-post
      match: /with-post/**
      methods: [GET, HEAD, POST]
    - id: respect
      match: /respect/**
      ttl: 1h
    - id: override
      match: /override/**
      ttl: 1h
      origin: override
    - id: status-list
      match: /status-list/**
      statuses: [200, 404]
      ttl: 45s
    - id: status-map
      match: /status-map/**
      statuses: { 200: 10m, 404: 30s }
    - id: q-all
      match: /q-all/**
      key: { query: all }
    - id: q-none
      match: /q-none/**
      key: { query: none }
    - id: q-names
      match: /q-names/**
      key: { query: [page, "f_*"] }
    - id: q-exclude
      match: /q-exclude/**
      key:
        query: { exclude: ["utm_*", fbclid] }
    - id: h-lang
      match: /lang/**
      key: { headers: [Accept-Language] }
    - id: c-absent
      match: /c-absent/**
    - id: c-empty
      match: /c-empty/**
      key: { cookies: [] }
    - id: c-names
      match: /c-names/**
      key: { cookies: [locale] }
    - id: host-keyed
      match: /host-keyed/**
      key: { host: true }
    - id: host-unkeyed
      match: /host-unkeyed/**
      key: { host: false }
    - id: body-size
      match: /body-size/**
      maxBodySize: 100
`)

// A second file, read after the first (name order), with its own defaults.
const SECOND = yaml(`
  version: 1
  defaults:
    ttl: 3m
    origin: override
    key:
      query: none
  rules:
    - id: d-inherit
      match: /defaults/inherit/**
    - id: d-own
      match: /defaults/own/**
      ttl: 20s
      key: { query: all }
    - id: late-deny
      match: /two/**
      cache: false
`)

function fieldsSuite(
  label: string,
  store: () => StoreOption,
  setup?: { before(): Promise<void>; after(): Promise<void> },
) {
  const s = suite(`policy fields (${label})`)
  const sites = siteTracker()
  let site: Site
  s.before(async () => {
    if (setup) await setup.before()
    site = await sites.start({
      policies: policyDir({ '10-main.yaml': MAIN, '20-second.yaml': SECOND }),
      store: store(),
    })
  })
  s.after(async () => {
    await sites.closeAll()
    if (setup) await setup.after()
  })

  const HIT = /^cachet; hit; ttl=\d+$/

  /** GET twice: a stored miss, then (once stored) a hit. Returns both. */
  async function missThenHit(target: string, headers: Record<string, string> = {}) {
    const a = await site.get(target, { headers })
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored', `${target}: first is a stored miss`)
    await site.waitStored(target, headers)
    const b = await site.get(target, { headers })
    assert.match(cs(b) ?? '', HIT, `${target}: second is a hit`)
    assert.is(b.body, a.body)
    return { a, b }
  }

  function between(n: number, low: number, high: number, what: string) {
    assert.ok(n > low && n <= high, `${what}: expected ${low} < ttl <= ${high}, got ${n}`)
  }

  s('match: a string or a list of globs; ttl', async () => {
    const one = await missThenHit('/one/x')
    between(hitTtl(one.b), 0, 30, 'ttl: 30s')
    const two = await missThenHit('/two/a/b')
    between(hitTtl(two.b), 0, 30, '/two/** (the later cache:false rule for /two/** never wins)')
    const none = await site.get('/one/a/b') // `*` is one segment; no other rule matches
    assert.is(cs(none), undefined)
  })

  s('host: a glob over the host name (no port)', async () => {
    const shop = { host: 'shop.example.com' }
    await missThenHit('/hosted/x', shop)
    const withPort = await site.get('/hosted/x', { headers: { host: 'shop.example.com:8080' } })
    assert.is(
      cs(withPort),
      'cachet; fwd=uri-miss; stored',
      'matched (the port is not part of the host glob); keyed apart (the key has host:port)',
    )
    for (const host of ['example.com', '127.0.0.1', 'shop.example.com.evil.test']) {
      const r = await site.get('/hosted/x', { headers: { host } })
      assert.is(cs(r), undefined, host)
    }
  })

  s('methods: only the listed methods match; unsafe ones are forwarded (fwd=method)', async () => {
    const h = await site.get('/get-only/x', { method: 'HEAD' })
    assert.is(cs(h), undefined, 'HEAD is not listed: no rule matches it')
    await missThenHit('/get-only/x')
    const h2 = await site.get('/get-only/x', { method: 'HEAD' })
    assert.is(cs(h2), undefined)
    assert.is(site.origin.calls('/get-only/x'), 3)

    await missThenHit('/with-post/x')
    const p = await site.get('/with-post/x', { method: 'POST', body: 'a=1' })
    assert.is(cs(p), 'cachet; fwd=method')
    assert.is(p.body, '#2 POST /with-post/x cookie=')
  })

  s('origin: respect honours s-maxage, max-age, Expires and Age', async () => {
    const now = Date.now()
    site.origin
      .route('/respect/max-age', (ctx) => {
        ctx.set('Cache-Control', 'max-age=30')
        ctx.body = 'm'
      })
      .route('/respect/s-maxage', (ctx) => {
        ctx.set('Cache-Control', 'max-age=300, s-maxage=20')
        ctx.body = 's'
      })
      .route('/respect/expires', (ctx) => {
        ctx.set('Date', new Date(now).toUTCString())
        ctx.set('Expires', new Date(now + 40_000).toUTCString())
        ctx.body = 'e'
      })
      .route('/respect/age', (ctx) => {
        ctx.set('Cache-Control', 'max-age=60')
        ctx.set('Age', '10')
        ctx.body = 'a'
      })
      .route('/respect/none', (ctx) => {
        ctx.body = 'n'
      })
      .route('/respect/longer', (ctx) => {
        ctx.set('Cache-Control', 'max-age=7200')
        ctx.body = 'l'
      })
    between(hitTtl((await missThenHit('/respect/max-age')).b), 0, 30, 'max-age=30')
    between(hitTtl((await missThenHit('/respect/s-maxage')).b), 0, 20, 's-maxage wins over max-age')
    between(hitTtl((await missThenHit('/respect/expires')).b), 0, 40, 'Expires - Date')
    const aged = (await missThenHit('/respect/age')).b
    between(hitTtl(aged), 0, 50, 'max-age minus the origin Age')
    assert.ok(Number(aged.headers.age) >= 10, `Age counts the origin's age, got ${aged.headers.age}`)
    between(hitTtl((await missThenHit('/respect/none')).b), 3540, 3600, 'no stated lifetime: the rule ttl')
    between(
      hitTtl((await missThenHit('/respect/longer')).b),
      7140,
      7200,
      'a stated lifetime is used even when longer than ttl',
    )
  })

  s('origin: override ignores max-age, s-maxage, Expires and no-cache', async () => {
    site.origin
      .route('/override/max-age', (ctx) => {
        ctx.set('Cache-Control', 'max-age=30, s-maxage=5')
        ctx.body = 'm'
      })
      .route('/override/expires', (ctx) => {
        ctx.set('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT')
        ctx.body = 'e'
      })
      .route('/override/zero', (ctx) => {
        ctx.set('Cache-Control', 'max-age=0')
        ctx.body = 'z'
      })
      .route('/override/no-cache', (ctx) => {
        ctx.set('Cache-Control', 'no-cache')
        ctx.body = 'c'
      })
    for (const p of ['/override/max-age', '/override/expires', '/override/zero', '/override/no-cache']) {
      between(hitTtl((await missThenHit(p)).b), 3540, 3600, p)
    }
    // ... but never what is never stored
    site.origin.route('/override/no-store', (ctx) => {
      ctx.set('Cache-Control', 'no-store')
      ctx.body = 'x'
    })
    for (let i = 0; i < 2; i++) assert.is(cs(await site.get('/override/no-store')), 'cachet; fwd=uri-miss')
  })

  s('statuses: a list (with ttl) and a map (a TTL per status, visible in the hit)', async () => {
    site.origin
      .route('/status-list/nf', (ctx) => {
        ctx.status = 404
        ctx.body = 'nf'
      })
      .route('/status-list/gone', (ctx) => {
        ctx.status = 410
        ctx.body = 'gone'
      })
      .route('/status-list/moved', (ctx) => {
        ctx.redirect('/elsewhere')
        ctx.status = 301
      })
      .route('/status-map/nf', (ctx) => {
        ctx.status = 404
        ctx.body = 'nf'
      })
      .route('/status-map/gone', (ctx) => {
        ctx.status = 410
        ctx.body = 'gone'
      })
    between(hitTtl((await missThenHit('/status-list/nf')).b), 0, 45, 'listed 404 gets ttl')
    between(hitTtl((await missThenHit('/status-list/ok')).b), 0, 45, 'listed 200 gets ttl')
    between(hitTtl((await missThenHit('/status-map/ok')).b), 540, 600, '200: 10m')
    between(hitTtl((await missThenHit('/status-map/nf')).b), 0, 30, '404: 30s')
    for (const p of ['/status-list/gone', '/status-list/moved', '/status-map/gone']) {
      for (let i = 0; i < 2; i++) {
        const r = await site.get(p)
        assert.is(cs(r), 'cachet; fwd=uri-miss', `${p} is not listed`)
      }
      assert.is(site.origin.calls(p), 2)
    }
  })

  s('key.query all: every parameter, order-normalised; repeated parameters keep their order', async () => {
    const { a } = await missThenHit('/q-all/p?b=2&a=1')
    assert.is(a.body, '#1 GET /q-all/p?b=2&a=1 cookie=', 'the application sees the query as sent')
    const swapped = await site.get('/q-all/p?a=1&b=2')
    assert.match(cs(swapped) ?? '', HIT)
    assert.is(swapped.body, a.body)
    const repeated = await site.get('/q-all/p?a=1&a=2')
    assert.is(cs(repeated), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/q-all/p?a=1&a=2')
    const reversed = await site.get('/q-all/p?a=2&a=1')
    assert.is(cs(reversed), 'cachet; fwd=uri-miss; stored', 'a=2&a=1 is another request than a=1&a=2')
    const extra = await site.get('/q-all/p?a=1&b=2&c=3')
    assert.is(cs(extra), 'cachet; fwd=uri-miss; stored')
    const bare = await site.get('/q-all/p')
    assert.is(cs(bare), 'cachet; fwd=uri-miss; stored')
    assert.is(site.origin.calls('/q-all/p'), 5)
  })

  s('key.query none: the query is removed before the application and shared', async () => {
    const { a } = await missThenHit('/q-none/p?x=1')
    assert.is(a.body, '#1 GET /q-none/p cookie=')
    for (const t of ['/q-none/p?y=2', '/q-none/p', '/q-none/p?x=1&x=2']) {
      const r = await site.get(t)
      assert.match(cs(r) ?? '', HIT, t)
      assert.is(r.body, a.body)
    }
    assert.is(site.origin.calls('/q-none/p'), 1)
  })

  s('key.query [names and globs]: only those are kept and keyed; names are case-sensitive', async () => {
    const { a } = await missThenHit('/q-names/p?page=2&utm_source=x&f_color=red&other=1&F_size=9')
    assert.is(a.body, '#1 GET /q-names/p?page=2&f_color=red cookie=')
    const same = await site.get('/q-names/p?f_color=red&page=2&zzz=1')
    assert.match(cs(same) ?? '', HIT)
    assert.is(same.body, a.body)
    const other = await site.get('/q-names/p?page=3&f_color=red')
    assert.is(cs(other), 'cachet; fwd=uri-miss; stored')
    assert.is(other.body, '#2 GET /q-names/p?page=3&f_color=red cookie=')
    const glob = await site.get('/q-names/p?page=2&f_color=red&f_size=1')
    assert.is(cs(glob), 'cachet; fwd=uri-miss; stored', 'f_size matches f_*: keyed')
    assert.is(glob.body, '#3 GET /q-names/p?page=2&f_color=red&f_size=1 cookie=')
  })

  s('key.query { exclude }: the excluded parameters are removed and unkeyed', async () => {
    const { a } = await missThenHit('/q-exclude/p?id=1&utm_source=news&fbclid=abc')
    assert.is(a.body, '#1 GET /q-exclude/p?id=1 cookie=')
    const clean = await site.get('/q-exclude/p?id=1')
    assert.match(cs(clean) ?? '', HIT)
    assert.is(clean.body, a.body)
    const other = await site.get('/q-exclude/p?id=2&utm_medium=x&keep=yes')
    assert.is(cs(other), 'cachet; fwd=uri-miss; stored')
    assert.is(other.body, '#2 GET /q-exclude/p?id=2&keep=yes cookie=')
  })

  s('key.headers: different values, different entries; equal values share', async () => {
    site.origin.route('/lang/p', (ctx, n) => {
      ctx.body = `lang=${ctx.get('accept-language')} #${n}`
    })
    const fr = await missThenHit('/lang/p', { 'accept-language': 'fr' })
    assert.is(fr.b.body, 'lang=fr #1')
    const en = await site.get('/lang/p', { headers: { 'Accept-Language': 'en' } })
    assert.is(cs(en), 'cachet; fwd=uri-miss; stored')
    assert.is(en.body, 'lang=en #2')
    const none = await site.get('/lang/p')
    assert.is(cs(none), 'cachet; fwd=uri-miss; stored')
    assert.is(none.body, 'lang= #3')
    const fr2 = await site.get('/lang/p', { headers: { 'ACCEPT-LANGUAGE': 'fr' } })
    assert.match(cs(fr2) ?? '', HIT)
    assert.is(fr2.body, 'lang=fr #1')
  })

  s('key.cookies absent: a request with Cookie bypasses (detail=cookie), untouched', async () => {
    for (let i = 1; i <= 2; i++) {
      const r = await site.get('/c-absent/p', { headers: { cookie: 'session=abc' } })
      assert.is(cs(r), 'cachet; fwd=bypass; detail=cookie')
      assert.is(r.body, `#${i} GET /c-absent/p cookie=session=abc`)
    }
    const { a } = await missThenHit('/c-absent/p')
    assert.is(a.body, '#3 GET /c-absent/p cookie=')
    const again = await site.get('/c-absent/p', { headers: { cookie: 'session=abc' } })
    assert.is(cs(again), 'cachet; fwd=bypass; detail=cookie', 'never served from the cache either')
    assert.is(again.body, '#4 GET /c-absent/p cookie=session=abc')
  })

  s(
    'key.cookies []: the Cookie header is removed before the application; one entry for everyone',
    async () => {
      const { a } = await missThenHit('/c-empty/p', { cookie: 'session=abc; locale=fr' })
      assert.is(a.body, '#1 GET /c-empty/p cookie=')
      for (const cookie of ['session=xyz', 'other=1']) {
        const r = await site.get('/c-empty/p', { headers: { cookie } })
        assert.match(cs(r) ?? '', HIT)
        assert.is(r.body, a.body)
      }
      const none = await site.get('/c-empty/p')
      assert.match(cs(none) ?? '', HIT)
      assert.is(site.origin.calls('/c-empty/p'), 1)
    },
  )

  s('key.cookies [names]: only those cookies are kept and keyed', async () => {
    const { a } = await missThenHit('/c-names/p', { cookie: 'session=abc; locale=fr' })
    assert.is(a.body, '#1 GET /c-names/p cookie=locale=fr')
    const sameLocale = await site.get('/c-names/p', { headers: { cookie: 'locale=fr; session=other; x=1' } })
    assert.match(cs(sameLocale) ?? '', HIT)
    assert.is(sameLocale.body, a.body)
    const de = await site.get('/c-names/p', { headers: { cookie: 'locale=de; session=abc' } })
    assert.is(cs(de), 'cachet; fwd=uri-miss; stored')
    assert.is(de.body, '#2 GET /c-names/p cookie=locale=de')
    const noLocale = await site.get('/c-names/p', { headers: { cookie: 'session=abc' } })
    assert.is(cs(noLocale), 'cachet; fwd=uri-miss; stored')
    assert.is(noLocale.body, '#3 GET /c-names/p cookie=', 'no kept cookie: the header goes')
    const noCookie = await site.get('/c-names/p')
    assert.match(cs(noCookie) ?? '', HIT, 'no Cookie header keys like no kept cookie')
    assert.is(noCookie.body, '#3 GET /c-names/p cookie=')
  })

  s('key.host: true keys the host; false shares across hosts', async () => {
    await missThenHit('/host-keyed/p', { host: 'a.test' })
    const b = await site.get('/host-keyed/p', { headers: { host: 'b.test' } })
    assert.is(cs(b), 'cachet; fwd=uri-miss; stored')
    assert.is(b.body, '#2 GET /host-keyed/p cookie=')
    // keyed exactly as the application sees it: `A.TEST` is another host to an application that
    // compares names as sent, so it never shares `a.test`'s entry
    const upper = await site.get('/host-keyed/p', { headers: { host: 'A.TEST' } })
    assert.is(cs(upper), 'cachet; fwd=uri-miss; stored')

    const { a } = await missThenHit('/host-unkeyed/p', { host: 'a.test' })
    const other = await site.get('/host-unkeyed/p', { headers: { host: 'b.test' } })
    assert.match(cs(other) ?? '', HIT)
    assert.is(other.body, a.body)
    assert.is(site.origin.calls('/host-unkeyed/p'), 1)
  })

  s('maxBodySize: a larger body passes through unstored; the limit itself is stored', async () => {
    site.origin
      .route('/body-size/over', (ctx, n) => {
        ctx.body = `${n}`.padEnd(101, '.')
      })
      .route('/body-size/limit', (ctx, n) => {
        ctx.body = `${n}`.padEnd(100, '.')
      })
    for (let i = 1; i <= 2; i++) {
      const r = await site.get('/body-size/over')
      assert.is(cs(r), 'cachet; fwd=uri-miss')
      assert.is(r.body, `${i}`.padEnd(101, '.'))
    }
    const { b } = await missThenHit('/body-size/limit')
    assert.is(b.body, '1'.padEnd(100, '.'))
  })

  s("defaults are merged into the rules of their own file; a rule's own field wins", async () => {
    site.origin
      .route('/defaults/inherit/p', (ctx, n) => {
        ctx.set('Cache-Control', 'max-age=5')
        ctx.body = `${ctx.url} #${n}`
      })
      .route('/defaults/own/p', (ctx, n) => {
        ctx.set('Cache-Control', 'max-age=5')
        ctx.body = `${ctx.url} #${n}`
      })
    const inherit = await missThenHit('/defaults/inherit/p?x=1')
    assert.is(inherit.a.body, '/defaults/inherit/p #1', 'query: none from defaults')
    between(hitTtl(inherit.b), 120, 180, 'ttl 3m and origin: override from defaults')
    const own = await missThenHit('/defaults/own/p?x=1')
    assert.is(own.a.body, '/defaults/own/p?x=1 #1', "the rule's own key wins")
    between(hitTtl(own.b), 5, 20, "the rule's own ttl, with origin: override from defaults")
    const q = await site.get('/q-all/defaults-ttl')
    assert.is(cs(q), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/q-all/defaults-ttl')
    between(hitTtl(await site.get('/q-all/defaults-ttl')), 60, 120, "the first file's default ttl: 2m")
  })

  return s
}

let redis: RedisProc | undefined
fieldsSuite('memory', () => 'memory').run()
fieldsSuite('redis', () => redis!.url as StoreOption, {
  async before() {
    redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  },
  async after() {
    await redis?.stop()
  },
}).run()
