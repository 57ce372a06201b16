/**
 * Purge across instances and under Redis' own misbehaviour (docs/policy-format.md: "A purge is a
 * promise: after it returns, no entry it covered is served again, from any instance, even when
 * the store has evicted some of its keys in between"; the README "Purge": it rejects when it could
 * not be recorded). Two createCache instances with their own Koa servers share one real
 * redis-server; eviction is real LRU eviction under `--maxmemory 2mb` (and DEL as its stand-in);
 * "down" is SIGKILL.
 */

import { Redis } from 'ioredis'
import Koa from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Cache, createCache } from '../../src/create-cache.js'
import { allGen, ruleGen, tagGen } from '../../src/generation/keys.js'
import { decodeEntry } from '../../src/request/entry.js'
import { eventually, type Listening, listen, request } from '../helpers/http.js'
import { createOrigin, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: products
      match: /products/*
      ttl: 1m
      tags: [products, "product:{path.2}"]
    - id: surrogate
      match: /sk/*
      ttl: 1m
      tagsFromResponse: true
`)
const HIT = /^cachet; hit; ttl=\d+$/
const STORED_MISS = /^cachet; fwd=uri-miss; stored$/
const TOKEN = 'a-long-enough-admin-token-0123456789'

const s = suite('purge across instances, eviction and Redis down')
const sites = siteTracker()
const redises: RedisProc[] = []
const clients: Redis[] = []
const closers: (() => Promise<void>)[] = []

async function redis(
  args = ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'],
): Promise<RedisProc> {
  const r = await startRedis({ args })
  redises.push(r)
  return r
}
function client(r: RedisProc): Redis {
  const c = new Redis(r.url, { maxRetriesPerRequest: 1, lazyConnect: false })
  c.on('error', () => {})
  clients.push(c)
  return c
}
s.after.each(async () => {
  await sites.closeAll()
  for (const close of closers.splice(0)) await close()
  for (const c of clients.splice(0)) c.disconnect()
  await Promise.all(redises.splice(0).map((r) => r.stop()))
})

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((res) => {
    resolve = res
  })
  return { promise, resolve }
}

/** Polls `fn` for at most `ms`; true if it held. For a write that may legitimately never happen. */
async function within(ms: number, fn: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await fn()) return true
    await new Promise((res) => setTimeout(res, 10))
  }
  return false
}

/** Both instances are addressed as one site: the Host (keyed) must not be each server's own port. */
const H = { host: 'shop.test' }

async function prime(site: Site, target: string): Promise<string> {
  const a = await site.get(target, { headers: H })
  assert.match(a.headers['cache-status'] ?? '', STORED_MISS, `first GET ${target}`)
  await site.waitStored(target, H)
  const b = await site.get(target, { headers: H })
  assert.match(b.headers['cache-status'] ?? '', HIT, `second GET ${target}`)
  assert.is(b.body, a.body)
  return a.body
}

s('A stores, B purges: neither A nor B serves the purged entry again', async () => {
  const r = await redis()
  const dir = policyDir(POLICY)
  const a = await sites.start({ policies: dir, store: r.url })
  const b = await sites.start({ policies: policyDir(POLICY), store: r.url })
  const body = await prime(a, '/products/1')
  await prime(a, '/products/2')
  const fromB = await b.get('/products/1', { headers: H })
  assert.match(fromB.headers['cache-status'] ?? '', HIT, 'B hits the entry A stored')
  assert.is(fromB.body, body)

  await b.cache.purge({ tags: ['product:1'] })
  // A holds no state of its own: the very next request after B's purge resolved is a miss
  const after = await a.get('/products/1', { headers: H })
  assert.match(after.headers['cache-status'] ?? '', STORED_MISS)
  assert.is(after.body, '#2 GET /products/1 cookie=')
  assert.is(a.key('/products/1', H), b.key('/products/1', H))
  const other = await a.get('/products/2', { headers: H })
  assert.match(other.headers['cache-status'] ?? '', HIT)
  assert.is(b.origin.total, 0)
  for (let i = 0; i < 5; i++) {
    assert.is.not((await a.get('/products/1', { headers: H })).body, body)
    assert.is.not((await b.get('/products/1', { headers: H })).body, body)
  }
})

s(
  'a purge racing a slow origin: the write lands after the purge, is in Redis, and is never served',
  async () => {
    const r = await redis()
    const raw = client(r)
    const a = await sites.start({ policies: policyDir(POLICY), store: r.url })
    const b = await sites.start({ policies: policyDir(POLICY), store: r.url })
    const gate = deferred()
    const started = deferred()
    a.origin.route('/products/7', async (ctx, n) => {
      if (n === 1) {
        started.resolve()
        await gate.promise
      }
      ctx.body = `product 7 v${n}`
    })
    const key = a.key('/products/7', H)!
    const inFlight = a.get('/products/7', { headers: H })
    await started.promise // A read the tokens and asked its origin, which now blocks
    const before = await raw.get(tagGen('cachet', 'product:7'))
    assert.ok(before !== null, 'the miss created the tag token before asking the origin')
    await b.cache.purge({ tags: ['product:7'] })
    const purgedToken = await raw.get(tagGen('cachet', 'product:7'))
    assert.ok(purgedToken !== null && purgedToken !== before, 'the purge replaced the token')
    assert.is(await raw.exists(key), 0, 'nothing stored yet')

    gate.resolve()
    const first = await inFlight
    assert.is(first.body, 'product 7 v1')
    // the late write does land...
    await eventually(async () => (await raw.exists(key)) === 1, 'the late entry written to Redis')
    const entry = decodeEntry((await raw.getBuffer(key))!)!
    assert.is(entry.body.toString(), 'product 7 v1')
    // ...with the tokens read before the purge: [all, rule, url, products, product:7]
    assert.is(entry.tokens.length, 5)
    assert.is(entry.tokens[4], before)
    assert.is(entry.tokens[0], await raw.get(allGen('cachet')))
    assert.is(entry.tokens[1], await raw.get(ruleGen('cachet', 'products')))

    // ...and is never served, by A or by B
    const next = await a.get('/products/7', { headers: H })
    assert.match(next.headers['cache-status'] ?? '', STORED_MISS)
    assert.is(next.body, 'product 7 v2')
    await a.waitStored('/products/7', H)
    const fromB = await b.get('/products/7', { headers: H })
    assert.is(fromB.body, 'product 7 v2')
  },
)

s(
  'a purge of a response tag (Surrogate-Key) racing a slow origin: the late write is never served',
  async () => {
    // The response names its tags only when it arrives, so the entry cannot record their tokens
    // before the origin was asked (capture.ts reads them at commit time). A purge of that tag while
    // the origin was working must still win.
    const r = await redis()
    const a = await sites.start({ policies: policyDir(POLICY), store: r.url })
    const b = await sites.start({ policies: policyDir(POLICY), store: r.url })
    const gate = deferred()
    const started = deferred()
    a.origin.route('/sk/9', async (ctx, n) => {
      if (n === 1) {
        started.resolve()
        await gate.promise
      }
      ctx.set('Surrogate-Key', 'item-9')
      ctx.body = `item 9 v${n}`
    })
    const inFlight = a.get('/sk/9', { headers: H })
    await started.promise
    await b.cache.purge({ tags: ['item-9'] })
    gate.resolve()
    assert.is((await inFlight).body, 'item 9 v1')
    // the write is fire-and-forget: give it a bounded chance to land (a correct cache may never write it)
    const key = a.key('/sk/9', H)!
    const landed = await within(
      1000,
      async () => (await a.cache.store.get(key).catch(() => undefined)) !== undefined,
    )
    const next = await a.get('/sk/9', { headers: H })
    assert.is(
      next.body,
      'item 9 v2',
      `the response produced while item-9 was being purged is not served (late write landed: ${landed})`,
    )
  },
)

s('token keys deleted (eviction stand-in), then a purge: no purged entry is ever served', async () => {
  const r = await redis(['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
  const raw = client(r)
  const site = await sites.start({ policies: policyDir(POLICY), store: r.url })
  const paths = Array.from({ length: 12 }, (_, i) => `/products/${i}`)
  for (const p of paths) await prime(site, p)
  // eviction takes the token keys of half the entries, and the shared "products" one
  const gone = [
    tagGen('cachet', 'products'),
    ...paths.slice(0, 6).map((_, i) => tagGen('cachet', `product:${i}`)),
  ]
  assert.is(await raw.del(...gone), gone.length)
  await site.cache.purge({ tags: ['products'] })
  for (const p of paths) assert.is(await raw.exists(site.key(p, H)!), 1, `entry ${p} still in Redis`)
  for (const p of paths) {
    const res = await site.get(p, { headers: H })
    assert.match(res.headers['cache-status'] ?? '', STORED_MISS, `GET ${p} after eviction + purge`)
    assert.is(res.body, `#2 GET ${p} cookie=`)
  }
})

s(
  'real LRU eviction of the token keys (maxmemory 2mb, filled with junk), then a purge: no purged entry is served',
  async () => {
    const r = await redis(['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
    const raw = client(r)
    const site = await sites.start({ policies: policyDir(POLICY), store: r.url })
    const paths = Array.from({ length: 10 }, (_, i) => `/products/${i}`)
    for (const p of paths) await prime(site, p)
    const keys = paths.map((p) => site.key(p, H)!)
    const saved = await Promise.all(keys.map((k) => raw.getBuffer(k)))
    const gens = [tagGen('cachet', 'products'), ...paths.map((_, i) => tagGen('cachet', `product:${i}`))]
    assert.is(await raw.exists(...gens), gens.length)

    // Fill with junk, touching the entries (not their tokens) so LRU prefers the token keys.
    const junk = Buffer.alloc(4096, 'j')
    let round = 0
    while ((await raw.exists(...gens)) > 0) {
      if (++round > 400) throw new Error('token keys still present after 400 rounds of junk')
      const pipe = raw.pipeline()
      for (let i = 0; i < 40; i++) pipe.set(`junk:${round}:${i}`, junk)
      for (const k of keys) pipe.get(k)
      await pipe.exec()
    }
    const evicted = Number(/evicted_keys:(\d+)/.exec(await raw.info('stats'))?.[1])
    assert.ok(evicted > 0, `Redis evicted keys (${evicted})`)
    // entries LRU took as well are put back as they were: the entry survived, its tokens did not
    let survived = 0
    for (let i = 0; i < keys.length; i++) {
      if ((await raw.exists(keys[i]!)) === 1) survived++
      else await raw.set(keys[i]!, saved[i]!, 'PX', 60_000)
    }

    // before the purge too: an absent token is a mismatch, never a hit
    const early = await site.get(paths[0]!, { headers: H })
    assert.match(
      early.headers['cache-status'] ?? '',
      STORED_MISS,
      `absent tokens are misses (${survived} entries survived LRU on their own)`,
    )
    assert.is(early.body, '#2 GET /products/0 cookie=')

    await site.cache.purge({ tags: ['products'] })
    for (const p of paths) {
      const res = await site.get(p, { headers: H })
      assert.not.match(res.headers['cache-status'] ?? '', /hit/, `GET ${p}`)
      assert.is.not(res.body, `#1 GET ${p} cookie=`)
    }
  },
)

s(
  'Redis killed: purge rejects, the admin endpoint answers 503 (never 200), requests are still answered',
  async () => {
    const r = await redis()
    const cache: Cache = await createCache({
      policies: policyDir(POLICY),
      store: r.url,
      logger: { error() {}, warn() {}, info() {}, debug() {} },
    })
    const origin = createOrigin()
    const app = new Koa()
    app.use(cache.admin({ path: '/_cachet/purge', token: TOKEN }))
    app.use(cache.middleware())
    app.use(origin.middleware)
    const srv: Listening = await listen(app)
    closers.push(async () => {
      await srv.close()
      await cache.close()
    })

    const first = await request(`${srv.url}/products/3`)
    assert.match(first.headers['cache-status'] ?? '', STORED_MISS)
    const ok = await request(`${srv.url}/_cachet/purge`, {
      method: 'POST',
      body: '{"tags":["product:3"]}',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    })
    assert.is(ok.status, 200)

    await r.kill()
    let err: unknown
    try {
      await cache.purge({ tags: ['product:3'] })
    } catch (e) {
      err = e
    }
    assert.instance(err, Error, 'purge rejects while Redis is down')
    assert.not.instance(err, TypeError)

    for (let i = 0; i < 3; i++) {
      const res = await request(`${srv.url}/_cachet/purge`, {
        method: 'POST',
        body: '{"tags":["product:3"],"all":true}',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      })
      assert.is(res.status, 503)
      assert.is(res.headers['cache-control'], 'no-store')
      assert.is(JSON.parse(res.body).ok, false)
    }
    const served = await request(`${srv.url}/products/3`)
    assert.is(served.status, 200)
    assert.is(served.body, '#2 GET /products/3 cookie=')
    assert.is(served.headers['cache-status'], 'cachet; fwd=miss; detail=store-unavailable')

    // back up: purges are recorded again
    await r.restart()
    await eventually(() => cache.store.ready, 'store reconnected', 15_000)
    const back = await cache.purge({ tags: ['product:3'] })
    assert.is(back.generations, 1)
  },
)

s.run()
