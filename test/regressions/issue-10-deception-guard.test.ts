/**
 * Issue 10, item 2: the cache-deception guard. Under a policy that caches everything (`/**`),
 * `/account/x.css` reaches an application that ignores the tail and answers the account page as
 * text/html; without the guard the page was stored and replayed to the next visitor of that URL.
 * Now a response is not stored when the path ends in a static-looking extension and its
 * Content-Type does not match it (`Cache-Status: …; detail=content-type`); a real stylesheet is
 * still stored. On both stores. (A Cookie or Authorization already makes such a request bypass
 * unless the rule keys it; the guard covers the credentials a key cannot see.)
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { deceptionMismatch } from '../../src/http/deception.js'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: everything
      match: /**
      ttl: 1m
`)

/** the application: every path is the signed-in account page, except the real assets */
function account(site: Site): void {
  site.origin.route(/^\/static\/app\.(css|js)$/, (ctx, n) => {
    ctx.type = ctx.path.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript'
    ctx.body = `asset #${n}`
  })
  site.origin.route(/.*/, (ctx, n) => {
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = `<h1>account of the requester #${n}</h1>`
  })
}

const unit = suite('deceptionMismatch')
unit('static-looking extensions need their own content types; other paths are left alone', () => {
  assert.ok(deceptionMismatch('/account/x.css', 'text/html; charset=utf-8'))
  assert.ok(deceptionMismatch('/account/x.CSS', 'text/html'))
  assert.ok(deceptionMismatch('/account/x.png', undefined), 'no Content-Type on a static path')
  assert.ok(deceptionMismatch('/account/x%2Ecss', 'text/html'), 'the extension is read decoded')
  assert.ok(deceptionMismatch('/account/x.css/', 'text/html'), 'one trailing slash')
  assert.not.ok(deceptionMismatch('/static/app.css', 'text/css; charset=utf-8'))
  assert.not.ok(deceptionMismatch('/static/app.js', 'application/javascript'))
  assert.not.ok(deceptionMismatch('/img/a.JPG', 'image/jpeg'))
  assert.not.ok(deceptionMismatch('/account', 'text/html'))
  assert.not.ok(deceptionMismatch('/account/settings', 'text/html'))
  assert.not.ok(deceptionMismatch('/a/.css', 'text/html'), 'a dot file has no extension')
  assert.not.ok(deceptionMismatch('/api/report.v2', 'application/json'), 'unknown extensions pass')
})
unit.run()

onBothStores('regression: deception guard', POLICY, account, (s, start) => {
  for (const path of ['/account/x.css', '/account/settings/logo.png', '/account/app.js', '/account/x.css/']) {
    s(`${path} answered as text/html is never stored`, async () => {
      const site = await start()
      // credentials the key cannot see (a client certificate, a source address, an unkeyed
      // header): a Cookie or Authorization would already bypass
      const first = await site.get(path, { headers: { 'x-api-key': 'victim' } })
      assert.is(first.status, 200)
      assert.is(cs(first), 'cachet; fwd=uri-miss; detail=content-type')
      assert.not.ok(await site.isStored(path))
      const second = await site.get(path)
      assert.is(second.body, '<h1>account of the requester #2</h1>', 'the attacker gets their own page')
      assert.is(site.origin.calls(path), 2)
    })
  }

  s('forms with a delimiter or an encoded slash are not cached either (bypass detail=path)', async () => {
    const site = await start()
    for (const path of ['/account;.css', '/account%2Fx.css', '/account%3Bx.css']) {
      const r = await site.get(path)
      assert.is(r.status, 200, path)
      assert.is(cs(r), 'cachet; fwd=bypass; detail=path', path)
      assert.is((await site.get(path)).status, 200)
    }
  })

  s('a genuine stylesheet and script are still stored and served as hits', async () => {
    const site = await start()
    for (const path of ['/static/app.css', '/static/app.js']) {
      assert.is(cs(await site.get(path)), 'cachet; fwd=uri-miss; stored', path)
      await site.waitStored(path)
      const hit = await site.get(path)
      assert.match(cs(hit)!, /^cachet; hit; ttl=\d+$/)
      assert.is(hit.body, 'asset #1')
      assert.is(site.origin.calls(path), 1)
    }
  })
})
