/**
 * What `explain` and `cachet test` say about storing is what the middleware does: for each
 * response below, a real Koa app behind the cache answers it over real HTTP, and explain's
 * `storage` (given the same status and headers) agrees on whether the entry is in the store, on
 * its freshness (the stored entry's expires − storedAt) and, when it is not stored, on why.
 */
import type { Context } from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeEntry } from '../../src/request/entry.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /p/**
      statuses: { 200: 5m, 404: 30s }
      maxBodySize: 1kb
      key:
        cookies: []
`)

interface Row {
  path: string
  status: number
  headers: Record<string, string>
  body?: string
  /** null: stored; else the reason explain gives */
  reason: string | null
}

const ROWS: Row[] = [
  { path: '/p/plain', status: 200, headers: {}, reason: null },
  { path: '/p/missing', status: 404, headers: {}, reason: null },
  { path: '/p/stated', status: 200, headers: { 'cache-control': 'max-age=7' }, reason: null },
  { path: '/p/aged', status: 200, headers: { 'cache-control': 'max-age=100', age: '40' }, reason: null },
  { path: '/p/revalidate', status: 200, headers: { 'cache-control': 'no-cache', etag: '"a"' }, reason: null },
  { path: '/p/style.css', status: 200, headers: { 'content-type': 'text/css' }, reason: null },
  { path: '/p/error', status: 500, headers: {}, reason: 'status' },
  { path: '/p/cookie', status: 200, headers: { 'set-cookie': 'a=1' }, reason: 'set-cookie' },
  { path: '/p/private', status: 200, headers: { 'cache-control': 'private' }, reason: 'private' },
  { path: '/p/nostore', status: 200, headers: { 'cache-control': 'no-store' }, reason: 'no-store' },
  { path: '/p/nocache', status: 200, headers: { 'cache-control': 'no-cache' }, reason: 'no-cache' },
  { path: '/p/varystar', status: 200, headers: { vary: '*' }, reason: 'vary-star' },
  { path: '/p/expired', status: 200, headers: { 'cache-control': 'max-age=0' }, reason: 'expired' },
  { path: '/p/account.css', status: 200, headers: { 'content-type': 'text/html' }, reason: 'content-type' },
  { path: '/p/big', status: 200, headers: {}, body: 'x'.repeat(2000), reason: 'too-large' },
]

const s = suite('explain and the middleware store alike')
const sites = siteTracker()
s.after.each(sites.closeAll)

s('every response: explain storage = what the middleware stored, for how long, or why not', async () => {
  const site = await sites.start({ policies: policyDir(POLICY) })
  for (const row of ROWS) {
    site.origin.route(row.path, (ctx: Context) => {
      ctx.status = row.status
      for (const [k, v] of Object.entries(row.headers)) ctx.set(k, v)
      if (row.headers['content-type'] === undefined) ctx.type = 'text/plain'
      ctx.body = row.body ?? `body of ${row.path}`
    })
  }
  for (const row of ROWS) {
    const res = await site.get(row.path)
    assert.is(res.status, row.status, row.path)
    // the headers explain is given are the ones the application sent (framing included)
    const sent: Record<string, string> = { 'content-type': res.headers['content-type']!, ...row.headers }
    sent['content-length'] = res.headers['content-length']!
    const x = site.cache.explain({
      method: 'GET',
      url: row.path,
      headers: { host: site.host },
      response: { status: row.status, headers: sent },
    })
    const storage = x.storage!
    assert.is(storage.reason, row.reason, `${row.path}: explain's reason`)
    if (row.reason === null) {
      await site.waitStored(row.path)
      const entry = decodeEntry((await site.cache.store.get(x.key!))!)!
      assert.is(storage.ttl! * 1000, entry.expires - entry.storedAt, `${row.path}: freshness`)
      assert.match(cs(res) ?? '', /; stored$/, row.path)
    } else {
      assert.is(await site.isStored(row.path), false, `${row.path} is not in the store`)
      assert.not.match(cs(res) ?? '', /stored/, row.path)
    }
  }
  // the deception guard says so in Cache-Status too
  assert.is(cs(await site.get('/p/account.css')), 'cachet; fwd=uri-miss; detail=content-type')
})

s(
  'a field the Connection header names is dropped before deciding, by explain as by the middleware',
  async () => {
    const site = await sites.start({ policies: policyDir(POLICY) })
    const headers = { connection: 'authorization', authorization: 'Bearer x' }
    // a proxy downstream would drop Authorization (RFC 9110 §7.6.1): so the key never sees it
    const x = site.cache.explain({ url: '/p/plain', headers: { host: site.host, ...headers } })
    assert.equal([x.decision, x.removed.headers], ['lookup', ['authorization']])
    const res = await site.get('/p/plain', { headers })
    assert.is(cs(res), 'cachet; fwd=uri-miss; stored')
  },
)

s.run()
