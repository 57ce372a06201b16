/**
 * Bounds on what a rule may add to the store (issue 8, item 8; T12): `maxVariants` per URL and
 * `maxEntriesPerMinute` per rule. Beyond them the response is served, not stored, said in
 * Cache-Status and counted.
 */
import * as assert from 'uvu/assert'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: varied
      match: /varied/**
      ttl: 5m
      maxVariants: 2
    - id: search
      match: /search
      ttl: 5m
      key:
        query: all
      maxEntriesPerMinute: 3
    - id: open
      match: /open/**
      ttl: 5m
`)

function app(site: Site): void {
  site.origin.route(/.*/, (ctx, n) => {
    ctx.set('Vary', 'X-Variant')
    ctx.body = `#${n} ${ctx.get('x-variant')}`
  })
}

onBothStores('middleware: maxVariants and maxEntriesPerMinute', POLICY, app, (s, start) => {
  s('maxVariants: 2: the third variant of a URL is served, not stored (detail=variant-cap)', async () => {
    const site = await start()
    for (const v of ['a', 'b']) {
      await site.get('/varied/x', { headers: { 'x-variant': v } })
      await site.waitStored('/varied/x', { 'x-variant': v })
    }
    const c = await site.get('/varied/x', { headers: { 'x-variant': 'c' } })
    assert.is(c.body, '#3 c')
    assert.is(cs(c), 'cachet; fwd=vary-miss; detail=variant-cap')
    const again = await site.get('/varied/x', { headers: { 'x-variant': 'c' } })
    assert.is(again.body, '#4 c', 'never stored')
    for (const v of ['a', 'b']) {
      const r = await site.get('/varied/x', { headers: { 'x-variant': v } })
      assert.match(cs(r) ?? '', /^cachet; hit/, `variant ${v} still a hit`)
    }
    // another URL has variants of its own
    const other = await site.get('/varied/y', { headers: { 'x-variant': 'c' } })
    assert.is(cs(other), 'cachet; fwd=uri-miss; stored')
    const rule = site.cache.stats().rules.find((r) => r.id === 'varied')!
    assert.is(rule.notStored['variant-cap'], 2)
  })

  s(
    'maxEntriesPerMinute: 3: random query parameters cannot flood the store (detail=entry-rate)',
    async () => {
      const site = await start()
      const got: string[] = []
      for (let i = 0; i < 6; i++) got.push(cs(await site.get(`/search?r=${i}`)) ?? '')
      assert.equal(got, [
        'cachet; fwd=uri-miss; stored',
        'cachet; fwd=uri-miss; stored',
        'cachet; fwd=uri-miss; stored',
        'cachet; fwd=uri-miss; detail=entry-rate',
        'cachet; fwd=uri-miss; detail=entry-rate',
        'cachet; fwd=uri-miss; detail=entry-rate',
      ])
      await site.waitStored('/search?r=2')
      assert.match(cs(await site.get('/search?r=0')) ?? '', /^cachet; hit/, 'what was stored is still served')
      assert.is(await site.isStored('/search?r=4'), false)
      const rule = site.cache.stats().rules.find((r) => r.id === 'search')!
      assert.is(rule.notStored['entry-rate'], 3)
    },
  )

  s('the default bounds (64 variants, no rate) leave ordinary traffic alone', async () => {
    const site = await start()
    for (let i = 0; i < 10; i++) {
      const r = await site.get('/open/x', { headers: { 'x-variant': `v${i}` } })
      assert.is(cs(r), `cachet; fwd=${i === 0 ? 'uri' : 'vary'}-miss; stored`)
    }
  })
})
