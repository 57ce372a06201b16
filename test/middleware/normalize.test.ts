/**
 * `key.normalize` (issue 8, item 8): Accept-Language / Accept-Encoding / Accept rewritten to the
 * listed value the client prefers, before keying and before the application sees the request, so
 * that `fr-CH, fr;q=0.9` and `fr` share one variant of a `Vary: Accept-Language` response, and the
 * origin never answers a value the key did not see. Without it, every distinct header value is a
 * variant of its own (and Vary values are still compared after RFC 9111 §4.1 normalisation).
 */
import * as assert from 'uvu/assert'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 5m
      key:
        normalize:
          accept-language: [en, fr, de]
          accept-encoding: [br, gzip]
    - id: api
      match: /api/**
      ttl: 5m
      key:
        headers: [accept]
        normalize:
          accept: [application/json, text/html]
    - id: plain
      match: /plain/**
      ttl: 5m
`)

/** What the application saw, per call. */
const seen: { lang?: string; enc?: string; accept?: string }[] = []

function app(site: Site): void {
  seen.length = 0
  site.origin.route(/.*/, (ctx, n) => {
    seen.push({
      lang: ctx.get('accept-language'),
      enc: ctx.get('accept-encoding'),
      accept: ctx.get('accept'),
    })
    ctx.set('Vary', 'Accept-Language')
    ctx.body = `page #${n} in ${ctx.get('accept-language') || 'none'}`
  })
}

onBothStores('middleware: key.normalize', POLICY, app, (s, start) => {
  s('fr-CH, fr;q=0.9 and fr share one variant; the application sees fr', async () => {
    const site = await start()
    const a = await site.get('/pages/a', { headers: { 'accept-language': 'fr-CH, fr;q=0.9, en;q=0.8' } })
    assert.is(a.body, 'page #1 in fr')
    await site.waitStored('/pages/a', { 'accept-language': 'fr' })
    const b = await site.get('/pages/a', { headers: { 'accept-language': 'fr' } })
    assert.is(b.body, 'page #1 in fr')
    assert.match(cs(b) ?? '', /^cachet; hit/)
    const c = await site.get('/pages/a', { headers: { 'accept-language': 'FR-be' } })
    assert.is(c.body, 'page #1 in fr')
    assert.is(site.origin.calls('/pages/a'), 1)
    assert.equal(seen[0], { lang: 'fr', enc: '', accept: '' })
  })

  s('a language none of the listed: the first listed (en); none sent: en too', async () => {
    const site = await start()
    const a = await site.get('/pages/b', { headers: { 'accept-language': 'ja' } })
    assert.is(a.body, 'page #1 in en')
    await site.waitStored('/pages/b', { 'accept-language': 'en' })
    const b = await site.get('/pages/b')
    assert.is(b.body, 'page #1 in en')
    assert.match(cs(b) ?? '', /^cachet; hit/)
    const c = await site.get('/pages/b', { headers: { 'accept-language': 'de' } })
    assert.is(c.body, 'page #2 in de')
  })

  s(
    'Accept-Encoding: the listed coding the client prefers; none acceptable: the header removed',
    async () => {
      const site = await start()
      await site.get('/pages/e', { headers: { 'accept-encoding': 'gzip, deflate, br' } })
      await site.get('/pages/f', { headers: { 'accept-encoding': 'deflate' } })
      assert.is(seen[0]!.enc, 'br')
      assert.is(seen[1]!.enc, '', 'identity: no Accept-Encoding reaches the application')
    },
  )

  s('key.headers sees the normalised Accept: browsers and curl share the html or json entry', async () => {
    const site = await start()
    const html = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
    await site.get('/api/x', { headers: { accept: html } })
    await site.waitStored('/api/x', { accept: 'text/html' })
    const b = await site.get('/api/x', { headers: { accept: 'text/html' } })
    assert.match(cs(b) ?? '', /^cachet; hit/)
    const c = await site.get('/api/x', { headers: { accept: '*/*' } })
    assert.is(c.body, 'page #2 in none', 'curl (*/*) gets the first listed: json, an entry of its own')
    assert.equal(
      seen.map((x) => x.accept),
      ['text/html', 'application/json'],
    )
    assert.is(site.key('/api/x', { accept: html }), site.key('/api/x', { accept: 'text/html' }))
  })

  s(
    'without key.normalize: each distinct value a variant of its own, compared after §4.1 normalisation',
    async () => {
      const site = await start()
      await site.get('/plain/a', { headers: { 'accept-language': 'fr-CH, fr;q=0.9' } })
      await site.waitStored('/plain/a', { 'accept-language': 'fr-CH, fr;q=0.9' })
      const same = await site.get('/plain/a', { headers: { 'accept-language': 'FR-ch ,fr ; q=0.9' } })
      assert.match(cs(same) ?? '', /^cachet; hit/, 'whitespace and case normalised')
      const other = await site.get('/plain/a', { headers: { 'accept-language': 'fr' } })
      assert.is(other.body, 'page #2 in fr')
      assert.equal(seen[0]!.lang, 'fr-CH, fr;q=0.9', 'the application sees the header as sent')
    },
  )

  s('explain says what key.normalize rewrites', async () => {
    const site = await start()
    const x = site.cache.explain({
      method: 'GET',
      url: '/pages/z',
      headers: { host: site.host, 'accept-language': 'fr-CH' },
    })
    assert.ok(
      x.reasons.some((r) => r.includes('key.normalize rewrites accept-language: "fr-CH" → "fr"')),
      x.reasons.join('\n'),
    )
  })
})
