/**
 * Hit and miss end to end, on the embedded memory store and on a real redis-server: real HTTP
 * requests to a listening Koa app, a counting origin behind the cache (the README "Response headers",
 * docs/policy-format.md "Which rule applies"; docs/threats.md T27, T30, T32).
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreOption } from '../../src/options.js'
import { cs, hitTtl, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: nocache
      match: /private/**
      cache: false
    - id: pages
      match: /**
      host: "127.0.0.1"
      ttl: 1m
`)

/** the headers a hit must replay byte for byte */
const REPLAYED = ['content-type', 'content-length', 'etag', 'x-custom', 'x-origin-call']

function storeSuite(
  label: string,
  store: () => StoreOption,
  setup?: { before(): Promise<void>; after(): Promise<void> },
) {
  const s = suite(`hit/miss (${label})`)
  const sites = siteTracker()
  const dir = policyDir(POLICY)
  const start = () => sites.start({ policies: dir, store: store() })
  if (setup) {
    s.before(setup.before)
    s.after(setup.after)
  }
  s.after.each(sites.closeAll)

  s('first GET is a stored miss; the second is a hit with the same status, headers and body', async () => {
    const site = await start()
    const a = await site.get('/page')
    assert.is(a.status, 200)
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    // RFC 9211 lets the miss state the lifetime it was stored for: the rule's 60 s, if at all
    assert.ok(
      ['cachet; fwd=uri-miss; stored', 'cachet; fwd=uri-miss; ttl=60; stored'].includes(
        a.headers['cache-status']!,
      ),
      a.headers['cache-status'],
    )
    assert.is(a.body, '#1 GET /page cookie=')
    assert.is(a.headers.age, undefined)
    assert.is(site.origin.calls('/page'), 1)

    await site.waitStored('/page')
    const b = await site.get('/page')
    assert.is(b.status, 200)
    assert.match(cs(b) ?? '', /^cachet; hit; ttl=\d+$/)
    const ttl = hitTtl(b)
    assert.ok(ttl > 0 && ttl <= 60, `0 < ttl <= 60, got ${ttl}`)
    assert.match(b.headers.age ?? '', /^\d+$/)
    assert.ok(Number(b.headers.age) <= 60)
    assert.ok(b.bytes.equals(a.bytes), 'identical body')
    for (const h of REPLAYED) assert.is(b.headers[h], a.headers[h], h)
    assert.is(site.origin.calls('/page'), 1)

    const c = await site.get('/page')
    assert.is(c.body, '#1 GET /page cookie=')
    assert.is(site.origin.calls('/page'), 1)
    assert.is(site.cache.metrics().hits, 2)
  })

  s('HEAD after GET is answered from the GET entry: same headers, no body', async () => {
    const site = await start()
    const a = await site.get('/head-after')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/head-after')
    const h = await site.get('/head-after', { method: 'HEAD' })
    assert.is(h.status, 200)
    assert.match(cs(h) ?? '', /^cachet; hit; ttl=\d+$/)
    assert.is(h.body, '')
    for (const name of REPLAYED) assert.is(h.headers[name], a.headers[name], name)
    assert.ok(h.headers.age !== undefined)
    assert.is(site.origin.calls('/head-after'), 1)
  })

  s('HEAD first never creates the GET entry: the next GET is a miss', async () => {
    const site = await start()
    const h = await site.get('/head-first', { method: 'HEAD' })
    assert.is(h.status, 200)
    assert.is(cs(h), 'cachet; fwd=uri-miss')
    assert.is(h.body, '')
    assert.is(site.origin.calls('/head-first'), 1)
    const g = await site.get('/head-first')
    assert.is(cs(g), 'cachet; fwd=uri-miss; stored')
    assert.is(g.body, '#2 GET /head-first cookie=')
    assert.is(site.origin.calls('/head-first'), 2)
  })

  s('a request no rule matches has no Cache-Status and is never cached', async () => {
    const site = await start()
    // the rule is for host 127.0.0.1 only: another Host matches no rule
    const opts = { headers: { host: 'elsewhere.test' } }
    const a = await site.get('/page', opts)
    const b = await site.get('/page', opts)
    assert.is(cs(a), undefined)
    assert.is(cs(b), undefined)
    assert.is(a.body, '#1 GET /page cookie=')
    assert.is(b.body, '#2 GET /page cookie=')
    assert.is(site.origin.calls('/page'), 2)
    assert.is(site.key('/page', { host: 'elsewhere.test' }), null)
    assert.is(
      site.cache.explain({ method: 'GET', url: '/page', headers: { host: 'elsewhere.test' } }).decision,
      'pass',
    )
  })

  s('cache: false bypasses: fwd=bypass; detail=rule, origin called every time', async () => {
    const site = await start()
    for (let i = 1; i <= 3; i++) {
      const r = await site.get('/private/x')
      assert.is(cs(r), 'cachet; fwd=bypass; detail=rule')
      assert.is(r.body, `#${i} GET /private/x cookie=`)
    }
    assert.is(site.origin.calls('/private/x'), 3)
  })

  s(
    'a successful POST invalidates the stored GET of its URL; a failed one does not (RFC 9111 §4.4)',
    async () => {
      const site = await start()
      site.origin.route('/inv', (ctx, n) => {
        if (ctx.method === 'POST') {
          ctx.status = ctx.get('x-fail') ? 409 : 201
          ctx.body = 'posted'
          return
        }
        ctx.body = `inv ${n}`
      })
      await site.get('/inv')
      await site.waitStored('/inv')
      const failed = await site.get('/inv', { method: 'POST', body: 'x', headers: { 'x-fail': '1' } })
      assert.is(failed.status, 409)
      assert.match(cs(await site.get('/inv')) ?? '', /^cachet; hit; /, 'a 4xx POST invalidates nothing')
      // explain promises it: "a 2xx/3xx answer invalidates the URL"
      const posted = await site.get('/inv', { method: 'POST', body: 'x' })
      assert.is(posted.status, 201)
      // the invalidation is recorded before the POST's response ends: the next GET is a miss
      const after = await site.get('/inv')
      assert.is(cs(after), 'cachet; fwd=uri-miss; stored', 'the POST invalidated the stored GET')
      assert.is(after.body, 'inv 4')
    },
  )

  s('hop-by-hop headers (Connection and the fields it names, Keep-Alive) are not replayed', async () => {
    const site = await start()
    site.origin.route('/hop', (ctx) => {
      ctx.set('Connection', 'X-Hop')
      ctx.set('X-Hop', 'per-connection')
      ctx.set('Keep-Alive', 'timeout=5')
      ctx.set('X-End-To-End', 'kept')
      ctx.body = 'hop'
    })
    const a = await site.get('/hop')
    assert.is(a.headers['x-hop'], 'per-connection')
    await site.waitStored('/hop')
    const b = await site.get('/hop')
    assert.match(cs(b) ?? '', /^cachet; hit; /)
    assert.is(b.headers['x-hop'], undefined)
    assert.is(b.headers['keep-alive'], undefined)
    assert.is(b.headers['x-end-to-end'], 'kept')
    assert.is(b.body, 'hop')
  })

  s('string, Buffer, JSON and stream bodies round-trip on hits', async () => {
    const site = await start()
    const binary = randomBytes(3000)
    site.origin
      .route('/string', (ctx, n) => {
        ctx.body = `<p>string ${n} é</p>`
      })
      .route('/buffer', (ctx) => {
        ctx.set('Content-Type', 'application/octet-stream')
        ctx.body = binary
      })
      .route('/json', (ctx, n) => {
        ctx.body = { n, list: [1, 'two', null], nested: { ok: true } }
      })
      .route('/stream', (ctx, n) => {
        ctx.type = 'text/plain'
        ctx.body = Readable.from([`stream ${n} `, 'part two ', Buffer.from('part three')])
      })
    const expected: Record<string, { type: string; body: Buffer }> = {
      '/string': { type: 'text/html; charset=utf-8', body: Buffer.from('<p>string 1 é</p>') },
      '/buffer': { type: 'application/octet-stream', body: binary },
      '/json': {
        type: 'application/json; charset=utf-8',
        body: Buffer.from(JSON.stringify({ n: 1, list: [1, 'two', null], nested: { ok: true } })),
      },
      '/stream': { type: 'text/plain; charset=utf-8', body: Buffer.from('stream 1 part two part three') },
    }
    for (const [path, want] of Object.entries(expected)) {
      const a = await site.get(path)
      assert.is(a.status, 200, path)
      assert.is(a.headers['content-type'], want.type, path)
      assert.ok(a.bytes.equals(want.body), `${path} miss body`)
      // a stream is stored only once it has ended: its miss cannot say "stored" yet
      assert.is(cs(a), path === '/stream' ? 'cachet; fwd=uri-miss' : 'cachet; fwd=uri-miss; stored', path)
      await site.waitStored(path)
      const b = await site.get(path)
      assert.match(cs(b) ?? '', /^cachet; hit; ttl=\d+$/, path)
      assert.is(b.headers['content-type'], want.type, path)
      assert.is(b.headers['content-length'], String(want.body.length), path)
      assert.ok(b.bytes.equals(want.body), `${path} hit body`)
      assert.is(site.origin.calls(path), 1, path)
    }
  })

  s('redirects, 404 and 204 (default statuses) are stored and replayed with their status', async () => {
    const site = await start()
    site.origin
      .route('/moved', (ctx) => {
        ctx.status = 301
        ctx.redirect('/new-home')
      })
      .route('/gone-missing', (ctx) => {
        ctx.status = 404
        ctx.body = 'no such page'
      })
      .route('/empty', (ctx) => {
        ctx.status = 204
        ctx.set('X-Empty', 'yes')
      })
    for (const [path, status, body] of [
      ['/moved', 301, 'Redirecting to /new-home.'],
      ['/gone-missing', 404, 'no such page'],
      ['/empty', 204, ''],
    ] as const) {
      const a = await site.get(path)
      assert.is(a.status, status, path)
      assert.is(cs(a), 'cachet; fwd=uri-miss; stored', path)
      await site.waitStored(path)
      const b = await site.get(path)
      assert.is(b.status, status, path)
      assert.match(cs(b) ?? '', /^cachet; hit; ttl=\d+$/, path)
      assert.is(b.body, body, path)
      assert.is(b.body, a.body, path)
      assert.is(site.origin.calls(path), 1, path)
    }
    const again = await site.get('/moved')
    assert.is(again.headers.location, '/new-home')
    assert.is((await site.get('/empty')).headers['x-empty'], 'yes')
  })

  s('conditional: a hit answers If-None-Match / If-Modified-Since with 304 (ctx.fresh)', async () => {
    const site = await start()
    const lastModified = 'Tue, 01 Sep 2026 10:00:00 GMT'
    site.origin.route('/cond', (ctx, n) => {
      ctx.set('ETag', '"v1"')
      ctx.set('Last-Modified', lastModified)
      ctx.set('X-Seen-INM', ctx.get('if-none-match') || 'none')
      ctx.body = `conditional ${n}`
    })
    // a miss carrying a matching validator: the application is asked for the full response
    // (it must not see the validator), the client gets 304, the full response is stored
    const a = await site.get('/cond', { headers: { 'if-none-match': '"v1"' } })
    assert.is(a.status, 304)
    assert.is(a.body, '')
    assert.is(a.headers['x-seen-inm'], 'none')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/cond')
    const full = await site.get('/cond')
    assert.is(full.status, 200)
    assert.is(full.body, 'conditional 1')
    assert.match(cs(full) ?? '', /^cachet; hit; /)

    const inm = await site.get('/cond', { headers: { 'if-none-match': '"v1"' } })
    assert.is(inm.status, 304)
    assert.is(inm.body, '')
    assert.is(inm.headers.etag, '"v1"')
    assert.match(cs(inm) ?? '', /^cachet; hit; ttl=\d+$/)
    const weak = await site.get('/cond', { headers: { 'if-none-match': 'W/"v1"' } })
    assert.is(weak.status, 304, 'weak comparison for If-None-Match')
    const other = await site.get('/cond', { headers: { 'if-none-match': '"v2"' } })
    assert.is(other.status, 200)
    assert.is(other.body, 'conditional 1')
    const ims = await site.get('/cond', { headers: { 'if-modified-since': lastModified } })
    assert.is(ims.status, 304)
    const older = await site.get('/cond', {
      headers: { 'if-modified-since': 'Mon, 31 Aug 2026 10:00:00 GMT' },
    })
    assert.is(older.status, 200)
    assert.is(older.body, 'conditional 1')
    assert.is(site.origin.calls('/cond'), 1)
  })

  s('Vary: Accept-Encoding: a variant is served only to the same Accept-Encoding', async () => {
    const site = await start()
    site.origin.route('/varied', (ctx, n) => {
      ctx.set('Vary', 'Accept-Encoding')
      ctx.body = `variant for ${ctx.get('accept-encoding') || 'none'} #${n}`
    })
    const gzip = { headers: { 'accept-encoding': 'gzip' } }
    const br = { headers: { 'accept-encoding': 'br' } }
    const a = await site.get('/varied', gzip)
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/varied')
    const b = await site.get('/varied', gzip)
    assert.match(cs(b) ?? '', /^cachet; hit; /)
    assert.is(b.body, 'variant for gzip #1')
    assert.is(b.headers.vary, 'Accept-Encoding')
    const c = await site.get('/varied', br)
    assert.is(cs(c), 'cachet; fwd=vary-miss; stored')
    assert.is(c.body, 'variant for br #2')
    const d = await site.get('/varied')
    assert.ok(
      !d.body.includes('br') && !d.body.includes('gzip'),
      `no other variant served to a request without Accept-Encoding: ${d.body}`,
    )
    assert.is(cs(d), 'cachet; fwd=vary-miss; stored')
    assert.is(site.origin.calls('/varied'), 3)
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
