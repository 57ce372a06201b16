import * as assert from 'uvu/assert'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 0
    - id: edge-only
      match: /edge/**
      ttl: 0
      targeted: [cdn-cache-control]
`)

function app(site: Site): void {
  site.origin.route(/.*/, (ctx, n) => {
    ctx.set('Cache-Control', 'private, no-cache')
    ctx.set('Cachet-Cache-Control', 'max-age=120')
    ctx.body = `page #${n}`
  })
}

onBothStores('middleware: targeted cache control', POLICY, app, (s, start) => {
  s(
    'Cachet-Cache-Control governs the entry; browsers get Cache-Control; the field is never sent',
    async () => {
      const site = await start()
      const a = await site.get('/pages/a')
      assert.is(a.headers['cache-control'], 'private, no-cache')
      assert.is(a.headers['cachet-cache-control'], undefined)
      await site.waitStored('/pages/a')
      const b = await site.get('/pages/a')
      const ttl = Number(/^cachet; hit; ttl=(\d+)$/.exec(cs(b) ?? '')?.[1])
      assert.ok(ttl > 60 && ttl <= 120, `the lifetime of Cachet-Cache-Control (120 s), not 0: ${cs(b)}`)
      assert.is(b.body, 'page #1')
      assert.is(b.headers['cache-control'], 'private, no-cache')
      assert.is(b.headers['cachet-cache-control'], undefined)
      assert.is(site.origin.calls('/pages/a'), 1)
    },
  )

  s('not sent on a bypass, an unsafe method, nor a request no rule matched', async () => {
    const site = await start()
    const bypass = await site.get('/pages/b', { headers: { cookie: 'session=1' } })
    assert.is(cs(bypass), 'cachet; fwd=bypass; detail=cookie')
    assert.is(bypass.headers['cachet-cache-control'], undefined)
    const post = await site.get('/pages/b', { method: 'POST' })
    assert.is(post.headers['cachet-cache-control'], undefined)
    const unmatched = await site.get('/elsewhere')
    assert.is(cs(unmatched), undefined, 'no rule matched')
    assert.is(unmatched.headers['cachet-cache-control'], undefined)
  })

  s(
    'a rule that obeys only CDN-Cache-Control falls back to Cache-Control (private: not stored), and still drops the own field',
    async () => {
      const site = await start()
      const a = await site.get('/edge/a')
      assert.is(a.headers['cachet-cache-control'], undefined)
      assert.is(cs(a), 'cachet; fwd=uri-miss')
      assert.is((await site.get('/edge/a')).body, 'page #2')
      assert.not.ok(await site.isStored('/edge/a'))
    },
  )
})
