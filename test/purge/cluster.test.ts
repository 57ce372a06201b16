/**
 * Purge on a real 3-master Redis Cluster (docs/threats.md T40, T42): entries, their
 * generation keys and their tags sit on different masters (proved with CLUSTER KEYSLOT and
 * each master's own keyspace), a tag purge covers them all, no command is ever cross-slot, and
 * with one master killed every request is still answered by the application.
 * `cluster-require-full-coverage no`: the surviving masters keep serving their own slots, as the
 * README recommends for a cache.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { allGen, ruleGen, tagGen } from '../../src/generation/keys.js'
import type { RedisStore } from '../../src/store/redis.js'
import { eventually } from '../helpers/http.js'
import { type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisClusterProc, startCluster } from '../helpers/redis-cluster.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: products
      match: /products/*
      ttl: 10m
      tags: [products, "product:{path.2}"]
`)
const HIT = /^cachet; hit; ttl=\d+$/
const STORED_MISS = /^cachet; fwd=uri-miss; stored$/
const H = { host: 'shop.test' }
const N = 24
const paths = Array.from({ length: N }, (_, i) => `/products/${i}`)

const s = suite('purge on a 3-master cluster')
const sites = siteTracker()
let cluster: RedisClusterProc
let site: Site
const logs = () => site.logs.join('\n')

s.before(async () => {
  cluster = await startCluster({
    masters: 3,
    args: [
      '--cluster-require-full-coverage',
      'no',
      '--maxmemory',
      '64mb',
      '--maxmemory-policy',
      'allkeys-lru',
    ],
  })
  site = await sites.start({ policies: policyDir(POLICY), store: { cluster: cluster.nodes } })
  assert.is(site.cache.store.kind, 'cluster')
  await eventually(() => site.cache.store.ready, 'cluster client ready', 10_000)
})
s.after(async () => {
  await sites.closeAll()
  await cluster.stop()
})

/** key → port of the master holding it, read from each master's own keyspace */
async function holders(): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const p of cluster.procs) {
    for (const k of (await p.cli('KEYS', 'cachet:*')).split('\n').filter(Boolean)) out.set(k, p.port)
  }
  return out
}

function storeErrors(): number {
  return (site.cache.store as RedisStore).stats.errors
}

s('store and hit: entries and generation keys spread over all three masters', async () => {
  for (const p of paths) {
    const a = await site.get(p, { headers: H })
    assert.match(a.headers['cache-status'] ?? '', STORED_MISS, p)
    assert.is(a.body, `#1 GET ${p} cookie=`)
  }
  for (const p of paths) await site.waitStored(p, H)
  for (const p of paths) {
    const b = await site.get(p, { headers: H })
    assert.match(b.headers['cache-status'] ?? '', HIT, p)
    assert.is(b.body, `#1 GET ${p} cookie=`)
  }
  const where = await holders()
  const entries = paths.map((p) => site.key(p, H)!)
  const entryMasters = new Set(entries.map((k) => where.get(k)))
  assert.is(entryMasters.size, 3, 'entries on all three masters')
  assert.not.ok(entryMasters.has(undefined), 'every entry found on exactly one master')
  // the slot Redis computes for a key is a slot its holder serves (CLUSTER KEYSLOT, CLUSTER SLOTS)
  const slots = await slotOwners()
  const tagKeys = paths.map((_, i) => tagGen('cachet', `product:${i}`))
  for (const k of [
    ...entries,
    ...tagKeys,
    allGen('cachet'),
    ruleGen('cachet', 'products'),
    tagGen('cachet', 'products'),
  ]) {
    const slot = Number(await cluster.procs[0]!.cli('CLUSTER', 'KEYSLOT', k))
    assert.is(where.get(k), slots(slot), `${k} (slot ${slot}) lives on the master serving its slot`)
  }
  assert.is(new Set(tagKeys.map((k) => where.get(k))).size, 3, 'tag generation keys on all three masters')
  for (const p of cluster.procs) assert.ok(Number(await p.cli('DBSIZE')) > 0, `master ${p.port} holds keys`)
  assert.is(storeErrors(), 0)
})

/** slot → port of the master serving it */
async function slotOwners(): Promise<(slot: number) => number | undefined> {
  const lines = (await cluster.procs[0]!.cli('CLUSTER', 'NODES')).split('\n')
  const ranges: [number, number, number][] = []
  for (const line of lines) {
    const f = line.split(' ')
    const port = Number(/:(\d+)@/.exec(f[1] ?? '')?.[1])
    for (const r of f.slice(8)) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(r)
      if (m) ranges.push([Number(m[1]), Number(m[2] ?? m[1]), port])
    }
  }
  return (slot) => ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2]
}

s('purge by one tag covers entries on every master; no CROSSSLOT, no error', async () => {
  const res = await site.cache.purge({ tags: ['products'] })
  assert.equal(res, { tags: 1, urls: 0, rules: 0, all: false, generations: 1 })
  for (const p of paths) {
    const r = await site.get(p, { headers: H })
    assert.match(r.headers['cache-status'] ?? '', STORED_MISS, `${p} after the purge`)
    assert.is(r.body, `#2 GET ${p} cookie=`)
  }
  for (const p of paths) await site.waitStored(p, H)
  // several tags at once, whose keys sit on different slots: one purge, no cross-slot command
  const some = ['product:1', 'product:2', 'product:3', 'product:4', 'product:5']
  const res2 = await site.cache.purge({ tags: some, urls: ['/products/6'], rules: [], all: false })
  assert.is(res2.generations, 6)
  for (let i = 0; i < N; i++) {
    const r = await site.get(`/products/${i}`, { headers: H })
    if (i >= 1 && i <= 6) {
      assert.match(r.headers['cache-status'] ?? '', STORED_MISS, `/products/${i}`)
      assert.is(r.body, `#3 GET /products/${i} cookie=`)
    } else {
      assert.match(r.headers['cache-status'] ?? '', HIT, `/products/${i}`)
      assert.is(r.body, `#2 GET /products/${i} cookie=`)
    }
  }
  assert.is(storeErrors(), 0)
  assert.is(site.cache.metrics().storeErrors, 0)
  assert.not.match(logs(), /CROSSSLOT/)
})

s(
  'one master killed: every request is answered by the application with the right body; purges touching it reject',
  async () => {
    for (const p of paths) await site.waitStored(p, H)
    const where = await holders()
    // kill the master holding the most entries
    const count = new Map<number, number>()
    for (const p of paths) {
      const port = where.get(site.key(p, H)!)!
      count.set(port, (count.get(port) ?? 0) + 1)
    }
    const victimPort = [...count.entries()].sort((a, b) => b[1] - a[1])[0]![0]
    const victim = cluster.procs.find((p) => p.port === victimPort)!
    await victim.kill()

    const check = async (p: string) => {
      const r = await site.get(p, { headers: H })
      assert.is(r.status, 200, p)
      assert.match(r.body, new RegExp(`^#\\d+ GET ${p} cookie=$`), `${p}: ${r.body}`)
    }
    // sequential, then all at once, twice: nothing hangs, nothing fails
    for (const p of paths) await check(p)
    await Promise.all(paths.map(check))
    await Promise.all(paths.map(check))
    assert.is(site.appErrors.length, 0, `no application error: ${site.appErrors.map(String).join('; ')}`)

    // a purge whose generation key lives on the dead master cannot be recorded: it must reject
    const tagOn = (alive: boolean) => {
      for (let i = 0; i < N; i++) {
        const holder = where.get(tagGen('cachet', `product:${i}`))
        if (holder !== undefined && (holder === victimPort) !== alive) return `product:${i}`
      }
      return undefined
    }
    const deadTag = tagOn(false)
    const liveTag = tagOn(true)
    assert.ok(deadTag !== undefined && liveTag !== undefined)
    const err = await site.cache.purge({ tags: [deadTag] }).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.instance(err, Error, `purge of ${deadTag} (on the dead master) rejects`)
    const ok = await site.cache.purge({ tags: [liveTag] })
    assert.is(ok.generations, 1, `purge of ${liveTag} (on a live master) resolves`)
    assert.not.match(logs(), /CROSSSLOT/)
  },
)

s.run()
