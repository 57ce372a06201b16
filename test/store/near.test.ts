/**
 * The near cache (src/store/near.ts) against a real redis-server: two stores (and two cachet
 * instances with their own Koa servers) on one Redis, each with its own near cache and tracking
 * connection. Faults are Redis' own: CLIENT KILL of the tracking connection, an ACL that refuses
 * CLIENT TRACKING, a restart. "No round trip" is read off `INFO commandstats`, never off a clock.
 */
import { createServer } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { serveCommand, startServe } from '../../src/cli/serve.js'
import { createStore } from '../../src/store/create.js'
import { NearStore } from '../../src/store/near.js'
import { RedisStore } from '../../src/store/redis.js'
import type { Store } from '../../src/store/types.js'
import { runCli } from '../helpers/cli.js'
import { eventually, request } from '../helpers/http.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const HIT = /^cachet; hit; ttl=\d+$/
const STORED_MISS = /^cachet; fwd=uri-miss; stored$/

/** `INFO commandstats` calls of one command (0 when Redis has not seen it yet). */
async function calls(r: RedisProc, cmd: string): Promise<number> {
  const info = await r.cli('INFO', 'commandstats')
  const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)
  return m ? Number(m[1]) : 0
}
/** GET and MGET calls: every read of an entry the Redis path makes. */
async function reads(r: RedisProc): Promise<number> {
  return (await calls(r, 'get')) + (await calls(r, 'mget'))
}
/** The client id of the connection named `name` (CLIENT LIST). */
async function clientId(r: RedisProc, name: string): Promise<string> {
  const list = await r.cli('CLIENT', 'LIST')
  const line = list.split('\n').find((l) => new RegExp(`\\bname=${name}\\b`).test(l))
  if (!line) throw new Error(`no client named ${name} in:\n${list}`)
  return /\bid=(\d+)/.exec(line)![1]!
}

// ---------------------------------------------------------------------------------------------

const st = suite('near cache: the store')
let redis: RedisProc
const open: Store[] = []
st.before(async () => {
  redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
st.after.each(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
  await redis.cli('FLUSHALL')
})
st.after(async () => {
  await redis.stop()
})

async function near(opts: { maxBytes?: number; wait?: boolean } = {}): Promise<NearStore> {
  const { store } = createStore(
    { redis: redis.url, near: opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes } },
    { name: 'test', readDeadlineMs: 2000 },
  )
  assert.instance(store, NearStore)
  open.push(store)
  const n = store as NearStore
  if (opts.wait !== false) {
    assert.ok(await n.waitReady(5000), 'connected')
    assert.ok(await n.waitTracking(5000), 'tracking on')
  }
  return n
}
const v = (s: string) => Buffer.from(s)

st('a near hit sends nothing to Redis; without near every read is a round trip', async () => {
  const a = await near()
  const [g] = await a.tokens(['test:g:t:x'], 60_000)
  await a.set('test:k', v('one'), 60_000)
  // the invalidations of these two writes come back to A too: let them land before reading
  await a.sync()
  const first = await a.getWithTokens('test:k', ['test:g:t:x'])
  assert.equal(first[0]?.toString(), 'one')
  assert.equal(first[1], [g])
  const before = await reads(redis)
  for (let i = 0; i < 10; i++) {
    const [value, tokens] = await a.getWithTokens('test:k', ['test:g:t:x'])
    assert.equal(value?.toString(), 'one')
    assert.equal(tokens, [g])
  }
  assert.is(await reads(redis), before, 'no GET or MGET reached Redis')
  assert.is(a.near.hits, 10)

  // the same reads on the plain Redis store: one MGET each
  const { store: plain } = createStore(redis.url, { name: 'test' })
  open.push(plain)
  assert.instance(plain, RedisStore)
  assert.ok(await (plain as RedisStore).waitReady(5000))
  const b0 = await calls(redis, 'mget')
  for (let i = 0; i < 10; i++) await plain.getWithTokens('test:k', ['test:g:t:x'])
  assert.is(await calls(redis, 'mget'), b0 + 10)
})

st('a write or a purge by another instance drops the near copy within one round trip', async () => {
  const a = await near()
  const b = await near()
  await a.set('test:k', v('old'), 60_000)
  const [g] = await a.tokens(['test:g:u:1'], 60_000)
  await a.sync()
  await a.getWithTokens('test:k', ['test:g:u:1'])
  assert.is((await a.getWithTokens('test:k', ['test:g:u:1']))[0]?.toString(), 'old')
  assert.is(a.near.hits, 1, 'held near')

  // a new entry written by B
  await b.set('test:k', v('new'), 60_000)
  await a.sync()
  assert.is((await a.get('test:k'))?.toString(), 'new')

  // a purge by B: a fresh token; A's copy of the old one is gone
  await b.bump(['test:g:u:1'], 60_000)
  await a.sync()
  const [, tokens] = await a.getWithTokens('test:k', ['test:g:u:1'])
  assert.ok(tokens[0] !== undefined && tokens[0] !== g, 'the new token, not the near copy of the old one')

  // a delete by B, and a FLUSHALL by anyone
  await b.delete(['test:k'])
  await a.sync()
  assert.is(await a.get('test:k'), undefined)
  await b.set('test:k', v('again'), 60_000)
  assert.is((await a.get('test:k'))?.toString(), 'again')
  assert.is((await a.get('test:k'))?.toString(), 'again')
  await redis.cli('FLUSHALL')
  await a.sync()
  assert.is(await a.get('test:k'), undefined)
})

st("this instance's own purge, write and delete drop its near copies before they are sent", async () => {
  const a = await near()
  await a.set('test:k', v('old'), 60_000)
  const [g] = await a.tokens(['test:g:u:2'], 60_000)
  await a.sync()
  for (let i = 0; i < 2; i++) await a.getWithTokens('test:k', ['test:g:u:2'])
  assert.is(a.near.hits, 1, 'held near')
  // no sync, no waiting for the tracker: the very next read must not see the old token
  await a.bump(['test:g:u:2'], 60_000)
  const [, [t]] = await a.getWithTokens('test:k', ['test:g:u:2'])
  assert.ok(t !== undefined && t !== g, 'not the old token')
  await a.get('test:k')
  await a.set('test:k', v('new'), 60_000)
  assert.is((await a.get('test:k'))?.toString(), 'new')
  await a.get('test:k')
  await a.delete(['test:k'])
  assert.is(await a.get('test:k'), undefined)
})

st('a read raced by writes of another instance never leaves an old value behind', async () => {
  const a = await near()
  const b = await near()
  for (let i = 0; i < 100; i++) {
    await b.set('test:race', v(`v${i}`), 60_000)
    // A reads while B overwrites: whichever order Redis runs them in, and whichever socket
    // A hears from first, what A holds afterwards must be the last write
    const reading = a.get('test:race')
    const writing = b.set('test:race', v(`w${i}`), 60_000)
    await Promise.all([reading, writing])
    await a.sync()
    assert.is((await a.get('test:race'))?.toString(), `w${i}`, `round ${i}`)
  }
})

st(
  'the tracking connection killed: near copies are dropped, reads go to Redis, then it comes back',
  async () => {
    const a = await near()
    const b = await near()
    await b.set('test:k', v('one'), 60_000)
    await a.sync()
    await a.get('test:k')
    assert.is((await a.get('test:k'))?.toString(), 'one')
    assert.is(a.near.entries, 1)
    const flushes = a.near.flushes

    // refuse CLIENT TRACKING so that the tracker cannot come back yet, then kill it
    await redis.cli('ACL', 'SETUSER', 'default', '-client|tracking')
    try {
      await redis.cli('CLIENT', 'KILL', 'ID', await clientId(redis, 'test-near'))
      await eventually(() => a.near.flushes > flushes, 'the near cache flushed')
      assert.is(a.near.tracking, false)
      assert.is(a.near.entries, 0)
      // what B writes now, A cannot hear about: A must read it from Redis
      await b.set('test:k', v('two'), 60_000)
      const before = await reads(redis)
      assert.is((await a.get('test:k'))?.toString(), 'two')
      assert.is((await a.get('test:k'))?.toString(), 'two')
      assert.is(await reads(redis), before + 2, 'bypassed: each read went to Redis')
      assert.is(a.near.entries, 0, 'nothing kept while tracking is off')
    } finally {
      await redis.cli('ACL', 'SETUSER', 'default', '+client|tracking')
    }
    assert.ok(await a.waitTracking(5000), 'tracking back')
    await a.sync()
    await a.get('test:k')
    const before = await reads(redis)
    assert.is((await a.get('test:k'))?.toString(), 'two')
    assert.is(await reads(redis), before, 'near hits again')
    await b.set('test:k', v('three'), 60_000)
    await a.sync()
    assert.is((await a.get('test:k'))?.toString(), 'three')
  },
)

st('a Redis restart: nothing held from before is served', async () => {
  const a = await near()
  await a.set('test:k', v('one'), 60_000)
  await a.sync()
  await a.get('test:k')
  assert.is((await a.get('test:k'))?.toString(), 'one')
  assert.is(a.near.entries, 1)
  await redis.restart()
  // the data is gone with the restart (no persistence): a near copy would still say "one"
  await eventually(() => a.ready && a.near.tracking, 'reconnected, tracking on', 10_000)
  assert.is(await a.get('test:k'), undefined)
  await a.set('test:k', v('two'), 60_000)
  assert.is((await a.get('test:k'))?.toString(), 'two')
})

st('bounded by maxBytes, counted like the memory store', async () => {
  const a = await near({ maxBytes: 16 * 1024 })
  const body = Buffer.alloc(1000, 120)
  for (let i = 0; i < 40; i++) await a.set(`test:e${i}`, body, 60_000)
  for (let i = 0; i < 40; i++) assert.equal(await a.get(`test:e${i}`), body)
  assert.ok(a.near.bytes <= 16 * 1024, `${a.near.bytes} bytes held`)
  assert.ok(a.near.entries > 5 && a.near.entries < 40, `${a.near.entries} entries held`)
})

st('option errors: Cluster, Sentinel, bad maxBytes', () => {
  assert.throws(
    () => createStore({ cluster: [{ host: '127.0.0.1', port: 1 }], near: {} }, { name: 'test' }),
    /near option needs one Redis server/,
  )
  assert.throws(
    () =>
      createStore(
        { redis: { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'm' }, near: {} },
        { name: 'test' },
      ),
    /not supported with Sentinel/,
  )
  assert.throws(() => createStore({ redis: redis.url, near: { maxBytes: -1 } }, { name: 'test' }), /maxBytes/)
  assert.throws(() => createStore({ redis: redis.url, near: 'yes' }, { name: 'test' }), /store\.near option/)
  const { store } = createStore({ redis: redis.url, near: false }, { name: 'test' })
  open.push(store)
  assert.instance(store, RedisStore)
})

st.run()

// ---------------------------------------------------------------------------------------------

const POLICY = yaml(`
  version: 1
  rules:
    - id: products
      match: /products/*
      ttl: 1m
      tags: [products, "product:{path.2}"]
`)

const two = suite('near cache: two cachet instances on one Redis')
const sites = siteTracker()
let r2: RedisProc
two.before(async () => {
  r2 = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
two.after.each(async () => {
  instances.length = 0
  await sites.closeAll()
  await r2.cli('FLUSHALL')
})
two.after(async () => {
  await r2.stop()
})

const instances: Site[] = []
async function instance(nearOn = true): Promise<Site> {
  const site = await sites.start({
    policies: policyDir(POLICY),
    store: nearOn ? { redis: r2.url, near: {} } : r2.url,
  })
  if (nearOn) assert.ok(await (site.cache.store as NearStore).waitTracking(5000), 'tracking on')
  instances.push(site)
  return site
}
/**
 * The entry for `path` is in Redis, and every instance has applied the invalidations its writes
 * caused (a stored entry also extends its tokens' lives, which Redis reports as changes): so the
 * next hit reads from Redis at most once, and the one after is near.
 */
async function stored(site: Site, path: string): Promise<void> {
  await site.waitStored(path, H)
  for (const s of instances) if (s.cache.store instanceof NearStore) await s.cache.store.sync()
}
/** one Host for every instance, so that they share keys (the key includes the host) */
const H = { host: 'shop.example' }
const get = (s: Site, path: string) => s.get(path, { headers: H })
const nearOf = (s: Site) => (s.cache.store as NearStore).near

/** A hit on `site` for `path`, served from its near cache: asserted by Redis' own counters. */
async function nearHit(site: Site, path: string): Promise<void> {
  const before = await reads(r2)
  const res = await get(site, path)
  assert.match(cs(res) ?? '', HIT)
  assert.is(await reads(r2), before, `GET ${path}: no read reached Redis`)
}

two('a hit from the near cache costs Redis no read; the same hits without it cost one each', async () => {
  const a = await instance()
  assert.match(cs(await get(a, '/products/1')) ?? '', STORED_MISS)
  await stored(a, '/products/1')
  assert.match(cs(await get(a, '/products/1')) ?? '', HIT)
  const before = await reads(r2)
  for (let i = 0; i < 10; i++) {
    const res = await get(a, '/products/1')
    assert.match(cs(res) ?? '', HIT)
    assert.is(res.body, '#1 GET /products/1 cookie=')
  }
  assert.is(await reads(r2), before, 'ten hits, no GET or MGET')
  assert.is(a.origin.calls('/products/1'), 1)
  const near = a.cache.stats().store.near
  assert.ok(near?.tracking && near.hits >= 10 && near.entries > 0, JSON.stringify(near))
  const prom = a.cache.prometheus()
  assert.match(prom, `cachet_near_reads_total{cache="cachet",outcome="hit"} ${near.hits}\n`)
  assert.match(prom, 'cachet_near_tracking{cache="cachet"} 1\n')

  const plain = await instance(false)
  assert.match(cs(await get(plain, '/products/1')) ?? '', HIT)
  const b0 = await reads(r2)
  for (let i = 0; i < 10; i++) assert.match(cs(await get(plain, '/products/1')) ?? '', HIT)
  assert.is(await reads(r2), b0 + 10, 'the plain Redis path: one read per hit, as before')
  assert.is(plain.cache.stats().store.near, undefined)
  assert.not.match(plain.cache.prometheus(), /^cachet_near_tracking\{/m)
})

two('a purge by URL on one instance: the other never serves the purged entry', async () => {
  const a = await instance()
  const b = await instance()
  assert.match(cs(await get(a, '/products/1')) ?? '', STORED_MISS)
  await stored(a, '/products/1')
  // both hold it near
  for (const s of [a, b]) {
    assert.match(cs(await get(s, '/products/1')) ?? '', HIT)
    await nearHit(s, '/products/1')
  }
  assert.is(b.origin.calls('/products/1'), 0)

  await a.cache.purge({ urls: ['/products/1'] })
  const res = await get(b, '/products/1')
  assert.match(cs(res) ?? '', STORED_MISS, 'B asks its origin')
  assert.is(b.origin.calls('/products/1'), 1)
  assert.is(res.body, '#1 GET /products/1 cookie=')
  // and A does not serve its own old copy either
  await stored(b, '/products/1')
  const again = await get(a, '/products/1')
  assert.match(cs(again) ?? '', HIT)
  assert.is(again.body, '#1 GET /products/1 cookie=', "B's new entry, not A's old one")
  assert.is(a.origin.calls('/products/1'), 1)
})

two('a purge by tag on one instance: the other never serves the purged entries', async () => {
  const a = await instance()
  const b = await instance()
  for (const p of ['/products/1', '/products/2']) {
    assert.match(cs(await get(b, p)) ?? '', STORED_MISS)
    await stored(b, p)
    assert.match(cs(await get(a, p)) ?? '', HIT)
    await nearHit(a, p)
  }
  await b.cache.purge({ tags: ['product:2'] })
  assert.match(cs(await get(a, '/products/2')) ?? '', STORED_MISS)
  assert.is(a.origin.calls('/products/2'), 1)
  // the other product is untouched (A's miss above extended the shared "products" token's life,
  // which Redis reports as a change: the next hit re-reads it, the one after is near again)
  await stored(a, '/products/2')
  assert.match(cs(await get(a, '/products/1')) ?? '', HIT)
  await nearHit(a, '/products/1')

  await b.cache.purge({ tags: ['products'] })
  assert.match(cs(await get(a, '/products/1')) ?? '', STORED_MISS)
  assert.is(a.origin.calls('/products/1'), 1)
  assert.is(nearOf(a).tracking, true)
})

two(
  'the tracking connection killed: the instance stays correct, then uses its near cache again',
  async () => {
    const a = await instance()
    const b = await instance()
    assert.match(cs(await get(b, '/products/1')) ?? '', STORED_MISS)
    await stored(b, '/products/1')
    assert.match(cs(await get(a, '/products/1')) ?? '', HIT)
    await nearHit(a, '/products/1')
    const flushes = nearOf(a).flushes
    await r2.cli('CLIENT', 'KILL', 'ID', await clientId(r2, 'cachet-near'))
    await eventually(() => nearOf(a).flushes > flushes, 'A flushed its near cache')
    // whether or not A's tracking is back yet, B's purge must hold on A
    await b.cache.purge({ urls: ['/products/1'] })
    assert.match(cs(await get(a, '/products/1')) ?? '', STORED_MISS)
    assert.is(a.origin.calls('/products/1'), 1)
    await stored(a, '/products/1')
    assert.ok(await (a.cache.store as NearStore).waitTracking(5000), 'tracking back')
    assert.match(cs(await get(a, '/products/1')) ?? '', HIT)
    await nearHit(a, '/products/1')
  },
)

two.run()

// ---------------------------------------------------------------------------------------------

const serve = suite('near cache: cachet serve --redis')
let r3: RedisProc
let upstream: ReturnType<typeof createServer>
let upstreamUrl: string
let upstreamCalls = 0
serve.before(async () => {
  r3 = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  upstream = createServer((_req, res) => {
    upstreamCalls++
    res.setHeader('Cache-Control', 'max-age=60')
    res.setHeader('Content-Type', 'text/plain')
    res.end(`call ${upstreamCalls}`)
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`
})
serve.after(async () => {
  await new Promise((r) => upstream.close(r))
  await r3.stop()
})

serve('on by default: hits come from the near cache; --near-bytes 0 is the plain Redis store', async () => {
  const s = await startServe({ upstream: upstreamUrl, port: 0, host: '127.0.0.1', store: r3.url })
  try {
    assert.instance(s.cache.store, NearStore)
    assert.ok(await (s.cache.store as NearStore).waitTracking(5000))
    // (a streamed proxy response is stored after it is sent: no "; stored" on it)
    assert.match(cs(await request(`${s.url}/a`)) ?? '', /^cachet; fwd=uri-miss/)
    await eventually(async () => (await r3.cli('DBSIZE')) !== '0', 'stored')
    await eventually(async () => HIT.test(cs(await request(`${s.url}/a`)) ?? ''), 'a hit')
    const before = await reads(r3)
    const res = await request(`${s.url}/a`)
    assert.match(cs(res) ?? '', HIT)
    assert.is(res.body, 'call 1')
    assert.is(await reads(r3), before, 'a near hit')
  } finally {
    await s.stop(0)
  }
  const plain = await startServe({
    upstream: upstreamUrl,
    port: 0,
    host: '127.0.0.1',
    store: r3.url,
    nearBytes: 0,
  })
  try {
    assert.instance(plain.cache.store, RedisStore)
  } finally {
    await plain.stop(0)
  }
})

serve('--near-bytes must be a whole number', async () => {
  const { code, err } = await runCli(serveCommand, [
    '--upstream',
    upstreamUrl,
    '--redis',
    r3.url,
    '--near-bytes',
    '1mb',
  ])
  assert.is(code, 2)
  assert.match(err, '--near-bytes must be a non-negative integer, got "1mb"')
})

serve.run()
