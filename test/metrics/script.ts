/**
 * The scripted sequence the metrics tests share: a policy of four rules, an origin with an answer
 * for each not-stored reason it exercises, the requests, and the exact counts they must leave.
 */
import * as assert from 'uvu/assert'
import type { RuleStats } from '../../src/metrics/stats.js'
import { eventually } from '../helpers/http.js'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'

export const POLICY = yaml(`
  version: 1
  rules:
    - id: nocache
      match: /private/**
      cache: false
    - id: writes
      match: /pages/**
      methods: [POST]
    - id: pages
      match: /pages/**
      ttl: 1m
    - id: big
      match: /big/**
      ttl: 1m
      maxBodySize: 10b
`)

/** The origin's answers for the scripted paths (the rest: the helper's echo). */
export function scriptOrigin(site: Site): void {
  site.origin
    .route('/pages/sc', (ctx) => {
      ctx.set('Set-Cookie', 'session=1')
      ctx.body = 'with a cookie'
    })
    .route('/pages/err', (ctx) => {
      ctx.status = 500
      ctx.body = 'broken'
    })
    .route(/^\/big\//, (ctx) => {
      ctx.body = 'x'.repeat(100)
    })
}

export const zero = {
  hit: 0,
  stale: 0,
  miss: 0,
  revalidated: 0,
  collapsed: 0,
  'stale-if-error': 0,
  bypass: 0,
}

export function rule(site: Site, id: string): RuleStats {
  const r = site.cache.stats().rules.find((x) => x.id === id)
  if (r === undefined) throw new Error(`no rule ${id} in stats()`)
  return r
}

/**
 * The scripted sequence; resolves with the body length of /pages/a. Expected afterwards:
 * pages: 4 hits (GET, GET, HEAD, a 304), 3 misses, 1 cookie bypass, 1 stored, 2 bodies served;
 * big: 1 miss not stored (too-large); nocache: 1 rule bypass; writes: 1 method bypass; 1 unmatched.
 */
export async function script(site: Site): Promise<number> {
  const a = await site.get('/pages/a')
  assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
  await site.waitStored('/pages/a')
  await eventually(() => rule(site, 'pages').stored === 1, 'the store counted')
  assert.is(cs(await site.get('/pages/a')), cs(await site.get('/pages/a')))
  assert.match(cs(await site.get('/pages/a', { method: 'HEAD' })) ?? '', /^cachet; hit/)
  const nm = await site.get('/pages/a', { headers: { 'if-none-match': a.headers.etag! } })
  assert.is(nm.status, 304)
  assert.is(
    cs(await site.get('/pages/b', { headers: { cookie: 'who=me' } })),
    'cachet; fwd=bypass; detail=cookie',
  )
  assert.is(cs(await site.get('/pages/w', { method: 'POST', body: 'x' })), 'cachet; fwd=method')
  assert.is(cs(await site.get('/private/x')), 'cachet; fwd=bypass; detail=rule')
  assert.is(cs(await site.get('/elsewhere')), undefined)
  assert.is(cs(await site.get('/pages/sc')), 'cachet; fwd=uri-miss')
  assert.is((await site.get('/pages/err')).status, 500)
  assert.is(cs(await site.get('/big/x')), 'cachet; fwd=uri-miss')
  return a.bytes.length
}

export function checkScripted(site: Site, bodyLength: number): void {
  const st = site.cache.stats()
  const pages = rule(site, 'pages')
  assert.equal(pages.outcomes, { ...zero, hit: 4, miss: 3, bypass: 1 })
  assert.equal(pages.bypass, { cookie: 1 })
  assert.equal(pages.notStored, { 'set-cookie': 1, status: 1 })
  assert.is(pages.stored, 1)
  assert.is(pages.bytesServed, 2 * bodyLength, 'GET hits carry the body; HEAD and 304 carry none')
  const big = rule(site, 'big')
  assert.equal(big.outcomes, { ...zero, miss: 1 })
  assert.equal(big.notStored, { 'too-large': 1 })
  assert.is(big.stored, 0)
  assert.equal(rule(site, 'nocache').outcomes, { ...zero, bypass: 1 })
  assert.equal(rule(site, 'nocache').bypass, { rule: 1 })
  assert.equal(rule(site, 'writes').bypass, { method: 1 })
  assert.is(st.unmatched, 1)
  assert.is(st.store.read.count, 8, 'one store read per lookup: /pages/a ×5, sc, err, big')
  assert.is(st.store.read.buckets.at(-1)!.count, 8)
  assert.is(st.store.read.buckets.at(-1)!.le, null)
  assert.is(st.store.errors, 0)
  assert.is(st.store.timeouts, 0)
  assert.is(st.store.up, true)
  assert.equal(
    st.rules.map((r) => [r.id, r.line]),
    [
      ['nocache', 3],
      ['writes', 6],
      ['pages', 9],
      ['big', 12],
    ],
  )
  // the global counters agree
  const m = site.cache.metrics()
  assert.is(m.hits, 4)
  assert.is(m.bypass, 2)
  assert.is(m.method, 1)
  assert.is(m.stores, 1)
  assert.is(m.notStored, 3)
}
