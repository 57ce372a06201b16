/**
 * cache.stats(): exact per-rule counts after a scripted sequence of real HTTP requests (hits,
 * misses, bypasses by reason, answers not stored by reason, unmatched requests), on the memory
 * store and on a real redis-server; on Redis also a store outage (SIGSTOP, then SIGKILL), counted
 * as store-down bypasses, timeouts and unavailable reads.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreOption } from '../../src/options.js'
import { eventually } from '../helpers/http.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, writePolicy, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'
import { checkScripted, POLICY, rule, script, scriptOrigin, zero } from './script.js'

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

const reload = suite('stats() across reloads')
const reloadSites = siteTracker()
reload.after.each(reloadSites.closeAll)

reload(
  'a reload keeps the counts of every rule whose id stays; a removed rule starts from zero if it comes back',
  async () => {
    const dir = policyDir(POLICY)
    const site = await reloadSites.start({ policies: dir })
    scriptOrigin(site)
    await site.get('/pages/a')
    await site.waitStored('/pages/a')
    await site.get('/pages/a')
    await site.get('/big/x')
    const v1 = site.cache.version
    // a new first rule (every index moves), `pages` changed (ttl), `big` removed
    writePolicy(
      dir,
      yaml(`
      version: 1
      rules:
        - id: fresh
          match: /fresh/**
          ttl: 1m
        - id: nocache
          match: /private/**
          cache: false
        - id: writes
          match: /pages/**
          methods: [POST]
        - id: pages
          match: /pages/**
          ttl: 2m
    `),
    )
    const r = await site.cache.reload()
    assert.ok(r.ok && r.changed)
    let st = site.cache.stats()
    assert.equal(
      st.rules.map((x) => [x.id, x.line]),
      [
        ['fresh', 3],
        ['nocache', 6],
        ['writes', 9],
        ['pages', 12],
      ],
    )
    assert.equal(rule(site, 'pages').outcomes, { ...zero, hit: 1, miss: 1 }, 'kept by id')
    assert.is(rule(site, 'pages').stored, 1)
    assert.equal(rule(site, 'fresh').outcomes, zero)
    assert.is(st.policy.rules, 4)
    assert.is.not(st.policy.version, v1)
    assert.equal(st.reloads, { ok: 1, failed: 0, applied: 1, unchanged: 0, lastError: null })
    // the next requests count on into the same counters (a changed rule keys anew: a miss)
    await site.get('/pages/a')
    assert.equal(rule(site, 'pages').outcomes, { ...zero, hit: 1, miss: 2 })

    assert.ok((await site.cache.reload()).ok)
    assert.equal(site.cache.stats().reloads, { ok: 2, failed: 0, applied: 1, unchanged: 1, lastError: null })

    const file = writePolicy(dir, 'version: 1\nrules:\n  - id: pages\n    match: /pages/**\n    ttl: soon\n')
    const bad = await site.cache.reload()
    assert.is(bad.ok, false)
    st = site.cache.stats()
    assert.is(st.reloads.failed, 1)
    assert.is(st.reloads.lastError?.file, file)
    assert.is(st.reloads.lastError?.line, 5)
    assert.ok((st.reloads.lastError?.col ?? 0) > 0)
    assert.match(st.reloads.lastError?.message ?? '', /duration|ttl/i)
    assert.match(st.reloads.lastError?.at ?? '', /^\d{4}-\d\d-\d\dT/)
    assert.equal(
      rule(site, 'pages').outcomes,
      { ...zero, hit: 1, miss: 2 },
      'the set in force keeps counting',
    )

    writePolicy(dir, POLICY)
    assert.ok((await site.cache.reload()).ok)
    st = site.cache.stats()
    assert.is(st.reloads.lastError, null, 'cleared by the next good reload')
    assert.equal(st.reloads, { ok: 3, failed: 1, applied: 2, unchanged: 1, lastError: null })
    assert.equal(rule(site, 'pages').outcomes, { ...zero, hit: 1, miss: 2 })
    assert.equal(rule(site, 'big').outcomes, zero, 'big was removed in between: it starts anew')
    assert.is(site.cache.metrics().reloads, 2)
    assert.is(site.cache.metrics().reloadFailures, 1)
  },
)

reload.run()

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
