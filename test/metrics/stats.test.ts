/**
 * cache.stats(): exact per-rule counts after a scripted sequence of real HTTP requests (hits,
 * misses, bypasses by reason, answers not stored by reason, unmatched requests), on the memory
 * store and on a real redis-server; on Redis also a store outage (SIGSTOP, then SIGKILL), counted
 * as store-down bypasses, timeouts and unavailable reads.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { RuleStats } from '../../src/metrics/stats.js'
import type { StoreOption } from '../../src/options.js'
import { eventually } from '../helpers/http.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

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

const zero = { hit: 0, stale: 0, miss: 0, revalidated: 0, collapsed: 0, 'stale-if-error': 0, bypass: 0 }

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

function storeSuite(label: string, store: () => StoreOption, redis?: () => RedisProc) {
  const s = suite(`stats() (${label})`)
  const sites = siteTracker()
  s.after.each(sites.closeAll)

  s('exact per-rule counts after a scripted sequence of requests', async () => {
    const site = await sites.start({ policies: policyDir(POLICY), store: store() })
    scriptOrigin(site)
    const len = await script(site)
    checkScripted(site, len)
    const st = site.cache.stats()
    assert.is(st.name, 'cachet')
    assert.is(st.policy.rules, 4)
    assert.is(st.policy.version, site.cache.version)
    assert.is(st.store.kind, label)
    if (label === 'memory') {
      assert.ok((st.store.entries ?? 0) >= 1)
      assert.ok((st.store.bytes ?? 0) > 0)
    } else {
      assert.is(st.store.entries, undefined)
    }
    assert.equal(JSON.parse(JSON.stringify(st)), st, 'JSON-ready')
  })

  if (redis) {
    s(
      'a store outage: a paused Redis times out, a killed one is skipped; both are store-down bypasses',
      async () => {
        const r = redis()
        const site = await sites.start({ policies: policyDir(POLICY), store: store() })
        await site.get('/pages/a')
        await site.waitStored('/pages/a')
        assert.match(cs(await site.get('/pages/a')) ?? '', /^cachet; hit/)
        r.pause()
        try {
          const b = await site.get('/pages/a')
          assert.is(cs(b), 'cachet; fwd=miss; detail=store-unavailable')
          const st = site.cache.stats()
          const pages = st.rules.find((x) => x.id === 'pages')!
          assert.equal(pages.outcomes, { ...zero, hit: 1, miss: 1, bypass: 1 })
          assert.equal(pages.bypass, { 'store-down': 1 })
          assert.equal(pages.notStored, { 'store-down': 1 }, 'its answer could not be stored: no tokens')
          assert.is(st.store.up, false)
          // the read, then the token read on the spent budget
          assert.is(st.store.timeouts, 2)
          assert.is(st.store.errors, 0)
          assert.is(st.store.read.count, 3)
        } finally {
          r.resume()
        }
        await eventually(async () => /^cachet; hit/.test(cs(await site.get('/pages/a')) ?? ''), 'hits again')
        assert.is(site.cache.stats().store.up, true)
        const hitsBefore = rule(site, 'pages').outcomes.hit
        await r.kill()
        await eventually(() => !site.cache.store.ready, 'the client saw the connection go')
        const c = await site.get('/pages/a')
        assert.is(cs(c), 'cachet; fwd=miss; detail=store-unavailable')
        const st = site.cache.stats()
        const pages = st.rules.find((x) => x.id === 'pages')!
        assert.is(pages.outcomes.hit, hitsBefore)
        assert.equal(pages.bypass, { 'store-down': 2 })
        assert.equal(pages.notStored, { 'store-down': 2 })
        assert.is(st.store.unavailable, 1, 'not connected: the read is not even tried')
        assert.is(st.store.up, false)
        await r.restart()
      },
    )
  }
  return s
}

storeSuite('memory', () => 'memory').run()

let redis: RedisProc
const r = storeSuite(
  'redis',
  () => redis.url as StoreOption,
  () => redis,
)
r.before(async () => {
  redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
r.after(async () => {
  await redis.stop()
})
r.run()
