/**
 * The middleware on real redis-server processes: what lands in Redis, two instances sharing one
 * server, LRU eviction under load, and Redis absent, killed or frozen (docs/threats.md
 * T11, T36, T45–T47, T50; the README: "The store being down never fails a request").
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { eventually } from '../helpers/http.js'
import { cs, hitTtl, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { freePort, type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: 1m
`)
const HIT = /^cachet; hit; ttl=\d+$/
const DOWN = 'cachet; fwd=miss; detail=store-unavailable'

const s = suite('middleware on redis')
const sites = siteTracker()
const servers: RedisProc[] = []
const dir = policyDir(POLICY)
async function redis(
  args: string[] = ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'],
): Promise<RedisProc> {
  const r = await startRedis({ args })
  servers.push(r)
  return r
}
s.after.each(async () => {
  await sites.closeAll()
  await Promise.all(servers.splice(0).map((r) => r.stop()))
})

/** GET until the response is a hit (each try may reach the origin); returns the hit. */
async function untilHit(site: Site, target: string, headers: Record<string, string> = {}, ms = 15_000) {
  let last = ''
  await eventually(
    async () => {
      const r = await site.get(target, { headers })
      last = cs(r) ?? ''
      return HIT.test(last)
    },
    `GET ${target} is a hit again (last: ${last})`,
    ms,
  )
}

s(
  'an entry is one Redis key <name>:<rule>:<digest>; every key has a lifetime; no user data in a key',
  async () => {
    const r = await redis()
    const site = await sites.start({ policies: dir, store: r.url, name: 'shop' })
    const target = '/products/42?q=%7Bx%7D&tag=}{'
    const a = await site.get(target)
    assert.is(cs(a), 'shop; fwd=uri-miss; stored')
    await site.waitStored(target)
    const key = site.key(target)!
    assert.match(key, /^shop:pages:[A-Za-z0-9_-]{32}$/)
    assert.is(await r.cli('TYPE', key), 'string')
    const keys = (await r.cli('--scan', '--pattern', '*')).split('\n')
    assert.ok(keys.includes(key), `the explained key is in Redis: ${keys.join(' ')}`)
    for (const k of keys) {
      // T11: no user data, so no user-controlled {hash tag}; T36: every write has a lifetime
      assert.match(k, /^shop:[A-Za-z0-9:_-]+$/, k)
      assert.not.match(k, /products|42|[{}]/, k)
      const pttl = Number(await r.cli('PTTL', k))
      assert.ok(pttl > 0, `PTTL of ${k} > 0, got ${pttl}`)
    }
    const b = await site.get(target)
    assert.match(b.headers['cache-status'] ?? '', /^shop; hit; ttl=\d+$/)
    assert.is(b.body, a.body)
  },
)

s('two middleware instances sharing one redis-server: A stores, B hits', async () => {
  const r = await redis()
  const a = await sites.start({ policies: dir, store: r.url })
  const b = await sites.start({ policies: policyDir(POLICY), store: r.url })
  const host = { host: 'shop.test' }
  const first = await a.get('/shared', { headers: host })
  assert.is(cs(first), 'cachet; fwd=uri-miss; stored')
  assert.is(a.key('/shared', host), b.key('/shared', host), 'same policies, same key')
  await b.waitStored('/shared', host)
  const second = await b.get('/shared', { headers: host })
  assert.match(cs(second) ?? '', HIT)
  assert.is(second.body, first.body)
  assert.is(second.headers.etag, first.headers.etag)
  assert.is(a.origin.calls('/shared'), 1)
  assert.is(b.origin.calls('/shared'), 0)
})

s('maxmemory 2mb allkeys-lru filled ten times over: every response is right; Redis evicts', async () => {
  const r = await redis(['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
  const site = await sites.start({ policies: dir, store: r.url })
  const bodyFor = (path: string) => `${path}|`.repeat(Math.ceil(10_240 / (path.length + 1))).slice(0, 10_240)
  site.origin.route(/^\/evict\//, (ctx) => {
    ctx.type = 'text/plain'
    ctx.body = bodyFor(ctx.path)
  })
  const N = 2000
  const paths = Array.from({ length: N }, (_, i) => `/evict/${i}`)
  let hits = 0
  const wrong: string[] = []
  const run = async (list: string[]) => {
    let next = 0
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < list.length) {
          const path = list[next++]!
          const res = await site.get(path)
          if (res.status !== 200 || res.body !== bodyFor(path))
            wrong.push(`${path}: ${res.status} ${res.body.slice(0, 40)}`)
          const status = cs(res) ?? ''
          if (HIT.test(status)) hits++
          else if (status !== 'cachet; fwd=uri-miss; stored') wrong.push(`${path}: Cache-Status ${status}`)
        }
      }),
    )
  }
  await run(paths)
  await run([...paths].reverse()) // the most recent first: some are still there
  assert.equal(wrong, [])
  const info = await r.cli('INFO', 'stats')
  const evicted = Number(/evicted_keys:(\d+)/.exec(info)?.[1])
  assert.ok(evicted > 0, `evicted_keys > 0, got ${evicted}`)
  const keys = Number(await r.cli('DBSIZE'))
  assert.ok(keys < N, `Redis holds fewer than ${N} entries (${keys})`)
  assert.is(hits + site.cache.metrics().misses, 2 * N)
  // after the flood the cache still works: a new entry is stored and served
  const after = await site.get('/evict/after')
  assert.is(cs(after), 'cachet; fwd=uri-miss; stored')
  await site.waitStored('/evict/after')
  const again = await site.get('/evict/after')
  assert.match(cs(again) ?? '', HIT)
  assert.is(again.body, bodyFor('/evict/after'))
})

s('Redis absent at start: createCache resolves; every request is answered by the app', async () => {
  const port = await freePort()
  const site = await sites.start({ policies: dir, store: `redis://127.0.0.1:${port}` })
  assert.is(site.cache.store.ready, false)
  for (let i = 1; i <= 5; i++) {
    const res = await site.get('/down')
    assert.is(res.status, 200)
    assert.is(cs(res), DOWN)
    assert.is(res.body, `#${i} GET /down cookie=`)
  }
  assert.is(site.origin.calls('/down'), 5)
  assert.is(site.cache.metrics().misses, 5)
  assert.is(site.cache.metrics().hits, 0)
})

s('Redis killed mid-run: requests still answer from the app; entries come back after a restart', async () => {
  const r = await redis()
  const site = await sites.start({ policies: dir, store: r.url })
  await site.get('/k')
  await site.waitStored('/k')
  assert.match(cs(await site.get('/k')) ?? '', HIT)
  await r.kill()
  for (let i = 2; i <= 6; i++) {
    const res = await site.get('/k')
    assert.is(res.status, 200)
    assert.is(res.body, `#${i} GET /k cookie=`)
    assert.is(cs(res), DOWN)
  }
  await r.restart()
  await untilHit(site, '/k')
  const after = await site.get('/k')
  assert.match(cs(after) ?? '', HIT)
  assert.match(after.body, /^#\d+ GET \/k cookie=$/)
})

s(
  'Redis frozen (SIGSTOP): requests complete from the app (concurrent ones coalesced: T58); hits return after SIGCONT',
  async () => {
    const r = await redis()
    const site = await sites.start({ policies: dir, store: r.url })
    await site.get('/p')
    await site.waitStored('/p')
    r.pause()
    try {
      const results = await Promise.all([1, 2, 3].map(() => site.get('/p')))
      // each either asked the application or, arriving while another did, was handed its
      // response: the origin stays protected while the store is down
      const COLLAPSED = 'cachet; fwd=miss; collapsed; detail=store-unavailable'
      const leaders = new Set<string>()
      for (const res of results) {
        assert.is(res.status, 200)
        assert.match(res.body, /^#[234] GET \/p cookie=$/)
        assert.ok(cs(res) === DOWN || cs(res) === COLLAPSED, cs(res))
        if (cs(res) === DOWN) leaders.add(res.body)
      }
      assert.ok(leaders.size >= 1)
      for (const res of results)
        assert.ok(leaders.has(res.body), 'a collapsed request got a response some leader fetched')
      const fresh = await site.get('/other')
      assert.is(fresh.body, '#1 GET /other cookie=')
    } finally {
      r.resume()
    }
    await untilHit(site, '/p')
    const hit = await site.get('/p')
    assert.ok(hitTtl(hit) > 0)
    assert.match(hit.body, /^#\d GET \/p cookie=$/)
  },
)

s('close() with Redis unreachable finishes, and createCache can be called again', async () => {
  const port = await freePort()
  const cache = await createCache({
    policies: dir,
    store: `redis://127.0.0.1:${port}`,
    logger: { error() {}, warn() {}, info() {}, debug() {} },
  })
  assert.is(cache.explain({ url: '/x', headers: { host: 'a' } }).decision, 'lookup')
  await cache.close()
  await cache.close()
})

s.run()
