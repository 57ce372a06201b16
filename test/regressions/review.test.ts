/**
 * Regressions found by a review of the request path (middleware, capture, proxy, purge). Each test
 * states the behaviour the spec promises and fails while the bug is there; the report that came
 * with this file names the cause (file:line) and a fix for each.
 */
import { request as httpRequest } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import Koa, { type Context, type Middleware } from 'koa'
import { createCache, type Cache } from '../../src/create-cache.js'
import { startServe, type Serving } from '../../src/cli/serve.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import type { Logger } from '../../src/options.js'
import { listen, request, eventually, type Listening, type HttpResponse } from '../helpers/http.js'
import { createOrigin, siteTracker, cs, type Origin } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { startScriptedOrigin, gate, type ScriptedOrigin } from '../helpers/scripted-origin.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

const PAGES = policyDir(yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: 1m
`))

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} }

const s = suite('review regressions')
const sites = siteTracker()
const closers: (() => Promise<void>)[] = []
s.after.each(async () => {
  await sites.closeAll()
  for (const c of closers.splice(0).reverse()) await c()
  assert.equal(unhandled, [], 'no unhandled rejection')
})

interface App {
  readonly cache: Cache
  readonly origin: Origin
  readonly srv: Listening
  get(target: string, headers?: Record<string, string>): Promise<HttpResponse>
}

/** cache.middleware() between optional outer middleware and a counting origin, on a real server. */
async function app(o: {
  policies?: string; store?: object; clock?: { now(): number }; coalesceWaitMs?: number; outer?: Middleware
} = {}): Promise<App> {
  const cache = await createCache({
    policies: o.policies ?? PAGES, logger: quiet,
    ...(o.store !== undefined ? { store: o.store } : {}),
    ...(o.clock !== undefined ? { clock: o.clock } : {}),
    ...(o.coalesceWaitMs !== undefined ? { coalesceWaitMs: o.coalesceWaitMs } : {}),
  })
  const origin = createOrigin()
  const k = new Koa()
  k.on('error', () => {})
  if (o.outer) k.use(o.outer)
  k.use(cache.middleware())
  k.use(origin.middleware)
  const srv = await listen(k)
  closers.push(async () => { await srv.close(); await cache.close() })
  return { cache, origin, srv, get: (t, headers = {}) => request(srv.url + t, { headers }) }
}

async function serve(origin: ScriptedOrigin): Promise<Serving> {
  const sv = await startServe({ upstream: origin.url, port: 0 })
  closers.push(async () => { await sv.stop(100); await origin.close() })
  return sv
}

// ---------------------------------------------------------------------------------------------
// F1 cache poisoning through cachet serve: the client's X-Forwarded-Host reaches the upstream,
// which is not keyed (app.proxy is off, so the key uses Host). Upstreams that honour it
// (Express trust proxy, Django USE_X_FORWARDED_HOST, Rails) build links from it (Kettle 2018).
s('serve: a client X-Forwarded-Host that the key does not see never reaches the upstream', async () => {
  const origin = await startScriptedOrigin()
  origin.script('/page', (req) => ({
    headers: { 'cache-control': 'max-age=60' },
    body: `xfh=${String(req.headers['x-forwarded-host'])}`,
  }))
  const sv = await serve(origin)
  const a = await request(`${sv.url}/page`, { headers: { 'x-forwarded-host': 'evil.example' } })
  assert.is(cs(a), 'cachet; fwd=uri-miss') // a streamed body: stored once it completed
  await eventually(() => sv.cache.metrics().stores === 1, 'the first answer stored')
  const b = await request(`${sv.url}/page`)
  // the second client never sent X-Forwarded-Host: it must not get a page built for evil.example
  assert.is.not(b.body, 'xfh=evil.example')
  assert.is(origin.requests.some((r) => r.headers['x-forwarded-host'] === 'evil.example'), false,
    'the client-supplied X-Forwarded-Host was forwarded unkeyed')
})

// ---------------------------------------------------------------------------------------------
// F2 cache poisoning through cachet serve: `Connection: accept-language` makes the proxy strip a
// header (proxy.ts endToEnd) that the variant key still reads from ctx.req.headers, so the
// upstream's answer for "no Accept-Language" is stored as the `fr` variant.
s('serve: a header the client names in Connection is not the one the upstream answered for', async () => {
  const origin = await startScriptedOrigin()
  origin.script('/lang', (req) => ({
    headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
    body: `lang=${String(req.headers['accept-language'])}`,
  }))
  const sv = await serve(origin)
  const a = await request(`${sv.url}/lang`, { headers: { 'accept-language': 'fr', connection: 'close, accept-language' } })
  assert.is(a.body, 'lang=undefined') // what the upstream saw
  await eventually(() => sv.cache.metrics().stores === 1, 'the first answer stored')
  const b = await request(`${sv.url}/lang`, { headers: { 'accept-language': 'fr' } })
  assert.is(b.body, 'lang=fr', `a French client got ${JSON.stringify(b.body)} (Cache-Status: ${cs(b)})`)
})

// ---------------------------------------------------------------------------------------------
// F3 key/app mismatch: key/compose.ts lower-cases the host, the application sees it as sent. An
// app that compares host names exactly (tenant lookup, vhost) answers `SHOP.example` differently
// (a 404, a redirect, absolute links) and that answer is served to every `shop.example` visitor.
s('the key sees the Host the application sees: a host differing only in case shares no entry', async () => {
  const a = await app()
  a.origin.route('/h', (ctx) => { ctx.body = `host=${ctx.host}` })
  const r1 = await a.get('/h', { host: 'SHOP.Example' })
  assert.is(r1.body, 'host=SHOP.Example')
  const r2 = await a.get('/h', { host: 'shop.example' })
  assert.is(r2.body, 'host=shop.example', `served ${JSON.stringify(r2.body)} with Cache-Status ${cs(r2)}`)
})

// ---------------------------------------------------------------------------------------------
// F4 wrong variant: middleware.ts variantOf() memoises variant keys by primary key + header
// VALUES only, not the Vary NAMES. When a URL's Vary changes (x-a → x-b), a variant computed for
// x-a=v is returned for a request whose x-b is v, and served although its x-a differs.
s('Vary: a stored variant is never served to a request whose varied headers differ', async () => {
  const a = await app()
  a.origin.route('/v', (ctx, n) => {
    ctx.set('Vary', n === 1 ? 'x-a' : 'x-b')
    ctx.body = `#${n} a=${ctx.get('x-a')} b=${ctx.get('x-b')}`
  })
  const r1 = await a.get('/v', { 'x-a': 'v', 'x-b': 'v' })
  assert.is(r1.body, '#1 a=v b=v')
  const r2 = await a.get('/v', { 'x-a': 'v', 'x-b': 'v' })
  assert.is(r2.body, '#1 a=v b=v') // a hit through the Vary index
  const r3 = await a.get('/v', { 'x-a': 'w', 'x-b': 'v' })
  assert.is(r3.body, '#2 a=w b=v') // another x-a: the origin, which now varies on x-b
  const r4 = await a.get('/v', { 'x-a': 'w', 'x-b': 'v' })
  // #1 varied on x-a and was produced for x-a=v: it does not match x-a=w
  assert.is(r4.body, '#2 a=w b=v', `served ${JSON.stringify(r4.body)} (Cache-Status: ${cs(r4)})`)
})

// ---------------------------------------------------------------------------------------------
// F5 purge: a request that arrives after purge() resolved joins the in-process flight of a fetch
// that began before the purge, and is served its (pre-purge) response: middleware.ts fetch()
// serves the flight's entry without checking its tokens against the current ones.
s('purge: a request arriving after purge() resolved is not served a response fetched before it', async () => {
  const a = await app()
  const g = gate()
  a.origin.route('/f', async (ctx, n) => {
    if (n === 1) await g.promise
    ctx.body = `call ${n}`
  })
  const first = a.get('/f')
  await eventually(() => a.origin.calls('/f') === 1, 'first request at the origin')
  await a.cache.purge({ urls: ['/f'] })
  const second = a.get('/f')
  // misses is counted just before fetch() joins the flight, in the same tick
  await eventually(() => a.cache.metrics().misses === 2, 'second request looked up')
  g.open()
  const [r1, r2] = await Promise.all([first, second])
  assert.is(r1.body, 'call 1')
  assert.is(r2.body, 'call 2', `the post-purge request got ${JSON.stringify(r2.body)} (Cache-Status: ${cs(r2)})`)
})

// ---------------------------------------------------------------------------------------------
// F6 leak: capture() throws for a body JSON.stringify rejects (BigInt, a cycle); the leader then
// never settles its flight (middleware.ts: no finish() on that path), so every later miss for the
// key waits coalesceWaitMs on a promise that never resolves, for the life of the process.
s('a response capture() cannot serialise does not wedge later misses on a dead flight', async () => {
  const a = await app({ coalesceWaitMs: 4000 })
  a.origin.route('/j', (ctx, n) => { ctx.body = n === 1 ? { n: 1n } : { n } })
  const r1 = await a.get('/j')
  assert.is(r1.status, 500)
  const second = a.get('/j')
  second.catch(() => {}) // closed by after.each when it hangs
  await eventually(() => a.origin.calls('/j') === 2, 'the next miss reached the origin before coalesceWaitMs (it waits on the dead flight)', 2000)
  const r2 = await second
  assert.is(r2.body, '{"n":2}')
})

// ---------------------------------------------------------------------------------------------
// F7 never-store rules checked too early: capture() decides on the headers present when the
// inner stack returned; a middleware mounted before cachet (a session layer) that adds Set-Cookie
// after next() goes unseen, and the response, sent with Set-Cookie, is stored.
s('a response that leaves with Set-Cookie (added by an outer middleware after next) is not stored', async () => {
  let sid = 0
  const a = await app({
    outer: async (ctx: Context, next) => {
      await next()
      ctx.set('Set-Cookie', `sid=${++sid}; HttpOnly`)
    },
  })
  a.origin.route('/s', (ctx, n) => { ctx.body = `page for session ${n}` })
  const r1 = await a.get('/s')
  assert.is(r1.headers['set-cookie'], 'sid=1; HttpOnly')
  const r2 = await a.get('/s')
  assert.is(a.origin.calls('/s'), 2, `the Set-Cookie response was replayed (Cache-Status: ${cs(r2)})`)
  assert.is(r2.body, 'page for session 2')
})

// ---------------------------------------------------------------------------------------------
// F8 fail-open: a whole Store (all nine methods) is used as is (store/create.ts isFullStore), so
// none of its calls gets a deadline; the middleware awaits getWithTokens with none either.
// api.md: "The store being down never fails a request"; a hung store here hangs every request.
s('a user Store that never answers does not hang the request', async () => {
  const mem = new MemoryStore()
  const never = new Promise<never>(() => {})
  const hung: Store = {
    kind: 'custom',
    ready: true,
    get: () => never,
    getWithTokens: () => never,
    set: (k, v, t) => mem.set(k, v, t),
    delete: (k) => mem.delete(k),
    close: () => mem.close(),
    tokens: (g, t) => mem.tokens(g, t),
    bump: (g, t) => mem.bump(g, t),
    acquire: (k, tok, t) => mem.acquire(k, tok, t),
    release: (k, tok) => mem.release(k, tok),
  }
  const a = await app({ store: hung })
  const res = a.get('/x')
  res.catch(() => {})
  const outcome = await Promise.race([res, new Promise<'hung'>((r) => { setTimeout(() => r('hung'), 3000).unref() })])
  assert.is.not(outcome, 'hung', 'no answer within 3 s (the read deadline is 250 ms)')
  assert.is((outcome as HttpResponse).status, 200)
})

// ---------------------------------------------------------------------------------------------
// F9 stale-while-revalidate stops refreshing a key for good: scheduleRefresh() adds the key to
// `refreshing` and waits for res 'close'; when the client had already gone (close emitted before),
// it never fires, the key stays in `refreshing`, and no refresh ever runs for it again.
s('SWR: a client that left before its stale answer does not stop the key from ever refreshing', async () => {
  let t = Date.now()
  const clock = { now: () => t }
  const arrived = gate()
  const a = await app({
    clock,
    policies: policyDir(yaml(`
      version: 1
      rules:
        - id: pages
          match: /**
          ttl: 10s
          staleWhileRevalidate: 10m
    `)),
    outer: async (ctx: Context, next) => {
      if (ctx.get('x-leave') === '1') {
        // stands for a slow store read during which the client gives up
        await new Promise<void>((r) => { ctx.res.once('close', () => r()); arrived.open() })
      }
      await next()
    },
  })
  const r1 = await a.get('/p')
  assert.is(cs(r1), 'cachet; fwd=uri-miss; stored')
  t += 20_000 // stale, inside the SWR window
  // a client that leaves while its request is held
  const req = httpRequest({ host: '127.0.0.1', port: a.srv.port, path: '/p', headers: { 'x-leave': '1' }, agent: false })
  req.on('error', () => {})
  req.end()
  await arrived.promise
  req.destroy()
  await eventually(() => a.cache.metrics().staleServed === 1, 'the stale entry was served to the departed client')
  const r3 = await a.get('/p')
  assert.match(r3.headers['cache-status'] ?? '', /^cachet; hit; ttl=-?\d+$/)
  await eventually(() => a.origin.calls('/p') === 2, 'a background refresh of /p ran', 3000)
})

s.run()
