/**
 * `staleIfUnreachable` (issue 8, item 7; RFC 9111 §4.2.4: a disconnected cache may serve stale):
 * when what the middleware wraps throws an error that says the origin could not be reached
 * (ECONNREFUSED, ECONNRESET, a DNS failure, fetch's `TypeError: fetch failed` with such a cause),
 * an expired entry within the window is served instead of the error. An error the application
 * throws itself, or a 5xx it answers, is not a disconnection: that is `staleIfError`'s business.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import * as assert from 'uvu/assert'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 1s
      origin: override
      staleIfUnreachable: 1h
    - id: strict
      match: /strict/**
      ttl: 1s
      origin: respect
      staleIfUnreachable: 1h
    - id: plain
      match: /plain/**
      ttl: 1s
      origin: override
`)

/** How the next origin call fails; `ok` answers normally. */
let mode: 'ok' | 'refused' | 'fetch-failed' | 'reset' | 'thrown' | 'dns' | '503' = 'ok'

function app(site: Site): void {
  mode = 'ok'
  site.origin.route(/.*/, (ctx, n) => {
    const err = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code })
    switch (mode) {
      case 'refused':
        throw err('ECONNREFUSED')
      case 'reset':
        throw err('ECONNRESET')
      case 'dns':
        throw err('ENOTFOUND')
      case 'fetch-failed':
        throw new TypeError('fetch failed', { cause: err('ECONNREFUSED') })
      case 'thrown':
        throw new Error('the application failed')
      case '503':
        ctx.status = 503
        ctx.body = 'unavailable'
        return
    }
    if (ctx.path.startsWith('/strict/')) {
      // a validator keeps it stored past expiry, to be revalidated: stale, but never served so
      ctx.set('Cache-Control', 'max-age=1, must-revalidate')
      ctx.set('ETag', '"s"')
    }
    ctx.body = `page #${n}`
  })
}

/** Stored by a first request, then expired. */
async function expired(site: Site, path: string): Promise<void> {
  assert.is((await site.get(path)).body, 'page #1')
  await site.waitStored(path)
  await sleep(1100)
}

onBothStores('middleware: staleIfUnreachable (RFC 9111 §4.2.4)', POLICY, app, (s, start) => {
  for (const [how, m, status] of [
    ['connection refused', 'refused', 500],
    ['connection reset', 'reset', 500],
    ['DNS failure', 'dns', 500],
    ['fetch failed (the cause chain)', 'fetch-failed', 500],
  ] as const) {
    s(`${how}: the expired entry is served, fwd=stale; detail=origin-unreachable`, async () => {
      const site = await start()
      await expired(site, '/pages/a')
      mode = m
      const r = await site.get('/pages/a')
      assert.is(r.status, 200)
      assert.is(r.body, 'page #1')
      assert.is(cs(r), `cachet; fwd=stale; fwd-status=${status}; detail=origin-unreachable`)
      assert.is(site.origin.calls('/pages/a'), 2)
      assert.is(site.appErrors.length, 1, 'the error is still reported')
    })
  }

  s('an error the application throws is not a disconnection: it reaches the client', async () => {
    const site = await start()
    await expired(site, '/pages/b')
    mode = 'thrown'
    const r = await site.get('/pages/b')
    assert.is(r.status, 500)
  })

  s('a 5xx the application answers is not a disconnection: it reaches the client', async () => {
    const site = await start()
    await expired(site, '/pages/c')
    mode = '503'
    const r = await site.get('/pages/c')
    assert.is(r.status, 503)
    assert.is(r.body, 'unavailable')
  })

  s('must-revalidate forbids it: the error reaches the client', async () => {
    const site = await start()
    await expired(site, '/strict/a')
    assert.ok(await site.isStored('/strict/a'), 'still stored, expired')
    mode = 'refused'
    const r = await site.get('/strict/a')
    assert.is(r.status, 500)
  })

  s('a rule without the field: the error reaches the client', async () => {
    const site = await start()
    await expired(site, '/plain/a')
    mode = 'refused'
    const r = await site.get('/plain/a')
    assert.is(r.status, 500)
  })

  s('explain reports the window', async () => {
    const site = await start()
    const x = site.cache.explain({
      method: 'GET',
      url: '/pages/x',
      headers: { host: site.host },
      response: { status: 200, headers: {} },
    })
    assert.is(x.storage?.staleIfUnreachable, 3600)
  })
})
