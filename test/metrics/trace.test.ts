/**
 * Tracing hooks (issue 9 item 5): diagnostics_channel subscribers of cachet:request,
 * cachet:store and cachet:purge see exactly these messages for a miss, a hit, a bypass, an
 * unmatched request, an answer not stored, a purge and an invalidation, over real HTTP; with no
 * subscriber nothing is published and nothing is noted on the request.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import Koa, { type Context } from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import type { PurgeMessage, RequestMessage, StoreMessage } from '../../src/metrics/trace.js'
import { eventually, listen as listenOn, request } from '../helpers/http.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: writes
      match: /pages/**
      methods: [POST]
    - id: pages
      match: /pages/**
      ttl: 1m
      key: { query: none }
`)

const s = suite('diagnostics_channel: cachet:request, cachet:store, cachet:purge')
const sites = siteTracker()

type Seen = { request: RequestMessage[]; store: StoreMessage[]; purge: PurgeMessage[] }
let seen: Seen
const onRequest = (m: unknown) => void seen.request.push(m as RequestMessage)
const onStore = (m: unknown) => void seen.store.push(m as StoreMessage)
const onPurge = (m: unknown) => void seen.purge.push(m as PurgeMessage)

function listen(): void {
  seen = { request: [], store: [], purge: [] }
  subscribe('cachet:request', onRequest)
  subscribe('cachet:store', onStore)
  subscribe('cachet:purge', onPurge)
}
function stopListening(): void {
  unsubscribe('cachet:request', onRequest)
  unsubscribe('cachet:store', onStore)
  unsubscribe('cachet:purge', onPurge)
}

s.before.each(listen)
s.after.each(async () => {
  stopListening()
  await sites.closeAll()
})

/** a request message without its ctx, req, res and duration, which the tests check apart */
function plain(m: RequestMessage): Omit<RequestMessage, 'ctx' | 'req' | 'res' | 'durationMs'> {
  const { ctx: _ctx, req: _req, res: _res, durationMs, ...rest } = m
  assert.type(durationMs, 'number')
  assert.ok(durationMs >= 0)
  return rest
}

async function site(): Promise<Site> {
  const st = await sites.start({ policies: policyDir(POLICY), name: 'shop' })
  st.origin
    .route('/pages/cookie', (ctx) => {
      ctx.set('Set-Cookie', 'session=1')
      ctx.body = 'with a cookie'
    })
    .route('/pages/boom', () => {
      throw new Error('the application failed')
    })
  return st
}

s('a miss then a hit: one request message each, and one store message for the write', async () => {
  const st = await site()
  const miss = await st.get('/pages/a')
  assert.is(cs(miss), 'shop; fwd=uri-miss; stored')
  await st.waitStored('/pages/a')
  const key = st.key('/pages/a')
  assert.equal(seen.request.map(plain), [
    {
      cache: 'shop',
      rule: 'pages',
      outcome: 'miss',
      reason: null,
      method: 'GET',
      url: '/pages/a',
      status: 200,
      key,
    },
  ])
  assert.equal(seen.store, [
    {
      cache: 'shop',
      rule: 'pages',
      key,
      outcome: 'stored',
      reason: null,
      status: 200,
      bytes: Buffer.byteLength(miss.body),
      freshMs: 60_000,
      background: false,
    },
  ])
  const hit = await st.get('/pages/a')
  assert.match(cs(hit) ?? '', /^shop; hit; ttl=/)
  assert.is(seen.request.length, 2)
  assert.equal(plain(seen.request[1]!), {
    cache: 'shop',
    rule: 'pages',
    outcome: 'hit',
    reason: null,
    method: 'GET',
    url: '/pages/a',
    status: 200,
    key,
  })
  assert.is(seen.store.length, 1, 'a hit stores nothing')
  assert.is(st.origin.calls('/pages/a'), 1)
})

s('the request message carries the Koa context of that request', async () => {
  const st = await site()
  await st.get('/pages/b?x=1', { headers: { 'x-trace': 'abc' } })
  assert.is(seen.request.length, 1)
  const { ctx, req, res } = seen.request[0]!
  assert.ok(ctx !== undefined, 'the middleware always has a context')
  assert.is(req, ctx.req)
  assert.is(res, ctx.res)
  assert.is(ctx.app, st.app)
  assert.is(ctx.get('x-trace'), 'abc')
  assert.is(ctx.path, '/pages/b')
  assert.is(ctx.querystring, '', 'what the application saw: the unkeyed query removed')
})

s('a bypass says why, with no key; an unmatched request has no rule and no outcome', async () => {
  const st = await site()
  await st.get('/pages/a', { headers: { cookie: 'x=1' } })
  await st.get('/other?q=1')
  assert.equal(seen.request.map(plain), [
    {
      cache: 'shop',
      rule: 'pages',
      outcome: 'bypass',
      reason: 'cookie',
      method: 'GET',
      url: '/pages/a',
      status: 200,
      key: null,
    },
    {
      cache: 'shop',
      rule: null,
      outcome: null,
      reason: null,
      method: 'GET',
      url: '/other?q=1',
      status: 200,
      key: null,
    },
  ])
  assert.equal(seen.store, [])
})

s('an answer not stored: a store message with the reason and the status', async () => {
  const st = await site()
  const r = await st.get('/pages/cookie')
  assert.is(cs(r), 'shop; fwd=uri-miss')
  assert.equal(seen.store, [
    {
      cache: 'shop',
      rule: 'pages',
      key: st.key('/pages/cookie'),
      outcome: 'not-stored',
      reason: 'set-cookie',
      status: 200,
      bytes: null,
      freshMs: null,
      background: false,
    },
  ])
  assert.equal(
    seen.request.map((m) => m.outcome),
    ['miss'],
  )
})

s('downstream throws: the message still goes out, with the error and the outcome counted', async () => {
  const st = await site()
  const r = await st.get('/pages/boom')
  assert.is(r.status, 500)
  assert.is(seen.request.length, 1)
  const m = seen.request[0]!
  assert.is(m.outcome, 'miss')
  assert.is(m.rule, 'pages')
  assert.instance(m.error, Error)
  assert.is((m.error as Error).message, 'the application failed')
})

s('purge() and an invalidation after POST: one cachet:purge message each', async () => {
  const st = await site()
  await st.cache.purge({ tags: ['product:1'], urls: ['/pages/a'] })
  assert.equal(seen.purge, [
    {
      cache: 'shop',
      source: 'purge',
      tags: ['product:1'],
      urls: ['/pages/a'],
      rules: [],
      all: false,
      generations: 2,
    },
  ])
  await st.get('/pages/a', { method: 'POST', body: 'x' })
  assert.equal(seen.purge[1], {
    cache: 'shop',
    source: 'invalidation',
    rule: 'writes',
    method: 'POST',
    path: '/pages/a',
    generations: 1,
  })
  assert.equal(plain(seen.request.at(-1)!), {
    cache: 'shop',
    rule: 'writes',
    outcome: 'bypass',
    reason: 'method',
    method: 'POST',
    url: '/pages/a',
    status: 200,
    key: null,
  })
})

s.run()

const none = suite('diagnostics_channel: nobody subscribed')
const closing: (() => Promise<void>)[] = []
none.after.each(async () => {
  for (const c of closing.splice(0)) await c()
})

none(
  'nothing is published and nothing is noted on the request; a late subscriber sees only what follows',
  async () => {
    const cache = await createCache({ policies: policyDir(POLICY) })
    const contexts: Context[] = []
    const app = new Koa()
    app.use(async (ctx, next) => {
      contexts.push(ctx)
      await next()
    })
    app.use(cache.middleware())
    app.use((ctx) => {
      ctx.body = `body of ${ctx.path}`
    })
    const srv = await listenOn(app)
    closing.push(
      () => srv.close(),
      () => cache.close(),
    )
    const st = {
      get: (path: string, opts?: Parameters<typeof request>[1]) => request(srv.url + path, opts),
      waitStored: (path: string) =>
        eventually(async () => {
          const key = cache.explain({
            method: 'GET',
            url: path,
            headers: { host: `127.0.0.1:${srv.port}` },
          }).key
          return key !== null && (await cache.store.get(key)) !== undefined
        }, 'stored'),
      cache,
    }
    await st.get('/pages/a')
    await st.waitStored('/pages/a')
    await st.get('/pages/a')
    await st.get('/pages/a', { headers: { cookie: 'x=1' } })
    await st.cache.purge({ all: true })
    assert.is(contexts.length, 3)
    for (const ctx of contexts) {
      const own = Object.getOwnPropertySymbols(ctx).map(String)
      assert.equal(
        own.filter((sym) => sym.includes('cachet')),
        [],
        'no outcome noted without a subscriber',
      )
    }
    listen()
    try {
      await st.get('/pages/a')
      assert.equal(
        seen.request.map((m) => m.outcome),
        ['miss'],
        'only the request made after subscribing (the purge emptied the cache)',
      )
      assert.is(seen.purge.length, 0, 'the purge before subscribing was not published')
    } finally {
      stopListening()
    }
    await st.get('/pages/a')
    assert.is(seen.request.length, 1, 'nothing after unsubscribing')
  },
)

none.run()
