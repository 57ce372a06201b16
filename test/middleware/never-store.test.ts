/**
 * What must never be stored, on both stores (docs/policy-format.md "Freshness": "never stored when…";
 * docs/threats.md T09, T13, T21–T24, T28). Each case is checked twice over: the miss says
 * no `stored`, and the next identical request still reaches the origin; the cache's `stores`
 * counter proves that no write was even started.
 */
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreOption } from '../../src/options.js'
import { request } from '../helpers/http.js'
import { cs, type Handler, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: small
      match: /small/**
      ttl: 1m
      maxBodySize: 1kb
    - id: errors
      match: /err/**
      ttl: 1m
      statuses: [200, 404, 500]
    - id: only200
      match: /only200/**
      ttl: 1m
      statuses: [200]
    - id: keyed-auth
      match: /auth/**
      ttl: 1m
      key:
        headers: [authorization]
    - id: rest
      match: /**
      ttl: 1m
`)

/** Two identical requests both reach the origin; neither says `stored`. */
async function neverStored(
  site: Site,
  path: string,
  handler: Handler,
  expect: { status: number; body?: string },
): Promise<void> {
  site.origin.route(path, handler)
  for (let i = 1; i <= 2; i++) {
    const r = await site.get(path)
    assert.is(r.status, expect.status, `${path} status`)
    if (expect.body !== undefined) assert.is(r.body, expect.body.replace('{n}', String(i)), `${path} body`)
    assert.is(cs(r), 'cachet; fwd=uri-miss', `${path} request ${i}`)
  }
  assert.is(site.origin.calls(path), 2, `${path} origin calls`)
}

function storeSuite(
  label: string,
  store: () => StoreOption,
  setup?: { before(): Promise<void>; after(): Promise<void> },
) {
  const s = suite(`never stored (${label})`)
  const sites = siteTracker()
  const dir = policyDir(POLICY)
  const start = () => sites.start({ policies: dir, store: store() })
  if (setup) {
    s.before(setup.before)
    s.after(setup.after)
  }
  s.after.each(sites.closeAll)

  s('a response with Set-Cookie (passed to the client, never stored)', async () => {
    const site = await start()
    site.origin.route('/login', (ctx, n) => {
      ctx.cookies.set('session', `s${n}`)
      ctx.body = `hello ${n}`
    })
    const a = await site.get('/login')
    assert.is(a.headers['set-cookie'], 'session=s1; path=/; httponly')
    assert.is(cs(a), 'cachet; fwd=uri-miss')
    const b = await site.get('/login')
    assert.is(b.headers['set-cookie'], 'session=s2; path=/; httponly')
    assert.is(b.body, 'hello 2')
    assert.is(cs(b), 'cachet; fwd=uri-miss')
    assert.is(site.cache.metrics().stores, 0)
  })

  s('Cache-Control no-store or private (any case, with other directives)', async () => {
    const site = await start()
    const cases = [
      'no-store',
      'private',
      'max-age=600, PRIVATE',
      'public, max-age=600, No-Store',
      'private="set-cookie"',
    ]
    for (const [i, cc] of cases.entries()) {
      await neverStored(
        site,
        `/cc/${i}`,
        (ctx, n) => {
          ctx.set('Cache-Control', cc)
          ctx.body = `cc ${n}`
        },
        { status: 200, body: 'cc {n}' },
      )
    }
    assert.is(site.cache.metrics().stores, 0)
  })

  s('origin: respect: no-cache, max-age=0, a past or invalid Expires', async () => {
    const site = await start()
    const cases: Record<string, string>[] = [
      { 'Cache-Control': 'no-cache' },
      { 'Cache-Control': 'max-age=0' },
      { 'Cache-Control': 's-maxage=0, max-age=600' },
      { Expires: 'Thu, 01 Jan 1970 00:00:00 GMT' },
      { Expires: '0' },
    ]
    for (const [i, headers] of cases.entries()) {
      await neverStored(
        site,
        `/fresh/${i}`,
        (ctx, n) => {
          ctx.set(headers)
          ctx.body = `f ${n}`
        },
        { status: 200, body: 'f {n}' },
      )
    }
    assert.is(site.cache.metrics().stores, 0)
  })

  s('Vary: * (alone or in a list)', async () => {
    const site = await start()
    await neverStored(
      site,
      '/vary/star',
      (ctx, n) => {
        ctx.set('Vary', '*')
        ctx.body = `v ${n}`
      },
      { status: 200, body: 'v {n}' },
    )
    await neverStored(
      site,
      '/vary/list',
      (ctx, n) => {
        ctx.set('Vary', 'Accept, *')
        ctx.body = `v ${n}`
      },
      { status: 200, body: 'v {n}' },
    )
    assert.is(site.cache.metrics().stores, 0)
  })

  s('a status the rule does not list (default list; explicit list)', async () => {
    const site = await start()
    for (const status of [500, 400, 401, 403, 429, 502, 503]) {
      await neverStored(
        site,
        `/status/${status}`,
        (ctx, n) => {
          ctx.status = status
          ctx.body = `status ${status} #${n}`
        },
        { status, body: `status ${status} #{n}` },
      )
    }
    await neverStored(
      site,
      '/only200/missing',
      (ctx, n) => {
        ctx.status = 404
        ctx.body = `nf ${n}`
      },
      { status: 404, body: 'nf {n}' },
    )
    // Koa's own 404 (no body set) is stored when 404 is listed: the default list has it
    const k = await site.get('/nobody')
    site.origin.route('/nobody2', () => {})
    const k2 = await site.get('/nobody2')
    assert.is(k.status, 200)
    assert.is(k2.status, 404)
    assert.is(k2.body, 'Not Found')
    assert.is(cs(k2), 'cachet; fwd=uri-miss; stored')
    assert.is(site.cache.metrics().stores, 2)
  })

  s('a thrown handler error is never stored, even when its status is listed', async () => {
    const site = await start()
    site.origin.route('/err/boom', (ctx, n) => {
      if (n === 1) throw new Error('boom')
      ctx.body = `recovered ${n}`
    })
    const a = await site.get('/err/boom')
    assert.is(a.status, 500)
    assert.is(a.body, 'Internal Server Error')
    const b = await site.get('/err/boom')
    assert.is(b.status, 200)
    assert.is(b.body, 'recovered 2')
    assert.is(cs(b), 'cachet; fwd=uri-miss; stored')

    site.origin.route('/err/thrown404', (ctx) => {
      ctx.throw(404, 'thrown not found')
    })
    for (let i = 0; i < 2; i++) {
      const r = await site.get('/err/thrown404')
      assert.is(r.status, 404)
      assert.is(r.body, 'thrown not found')
    }
    assert.is(site.origin.calls('/err/thrown404'), 2)
    assert.is(site.cache.metrics().stores, 1)
  })

  s('Authorization not keyed: fwd=bypass; detail=authorization', async () => {
    const site = await start()
    for (let i = 1; i <= 2; i++) {
      const r = await site.get('/me', { headers: { authorization: 'Bearer secret' } })
      assert.is(cs(r), 'cachet; fwd=bypass; detail=authorization')
      assert.is(r.body, `#${i} GET /me cookie=`)
    }
    // the bypass left nothing behind: a request without Authorization is a miss
    const anon = await site.get('/me')
    assert.is(cs(anon), 'cachet; fwd=uri-miss; stored')
    assert.is(anon.body, '#3 GET /me cookie=')
  })

  s(
    'Authorization keyed: stored only when the response allows it (RFC 9111 §3.5), per credential',
    async () => {
      const site = await start()
      site.origin.route('/auth/plain', (ctx, n) => {
        ctx.body = `plain ${n}`
      })
      site.origin.route('/auth/public', (ctx, n) => {
        ctx.set('Cache-Control', 'public')
        ctx.body = `public ${n} for ${ctx.get('authorization')}`
      })
      const alice = { authorization: 'Bearer alice' }
      const bob = { authorization: 'Bearer bob' }
      for (let i = 1; i <= 2; i++) {
        const r = await site.get('/auth/plain', { headers: alice })
        assert.is(cs(r), 'cachet; fwd=uri-miss')
        assert.is(r.body, `plain ${i}`)
      }
      const a = await site.get('/auth/public', { headers: alice })
      assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
      await site.waitStored('/auth/public', alice)
      const a2 = await site.get('/auth/public', { headers: alice })
      assert.match(cs(a2) ?? '', /^cachet; hit; /)
      assert.is(a2.body, 'public 1 for Bearer alice')
      const b = await site.get('/auth/public', { headers: bob })
      assert.is(cs(b), 'cachet; fwd=uri-miss; stored')
      assert.is(b.body, 'public 2 for Bearer bob')
    },
  )

  s('a GET with a body (Content-Length > 0 or Transfer-Encoding): fwd=bypass; detail=body', async () => {
    const site = await start()
    site.origin.route('/search', async (ctx, n) => {
      let body = ''
      for await (const c of ctx.req) body += String(c)
      ctx.body = `search ${n} body=${body}`
    })
    const a = await site.get('/search', { body: 'q=poison' })
    assert.is(cs(a), 'cachet; fwd=bypass; detail=body')
    assert.is(a.body, 'search 1 body=q=poison')
    const chunked = await site.get('/search', {
      headers: { 'transfer-encoding': 'chunked' },
      body: 'q=chunked',
    })
    assert.is(cs(chunked), 'cachet; fwd=bypass; detail=body')
    assert.is(chunked.body, 'search 2 body=q=chunked')
    const clean = await site.get('/search')
    assert.is(cs(clean), 'cachet; fwd=uri-miss; stored')
    assert.is(clean.body, 'search 3 body=')
    // an empty body (Content-Length: 0) is no body
    await site.waitStored('/search')
    const zero = await site.get('/search', { headers: { 'content-length': '0' } })
    assert.match(cs(zero) ?? '', /^cachet; hit; /)
    assert.is(zero.body, 'search 3 body=')
  })

  s('a stream that fails midway: the client sees an aborted response; nothing is stored', async () => {
    const site = await start()
    site.origin.route('/flaky', (ctx, n) => {
      ctx.type = 'text/plain'
      if (n > 1) {
        ctx.body = `whole ${n}`
        return
      }
      ctx.body = new Readable({
        read() {
          if (this.readableLength > 0) return
          this.push('first part, ')
          setImmediate(() => this.destroy(new Error('disk gone')))
        },
      })
    })
    const a = await site.get('/flaky', { allowIncomplete: true })
    assert.is(a.status, 200)
    assert.is(a.complete, false, 'the truncated response must not look complete')
    assert.ok(a.body.startsWith('first part'), a.body)
    // the next request reaches the origin: the broken response was not stored
    const b = await site.get('/flaky')
    assert.is(cs(b), 'cachet; fwd=uri-miss; stored')
    assert.is(b.body, 'whole 2')
    assert.is(site.origin.calls('/flaky'), 2)
    assert.is(site.cache.metrics().stores, 1)
  })

  s('a stream shorter than its Content-Length is incomplete (RFC 9111 §3.3): never stored', async () => {
    const site = await start()
    site.origin.route('/short', (ctx, n) => {
      ctx.type = 'text/plain'
      if (n > 1) {
        ctx.body = `whole ${n}`
        return
      }
      ctx.length = 100
      ctx.body = Readable.from(['only forty bytes of the hundred promised'])
    })
    const a = await site.get('/short', { allowIncomplete: true })
    assert.is(a.complete, false, 'the client saw a truncated response')
    assert.is(a.body, 'only forty bytes of the hundred promised')
    // the next request must reach the origin, not replay the truncated body as a complete one
    const b = await site.get('/short')
    assert.is(b.body, 'whole 2')
    assert.is(cs(b), 'cachet; fwd=uri-miss; stored')
  })

  s('a stream over maxBodySize reaches the client whole and is not stored', async () => {
    const site = await start()
    const chunk = 'x'.repeat(700)
    site.origin.route('/small/stream', (ctx, n) => {
      ctx.type = 'text/plain'
      ctx.body = Readable.from([`#${n}`, chunk, chunk, chunk])
    })
    site.origin.route('/small/sized', (ctx, n) => {
      ctx.type = 'text/plain'
      ctx.length = 2100 + String(n).length + 1
      ctx.body = Readable.from([`#${n}`, chunk, chunk, chunk])
    })
    for (const path of ['/small/stream', '/small/sized']) {
      for (let i = 1; i <= 2; i++) {
        const r = await site.get(path)
        assert.is(r.status, 200)
        assert.is(r.body, `#${i}${chunk}${chunk}${chunk}`, `${path} whole body`)
        assert.is(cs(r), 'cachet; fwd=uri-miss')
      }
    }
    assert.is(site.cache.metrics().stores, 0)
  })

  s('string bodies: over maxBodySize passes through unstored; exactly maxBodySize is stored', async () => {
    const site = await start()
    await neverStored(
      site,
      '/small/over',
      (ctx) => {
        ctx.body = 'y'.repeat(1025)
      },
      { status: 200, body: 'y'.repeat(1025) },
    )
    site.origin.route('/small/exact', (ctx) => {
      ctx.body = 'z'.repeat(1024)
    })
    const a = await site.get('/small/exact')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/small/exact')
    const b = await site.get('/small/exact')
    assert.match(cs(b) ?? '', /^cachet; hit; /)
    assert.is(b.body, 'z'.repeat(1024))
  })

  s('a stream that completes is stored and replayed whole', async () => {
    const site = await start()
    const parts = Array.from({ length: 50 }, (_, i) => `chunk-${i};`)
    site.origin.route('/stream/ok', (ctx, n) => {
      ctx.type = 'text/csv'
      ctx.body = Readable.from([`#${n}`, ...parts])
    })
    const a = await site.get('/stream/ok')
    assert.is(a.body, `#1${parts.join('')}`)
    assert.is(cs(a), 'cachet; fwd=uri-miss')
    await site.waitStored('/stream/ok')
    const b = await site.get('/stream/ok')
    assert.match(cs(b) ?? '', /^cachet; hit; /)
    assert.is(b.body, a.body)
    assert.is(b.headers['content-type'], 'text/csv; charset=utf-8')
    assert.is(site.origin.calls('/stream/ok'), 1)
  })

  s('POST is never served from the cache', async () => {
    const site = await start()
    const a = await site.get('/page')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/page')
    const p = await request(`${site.url}/page`, { method: 'POST', body: 'x=1' })
    assert.is(p.body, '#2 POST /page cookie=')
    assert.is(cs(p), undefined, 'the rule lists GET and HEAD only: no rule matches a POST')
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
