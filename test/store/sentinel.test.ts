/**
 * cachet on Redis Sentinel (issue "Redis Cluster and Sentinel as stores"), end to end: real HTTP
 * to a Koa app with cache.middleware(), the store given as `{ redis: { sentinels, name } }`, and a
 * real master, replica and three sentinels (test/helpers/redis-sentinel.ts). The failover is
 * Sentinel's own: SIGKILL of the master, then detection, election and promotion of the replica.
 * What must hold (README "Library API", "Purge"; docs/threats.md):
 * - the client finds the master through the sentinels; entries and purges land on it;
 * - while no master is reachable every request is still answered by the application, and a
 *   purge rejects (never claims success it did not have);
 * - once the replica is promoted, entries are stored and hit again, on the new master.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { tagGen } from '../../src/generation/keys.js'
import type { RedisStore } from '../../src/store/redis.js'
import { eventually, type HttpResponse } from '../helpers/http.js'
import { type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisSentinelProc, startSentinel } from '../helpers/redis-sentinel.js'

// --unhandled-rejections=strict (the runner) would crash the file on one; a standalone run records them
const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason)
})

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
const DOWN = 'cachet; fwd=miss; detail=store-unavailable'
const H = { host: 'shop.test' }

const s = suite('cachet on Redis Sentinel')
const sites = siteTracker()
let rs: RedisSentinelProc | undefined
let site: Site

s.before(async () => {
  try {
    // a cache's Redis evicts (README "Redis setup"); without it createCache warns
    rs = await startSentinel({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
    site = await sites.start({
      policies: policyDir(POLICY),
      store: { redis: { sentinels: rs.sentinels, name: rs.name } },
    })
    assert.is(site.cache.store.kind, 'redis')
    await eventually(() => site.cache.store.ready, 'sentinel-backed client ready', 10_000)
  } catch (err) {
    // uvu's runner drops an error thrown by a `before` hook: say what went wrong
    console.error('setup failed:', err)
    throw err
  }
})
// after every test, failed or not: close the app and the client, then every Redis process
s.after(async () => {
  await sites.closeAll()
  await rs?.stop()
})
s.after.each(() => {
  assert.equal(unhandled, [], 'no unhandled rejection')
})

function sentinel(): RedisSentinelProc {
  if (!rs) throw new Error('no sentinel deployment (setup failed)')
  return rs
}

const status = (r: HttpResponse) => r.headers['cache-status'] ?? ''
const body = (n: number, p: string) => `#${n} GET ${p} cookie=`

/** GET until a hit, with bounded attempts (each may reach the origin); the hit and the last stored miss's body. */
async function untilHit(
  p: string,
  attempts = 100,
): Promise<{ hit: HttpResponse; storedBody: string | undefined }> {
  let storedBody: string | undefined
  let last = ''
  for (let i = 0; i < attempts; i++) {
    const r = await site.get(p, { headers: H })
    assert.is(r.status, 200, `${p}: status`)
    last = status(r)
    if (HIT.test(last)) return { hit: r, storedBody }
    assert.is(r.body, body(site.origin.calls(p), p), `${p}: a miss answered by the application`)
    if (STORED_MISS.test(last)) {
      storedBody = r.body
      await site.waitStored(p, H).catch(() => undefined)
    } else {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error(`GET ${p} never became a hit in ${attempts} attempts (last Cache-Status: ${last})`)
}

s('store then hit through Sentinel: the entry is on the master Sentinel names', async () => {
  const { master, replica } = sentinel()
  const p = '/products/1'
  const a = await site.get(p, { headers: H })
  assert.is(a.status, 200)
  assert.match(status(a), STORED_MISS)
  assert.is(a.body, body(1, p))
  await site.waitStored(p, H)
  const b = await site.get(p, { headers: H })
  assert.match(status(b), HIT)
  assert.is(b.body, body(1, p))
  assert.is(b.headers['x-origin-call'], '1')
  assert.is(site.origin.calls(p), 1)

  const key = site.key(p, H)!
  assert.is(await master.cli('EXISTS', key), '1', 'entry key on the master')
  assert.ok(Number(await master.cli('PTTL', key)) > 0, 'entry key has a lifetime')
  assert.match(await master.cli('CLIENT', 'LIST'), /\bname=cachet\b/, 'our connection is on the master')
  assert.not.match(await replica.cli('CLIENT', 'LIST'), /\bname=cachet\b/, 'and not on the replica')
  assert.is(await master.cli('ROLE').then((r) => r.split('\n')[0]), 'master')
  assert.is((site.cache.store as RedisStore).stats.errors, 0)
})

s(
  'purge by tag through Sentinel resolves, replaces the tag token on the master; the next request is a miss',
  async () => {
    const { master } = sentinel()
    const other = '/products/2'
    await site.get(other, { headers: H })
    await site.waitStored(other, H)
    const gen = tagGen('cachet', 'product:1')
    const before = await master.cli('GET', gen)
    assert.ok(before !== '', 'tag generation token on the master')

    const res = await site.cache.purge({ tags: ['product:1'] })
    assert.equal(res, { tags: 1, urls: 0, rules: 0, all: false, generations: 1 })
    const after = await master.cli('GET', gen)
    assert.ok(after !== '' && after !== before, `token replaced on the master (${before} → ${after})`)

    const p = '/products/1'
    const r = await site.get(p, { headers: H })
    assert.match(status(r), STORED_MISS, 'purged entry is a miss')
    assert.is(r.body, body(2, p))
    assert.is(site.origin.calls(p), 2)
    const o = await site.get(other, { headers: H })
    assert.match(status(o), HIT, 'an entry without the tag is still a hit')
    assert.is(o.body, body(1, other))
  },
)

s(
  'master killed: a purge rejects, every request is answered; after promotion entries are stored and hit on the new master',
  async () => {
    const rsp = sentinel()
    const { master, replica } = rsp
    // an entry that must survive the failover: replicated before the kill (replication is async)
    const kept = '/products/2'
    await site.waitStored(kept, H)
    const keptKey = site.key(kept, H)!
    await eventually(async () => (await replica.cli('EXISTS', keptKey)) === '1', 'entry replicated', 5000)
    const keptBody = (await site.get(kept, { headers: H })).body
    assert.is(keptBody, body(1, kept))

    await master.kill()

    // No master is reachable: the old one is dead and the replica is frozen, so nothing could
    // acknowledge a write even if Sentinel promoted it meanwhile. The purge must reject.
    replica.pause()
    let purgeErr: unknown
    try {
      purgeErr = await site.cache.purge({ tags: ['product:2'] }).then(
        () => undefined,
        (e: unknown) => e,
      )
    } finally {
      replica.resume()
    }
    assert.instance(purgeErr, Error, 'purge with no master reachable rejects')

    // Until every sentinel names the replica as master, keep sending requests: each one is
    // answered by the application with its own response (misses: the store is down).
    const during = ['/products/10', '/products/11', '/products/12']
    const seen: string[] = []
    let switched = false
    const end = Date.now() + 40_000
    while (!switched) {
      if (Date.now() > end)
        throw new Error(`no promotion within 40 s: ${JSON.stringify(await rsp.masterAddrs())}`)
      await Promise.all(
        during.map(async (p) => {
          const r = await site.get(p, { headers: H })
          assert.is(r.status, 200, `${p} during the failover`)
          const cs = status(r)
          seen.push(cs)
          if (HIT.test(cs)) {
            // only possible once the new master is in use: a response the origin gave before
            const n = Number(/^#(\d+) /.exec(r.body)?.[1])
            assert.ok(
              n >= 1 && n <= site.origin.calls(p) && r.body === body(n, p),
              `${p}: hit body ${r.body}`,
            )
          } else {
            assert.is(r.body, body(site.origin.calls(p), p), `${p}: answered by the application`)
          }
        }),
      )
      switched = (await rsp.masterAddrs()).every((a) => a?.port === replica.port)
      if (!switched) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(
      seen.includes(DOWN),
      `some requests were served while the store was down (${[...new Set(seen)].join(' | ')})`,
    )
    assert.is(site.appErrors.length, 0, `no application error: ${site.appErrors.map(String).join('; ')}`)
    assert.is(await replica.cli('ROLE').then((r) => r.split('\n')[0]), 'master', 'the replica was promoted')

    // The client reconnects through the sentinels to the promoted replica: store, then hit.
    const p = '/products/3'
    const { hit, storedBody } = await untilHit(p)
    assert.ok(storedBody !== undefined, 'the hit follows a stored miss')
    assert.is(hit.body, storedBody)
    const key = site.key(p, H)!
    assert.is(await replica.cli('EXISTS', key), '1', 'entry key on the new master')
    assert.match(
      await replica.cli('CLIENT', 'LIST'),
      /\bname=cachet\b/,
      'our connection is on the new master',
    )

    // the entry replicated before the kill is served from the new master, byte for byte
    const k = await site.get(kept, { headers: H })
    assert.match(status(k), HIT)
    assert.is(k.body, keptBody)

    // and a purge through Sentinel works again
    const res = await site.cache.purge({ tags: ['product:3'] })
    assert.is(res.generations, 1)
    const after = await site.get(p, { headers: H })
    assert.match(status(after), STORED_MISS)
    assert.is(after.body, body(site.origin.calls(p), p))
    assert.is(site.appErrors.length, 0)
  },
)

s.run()
