/**
 * Poisoning and deception through the real middleware (docs/threats.md §2a): a canary
 * sent by an "attacker" must never reach a later clean request. Both stores; the host tests with
 * app.proxy false and true.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreOption } from '../../src/options.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: account
      match: /account/**
      cache: false
    - id: static
      match: /static/**
      ttl: 1m
    - id: css
      match: "/**/*.css"
      ttl: 1m
    - id: list
      match: /list
      ttl: 1m
      key: { query: [page] }
    - id: t10
      match: /t10/**
      ttl: 1m
      key: { query: all, headers: [x-variant] }
    - id: pages
      match: /**
      ttl: 1m
`)

const CANARY = 'canary-7f3a9c.example'
const HIT = /^cachet; hit; ttl=\d+$/

function storeSuite(
  label: string,
  store: () => StoreOption,
  setup?: { before(): Promise<void>; after(): Promise<void> },
) {
  const s = suite(`security (${label})`)
  const sites = siteTracker()
  const dir = policyDir(POLICY)
  const start = (proxy = false) => sites.start({ policies: dir, store: store(), proxy })
  if (setup) {
    s.before(setup.before)
    s.after(setup.after)
  }
  s.after.each(sites.closeAll)

  // The page reflects the scheme and host as Koa sees them in a script URL (Kettle 2018).
  // (Koa 3's ctx.origin is the Origin request header, so it is spelled out.)
  const reflectOrigin = (ctx: import('koa').Context, n: number) => {
    ctx.type = 'html'
    ctx.body = `<script src="${ctx.protocol}://${ctx.host}/app.js"></script><!-- ${n} -->`
  }

  for (const proxy of [false, true]) {
    s(
      `T01 X-Forwarded-Host / -Proto (app.proxy=${proxy}): the canary never reaches a clean request`,
      async () => {
        const site = await start(proxy)
        site.origin.route('/home', reflectOrigin)
        const attack = { 'x-forwarded-host': CANARY, 'x-forwarded-proto': 'https' }
        const a = await site.get('/home', { headers: attack })
        assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
        assert.is(
          a.body,
          proxy
            ? `<script src="https://${CANARY}/app.js"></script><!-- 1 -->`
            : `<script src="http://${site.host}/app.js"></script><!-- 1 -->`,
        )
        await site.waitStored(proxy ? `https://${CANARY}/home` : '/home')
        const repeat = await site.get('/home', { headers: attack })
        assert.match(cs(repeat) ?? '', HIT, 'the attacker gets its own entry back')

        for (let i = 0; i < 2; i++) {
          const clean = await site.get('/home')
          assert.not.ok(clean.body.includes('canary'), `clean request ${i} got: ${clean.body}`)
          assert.is(clean.body, `<script src="http://${site.host}/app.js"></script><!-- ${proxy ? 2 : 1} -->`)
          if (proxy && i === 0) {
            assert.is(cs(clean), 'cachet; fwd=uri-miss; stored', 'another host: another entry')
            await site.waitStored('/home')
          } else {
            assert.match(cs(clean) ?? '', HIT)
          }
        }
      },
    )

    s(
      `an absolute-form request target (app.proxy=${proxy}): ctx.href never leaks into a clean request`,
      async () => {
        const site = await start(proxy)
        // ctx.href is built from the request target as sent: `GET http://evil/... HTTP/1.1` puts
        // an attacker's authority into it while the key reads the Host header
        site.origin.route('/canonical', (ctx, n) => {
          ctx.type = 'html'
          ctx.body = `<link rel="canonical" href="${ctx.href}"> ${n}`
        })
        const a = await site.get(`http://${CANARY}/canonical`)
        assert.is(a.status, 200)
        await site.get(`http://${CANARY}/canonical`)
        const clean = await site.get('/canonical')
        assert.not.ok(clean.body.includes('canary'), `clean request got: ${clean.body} (${cs(clean)})`)
      },
    )
  }

  s('T05 an unkeyed query parameter is removed before the application: no canary is stored', async () => {
    const site = await start()
    site.origin.route('/list', (ctx, n) => {
      ctx.type = 'html'
      ctx.body = `<p>${ctx.url} ${ctx.querystring} ${JSON.stringify(ctx.query)} ${ctx.search} #${n}</p>`
    })
    const a = await site.get(`/list?page=1&utm_content=${CANARY}`)
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    assert.is(a.body, '<p>/list?page=1 page=1 {"page":"1"} ?page=1 #1</p>')
    await site.waitStored('/list?page=1')
    const clean = await site.get('/list?page=1')
    assert.match(cs(clean) ?? '', HIT)
    assert.is(clean.body, '<p>/list?page=1 page=1 {"page":"1"} ?page=1 #1</p>')
  })

  s(
    'T05 with an application that renders ctx.href / ctx.URL (canonical links): no canary is stored',
    async () => {
      const site = await start()
      site.origin.route('/list', (ctx, n) => {
        ctx.type = 'html'
        ctx.body = `<link rel="canonical" href="${ctx.href}"><p>${ctx.URL.search} #${n}</p>`
      })
      const a = await site.get(`/list?page=1&utm_content=${CANARY}`)
      assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
      await site.waitStored('/list?page=1')
      const clean = await site.get('/list?page=1')
      assert.not.ok(clean.body.includes('canary'), `clean request got: ${clean.body}`)
      assert.is(clean.body, `<link rel="canonical" href="http://${site.host}/list?page=1"><p>?page=1 #1</p>`)
    },
  )

  s('T10 values that would collide under a naive delimiter join get different entries', async () => {
    const site = await start()
    site.origin.route('/t10/p', (ctx, n) => {
      ctx.body = `#${n} q=${ctx.querystring} v=${ctx.get('x-variant')}`
    })
    const cases: [string, Record<string, string>, string][] = [
      ['/t10/p?page=2', { 'x-variant': 'en' }, 'q=page=2 v=en'],
      ['/t10/p', { 'x-variant': 'en|page=2' }, 'q= v=en|page=2'],
      ['/t10/p', { 'x-variant': 'en&page=2' }, 'q= v=en&page=2'],
      ['/t10/p?a=1&b=2', {}, 'q=a=1&b=2 v='],
      ['/t10/p?a=1%26b%3D2', {}, 'q=a=1%26b%3D2 v='],
      ['/t10/p?a%3D1=2', {}, 'q=a%3D1=2 v='],
      ['/t10/p?a=1%3D2', {}, 'q=a=1%3D2 v='],
      ['/t10/p?a', {}, 'q=a v='],
      ['/t10/p?%7Bx%7D=%7D%7B', {}, 'q=%7Bx%7D=%7D%7B v='],
    ]
    for (const [i, [target, headers, body]] of cases.entries()) {
      const r = await site.get(target, { headers })
      assert.is(r.body, `#${i + 1} ${body}`, `${target} ${JSON.stringify(headers)}`)
      assert.is(cs(r), 'cachet; fwd=uri-miss; stored', `${target} ${JSON.stringify(headers)}`)
      await site.waitStored(target, headers)
    }
    // ... while requests that only spell the same parameters differently share (T08):
    // `?a=` is `?a` for URLSearchParams, and so for ctx.query
    for (const [target, body] of [
      ['/t10/p?a=', '#8 q=a v='],
      ['/t10/p?b=2&a=1', '#4 q=a=1&b=2 v='],
    ]) {
      const r = await site.get(target as string)
      assert.match(cs(r) ?? '', HIT, target)
      assert.is(r.body, body)
    }
  })

  s(
    'T14/T15/T16 deception: ambiguous paths bypass (detail=path) or match no rule; /account/** wins',
    async () => {
      const site = await start()
      site.origin.route(/account/i, (ctx, n) => {
        ctx.type = 'text/css'
        ctx.body = `/* private account page for alice, ${ctx.path}, #${n} */`
      })
      const cases: [string, string | undefined][] = [
        ['/account/x.css', 'cachet; fwd=bypass; detail=rule'],
        ['/ACCOUNT/x.css', 'cachet; fwd=bypass; detail=rule'],
        ['/%61ccount/x.css', 'cachet; fwd=bypass; detail=rule'],
        ['/account;x.css', 'cachet; fwd=bypass; detail=path'],
        ['/account%3Bx.css', 'cachet; fwd=bypass; detail=path'],
        ['/account%23x.css', 'cachet; fwd=bypass; detail=path'],
        ['/account%3Fx.css', 'cachet; fwd=bypass; detail=path'],
        ['/account%00x.css', 'cachet; fwd=bypass; detail=path'],
        ['/account%0Ax.css', 'cachet; fwd=bypass; detail=path'],
        ['/account%2Fx.css', 'cachet; fwd=bypass; detail=path'],
        ['/static/..%2faccount', 'cachet; fwd=bypass; detail=path'],
        ['/static/%2e%2e/account', 'cachet; fwd=bypass; detail=path'],
        ['/static/%2E%2E%2Faccount', 'cachet; fwd=bypass; detail=path'],
        ['/static/..%5caccount', 'cachet; fwd=bypass; detail=path'],
        ['/static//account', 'cachet; fwd=bypass; detail=path'],
        ['/static/%252e%252e/account', 'cachet; fwd=bypass; detail=path'],
      ]
      for (const [target, status] of cases) {
        for (let i = 0; i < 2; i++) {
          const r = await site.get(target)
          assert.is(cs(r), status, target)
        }
      }
      // `//account` and `/%2e%2e/`: either bypassed for the path or matched by no rule, never stored
      const eitherWay = [
        '//account',
        '/%2e%2e/',
        '//account/x.css',
        '/static/./account.css',
        '/static/../account/x.css',
      ]
      for (const target of eitherWay) {
        for (let i = 0; i < 2; i++) {
          const r = await site.get(target)
          const status = cs(r)
          assert.ok(
            status === undefined || status === 'cachet; fwd=bypass; detail=path',
            `${target}: ${status}`,
          )
        }
      }
      // every one of them reached the application each time
      assert.is(site.origin.total, (cases.length + eitherWay.length) * 2)
      assert.is(site.cache.metrics().stores, 0)
      // an anonymous request after all that is answered by the application, not by a stored page
      const anon = await site.get('/account/x.css')
      assert.is(anon.body, '/* private account page for alice, /account/x.css, #3 */')
    },
  )

  s('T14 the cacheable suffix rule still caches real stylesheets', async () => {
    const site = await start()
    site.origin.route('/assets/site.css', (ctx, n) => {
      ctx.type = 'text/css'
      ctx.body = `body{} /* ${n} */`
    })
    const a = await site.get('/assets/site.css')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/assets/site.css')
    const b = await site.get('/assets/site.css')
    assert.match(cs(b) ?? '', HIT)
    assert.is(b.body, 'body{} /* 1 */')
    assert.is(site.cache.explain({ url: '/assets/site.css' }).rule, 'css')
  })

  return s
}

let redis: RedisProc | undefined
storeSuite('memory', () => 'memory').run()
storeSuite('redis', () => redis!.url as StoreOption, {
  async before() {
    redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  },
  async after() {
    await redis?.stop()
  },
}).run()
