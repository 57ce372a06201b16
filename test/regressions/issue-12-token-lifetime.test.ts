/**
 * Issue 12, item 10: "Leftovers in Redis". Every miss created its URL generation token (and its
 * tag tokens) with the life of the longest possible entry (GEN_TTL, 31 days): a flood of 50,000
 * distinct URLs on a 1 s rule left 50,000 keys in Redis for a month (bench/token-leftovers.ts).
 * Now a miss reads them with a short life (FETCH_GEN_TTL_MS) and storing the entry extends them to
 * cover it (`coverMs(keep)` = keep + GEN_MARGIN_MS), never shortening: a tag shared by many URLs
 * lives as long as its longest-lived entry.
 *
 * Asserted on the keys themselves (PTTL in Redis, standalone and Cluster; the remaining life in a
 * user's get/set store; presence in the memory store under an injected clock), and that a token
 * gone before its entry (DEL or PEXPIRE by hand, as expiry or eviction would) only costs a miss,
 * after which purge works as before.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Cache, createCache } from '../../src/create-cache.js'
import { FETCH_GEN_TTL_MS, GEN_MARGIN_MS, GEN_TTL, tagGen, urlGen } from '../../src/generation/keys.js'
import type { RedisStore } from '../../src/store/redis.js'
import { eventually } from '../helpers/http.js'
import { type MapStore, mapStore } from '../helpers/map-store.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisClusterProc, startCluster } from '../helpers/redis-cluster.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const dir = policyDir(
  yaml(`
  version: 1
  rules:
    - id: short
      match: /short/*
      ttl: 1s
      tags: [shared]
    - id: long
      match: /long/*
      ttl: 1h
      tags: [shared, "long:{path.2}"]
      tagsFromResponse: true
`),
)
const HOUR = 3600_000
/** the responses carry no validator: an entry is kept exactly its freshness (1 s, 1 h) */
const SHORT_KEEP = 1000
const LONG_KEEP = HOUR
/** the most a short rule's URL token may live after a miss-and-store */
const SHORT_BOUND = Math.max(FETCH_GEN_TTL_MS, SHORT_KEEP + GEN_MARGIN_MS)
/** what a test run may take between the store and the assertion */
const SLACK = 60_000
const HIT = /^cachet; hit; ttl=\d+$/
const STORED = 'cachet; fwd=uri-miss; stored'

function body(ctx: { type: string; body: unknown; path: string; set(n: string, v: string): void }): void {
  ctx.type = 'text/plain'
  if (ctx.path.startsWith('/long/')) ctx.set('Surrogate-Key', `hdr:${ctx.path.slice(6)}`)
  ctx.body = `item ${ctx.path}`
}

const sites = siteTracker()
async function start(cache: Cache): Promise<Site> {
  const site = await sites.start({ policies: dir, cache })
  site.origin.route(/^\//, body)
  return site
}

// ---- Redis, one server -------------------------------------------------------------------------

const redis = suite('issue 12.10: token lifetimes on Redis')
let r: RedisProc
let cache: Cache
let site: Site
const pttl = async (key: string) => Number(await r.cli('PTTL', key))

redis.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  cache = await createCache({ policies: dir, store: r.url })
  site = await start(cache)
})
redis.after(async () => {
  await sites.closeAll()
  await cache.close()
  await r.stop()
})

redis("a short rule's URL token lives about as long as its entry, not 31 days", async () => {
  const a = await site.get('/short/1')
  assert.is(cs(a), STORED)
  await site.waitStored('/short/1')
  const p = await pttl(urlGen('cachet', '/short/1', []))
  assert.ok(p > 0 && p <= SHORT_BOUND, `URL token PTTL ${p} ms, at most ${SHORT_BOUND} expected`)
})

redis("a long rule's URL and tag tokens are extended to cover the entry, and not much more", async () => {
  const a = await site.get('/long/1')
  assert.is(cs(a), STORED)
  await site.waitStored('/long/1')
  for (const [what, key] of [
    ['URL', urlGen('cachet', '/long/1', [])],
    ['rule tag', tagGen('cachet', 'long:1')],
    ['response tag', tagGen('cachet', 'hdr:1')],
  ] as const) {
    const p = await pttl(key)
    assert.ok(p >= LONG_KEEP - SLACK, `${what} token PTTL ${p} ms covers the 1 h entry`)
    assert.ok(p <= LONG_KEEP + GEN_MARGIN_MS, `${what} token PTTL ${p} ms, not ${GEN_TTL}`)
  }
  assert.match(cs(await site.get('/long/1')) ?? '', HIT)
})

redis('a tag shared with a long-lived entry is never shortened by a short one', async () => {
  await site.get('/long/shared')
  await site.waitStored('/long/shared')
  await site.get('/short/shared')
  await site.waitStored('/short/shared')
  const p = await pttl(tagGen('cachet', 'shared'))
  assert.ok(p >= LONG_KEEP - SLACK && p <= LONG_KEEP + GEN_MARGIN_MS, `shared tag token PTTL ${p} ms`)
})

redis('a URL token gone before its entry costs a miss; purge works as before afterwards', async () => {
  const path = '/long/gone'
  const gen = urlGen('cachet', path, [])
  assert.is(cs(await site.get(path)), STORED)
  await site.waitStored(path)
  assert.match(cs(await site.get(path)) ?? '', HIT)

  // removed, as eviction would: the entry is still in Redis, but never served
  assert.is(await r.cli('DEL', gen), '1')
  assert.ok(await site.isStored(path))
  const b = await site.get(path)
  assert.is(cs(b), STORED, 'a miss, never the entry recorded under the old token')
  assert.is(site.origin.calls(path), 2)
  await eventually(async () => (await pttl(gen)) > LONG_KEEP - SLACK, 'the new token covers the new entry')
  assert.match(cs(await site.get(path)) ?? '', HIT)

  // expired, as a token past its life would
  await r.cli('PEXPIRE', gen, '1')
  await eventually(async () => (await r.cli('EXISTS', gen)) === '0', 'token expired')
  assert.is(cs(await site.get(path)), STORED)
  assert.is(site.origin.calls(path), 3)
  await eventually(async () => (await pttl(gen)) > LONG_KEEP - SLACK, 'token re-created, covering the entry')
  assert.match(cs(await site.get(path)) ?? '', HIT)

  // a purge's token lives GEN_TTL (README "How purge works"), and the entry is not served again
  const res = await cache.purge({ urls: [path] })
  assert.is(res.generations, 1)
  assert.ok((await pttl(gen)) > GEN_TTL - SLACK, 'a bump keeps its long life')
  assert.is(cs(await site.get(path)), STORED)
  assert.is(site.origin.calls(path), 4)
  assert.ok((await pttl(gen)) > GEN_TTL - SLACK, 'a later store never shortens a bump')
})

redis('a purge of a tag whose token has expired still covers the entries that recorded it', async () => {
  const path = '/long/tag-gone'
  assert.is(cs(await site.get(path)), STORED)
  await site.waitStored(path)
  await r.cli('PEXPIRE', tagGen('cachet', 'long:tag-gone'), '1')
  await eventually(async () => (await r.cli('EXISTS', tagGen('cachet', 'long:tag-gone'))) === '0', 'expired')
  await cache.purge({ tags: ['long:tag-gone'] })
  assert.is(cs(await site.get(path)), STORED)
  assert.is(site.origin.calls(path), 2)
})

redis.run()

// ---- Redis Cluster ------------------------------------------------------------------------------

const cluster = suite('issue 12.10: token lifetimes on a 3-master Cluster')
let c: RedisClusterProc
let cc: Cache
let csite: Site
const cpttl = (key: string) => (cc.store as unknown as RedisStore).client.pttl(key)

cluster.before(async () => {
  c = await startCluster({ masters: 3, args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  cc = await createCache({ policies: dir, store: { cluster: c.nodes } })
  await eventually(() => cc.store.ready, 'cluster client ready', 10_000)
  csite = await start(cc)
})
cluster.after(async () => {
  await sites.closeAll()
  await cc.close()
  await c.stop()
})

cluster(
  'short and long rules: URL and tag tokens on every master live as long as their entries',
  async () => {
    const paths = Array.from({ length: 6 }, (_, i) => i)
    for (const i of paths) {
      assert.is(cs(await csite.get(`/short/${i}`)), STORED)
      assert.is(cs(await csite.get(`/long/${i}`)), STORED)
    }
    for (const i of paths) {
      await csite.waitStored(`/short/${i}`)
      await csite.waitStored(`/long/${i}`)
    }
    for (const i of paths) {
      const s = await cpttl(urlGen('cachet', `/short/${i}`, []))
      assert.ok(s > 0 && s <= SHORT_BOUND, `/short/${i} URL token PTTL ${s}`)
      for (const key of [
        urlGen('cachet', `/long/${i}`, []),
        tagGen('cachet', `long:${i}`),
        tagGen('cachet', `hdr:${i}`),
      ]) {
        const p = await cpttl(key)
        assert.ok(p >= LONG_KEEP - SLACK && p <= LONG_KEEP + GEN_MARGIN_MS, `${key} PTTL ${p}`)
      }
    }
    const shared = await cpttl(tagGen('cachet', 'shared'))
    assert.ok(shared >= LONG_KEEP - SLACK && shared <= LONG_KEEP + GEN_MARGIN_MS, `shared tag PTTL ${shared}`)
  },
)

cluster.run()

// ---- the memory store, under an injected clock ---------------------------------------------------

const memory = suite('issue 12.10: token lifetimes in the memory store')
const clock = { t: Date.now(), now: () => clock.t }
let mc: Cache
let msite: Site

memory.before.each(async () => {
  clock.t = Date.now()
  mc = await createCache({ policies: dir, clock })
  msite = await start(mc)
})
memory.after.each(async () => {
  await sites.closeAll()
  await mc.close()
})

const token = async (key: string) => (await mc.store.get(key))?.toString()

memory("a short rule's URL token is gone once its entry and the margin are", async () => {
  assert.is(cs(await msite.get('/short/1')), STORED)
  await msite.waitStored('/short/1')
  const gen = urlGen('cachet', '/short/1', [])
  assert.ok((await token(gen)) !== undefined)
  clock.t += SHORT_BOUND + 1
  assert.is(await token(gen), undefined, 'no URL token left behind')
})

memory("a long rule's tokens outlive the short read life and go with the entry", async () => {
  assert.is(cs(await msite.get('/long/1')), STORED)
  await msite.waitStored('/long/1')
  const gens = [urlGen('cachet', '/long/1', []), tagGen('cachet', 'long:1'), tagGen('cachet', 'hdr:1')]
  clock.t += FETCH_GEN_TTL_MS + GEN_MARGIN_MS
  for (const g of gens) assert.ok((await token(g)) !== undefined, `${g} still there`)
  assert.match(cs(await msite.get('/long/1')) ?? '', HIT)
  clock.t += LONG_KEEP
  for (const g of gens) assert.is(await token(g), undefined, `${g} gone with its entry`)
})

memory.run()

// ---- a user's get/set/delete store (completed by create.ts) --------------------------------------

const user = suite("issue 12.10: token lifetimes in a user's get/set store")
let inner: MapStore
let uc: Cache
let usite: Site
const life = (key: string) => (inner.until(key) ?? 0) - Date.now()

user.before(async () => {
  inner = mapStore()
  uc = await createCache({ policies: dir, store: inner })
  usite = await start(uc)
})
user.after(async () => {
  await sites.closeAll()
  await uc.close()
})

user(
  "a short rule's URL token is bounded; a long one covers its entry; a shared tag is never shortened",
  async () => {
    assert.is(cs(await usite.get('/long/u')), STORED)
    await usite.waitStored('/long/u')
    assert.is(cs(await usite.get('/short/u')), STORED)
    await usite.waitStored('/short/u')
    const s = life(urlGen('cachet', '/short/u', []))
    assert.ok(s > 0 && s <= SHORT_BOUND, `short URL token life ${s}`)
    for (const key of [
      urlGen('cachet', '/long/u', []),
      tagGen('cachet', 'long:u'),
      tagGen('cachet', 'shared'),
    ]) {
      const l = life(key)
      assert.ok(l >= LONG_KEEP - SLACK && l <= LONG_KEEP + GEN_MARGIN_MS, `${key} life ${l}`)
    }
    assert.match(cs(await usite.get('/long/u')) ?? '', HIT)
    assert.match(cs(await usite.get('/short/u')) ?? '', HIT)
  },
)

user.run()
