/**
 * issue 7 (unit tests of request/entry.ts): decodeEntry accepted any number as the status, so an
 * entry from a foreign or corrupted writer with status 0 (or 99, 1000, 200.5) decoded, and Koa's
 * status setter threw on replaying it: every hit on that key was a 500 until the entry expired.
 * Such a value is not an entry (entry.ts: "anything else decodes to undefined"), so a miss.
 */
import Koa from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Cache, createCache } from '../../src/create-cache.js'
import { decodeEntry, encodeEntry } from '../../src/request/entry.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import { type Listening, listen, request } from '../helpers/http.js'
import { policyDir, yaml } from '../helpers/policies.js'

const test = suite('issue 7: an entry with an impossible status is a miss, never a 500')

let cache: Cache | undefined
let srv: Listening | undefined
test.after.each(async () => {
  await srv?.close()
  await cache?.close()
})

for (const status of [0, 99, 1000, 200.5]) {
  test(`stored status ${status}: the origin answers, and its answer replaces the entry`, async () => {
    const mem = new MemoryStore()
    let corrupt = false
    // a writer that is not cachet: the entry it leaves at the key carries `status`
    const rewrite = (v: Buffer | undefined) => {
      if (!corrupt || v === undefined) return v
      const e = decodeEntry(v)
      return e?.kind === 'response' ? encodeEntry({ ...e, status }) : v
    }
    const store: Store = {
      kind: 'custom',
      ready: true,
      get: async (k) => rewrite(await mem.get(k)),
      getWithTokens: async (k, g) => {
        const [v, t] = await mem.getWithTokens(k, g)
        return [rewrite(v), t]
      },
      set: (k, v, t) => mem.set(k, v, t),
      delete: (k) => mem.delete(k),
      close: () => mem.close(),
      tokens: (g, t) => mem.tokens(g, t),
      bump: (g, t) => mem.bump(g, t),
      acquire: (k, tok, t) => mem.acquire(k, tok, t),
      release: (k, tok) => mem.release(k, tok),
    }
    cache = await createCache({
      policies: policyDir(
        yaml(`
        version: 1
        rules:
          - id: pages
            match: /**
            ttl: 1m
      `),
      ),
      store,
      logger: { error() {}, warn() {}, info() {}, debug() {} },
    })
    let calls = 0
    const app = new Koa()
    app.on('error', () => {})
    app.use(cache.middleware())
    app.use((ctx) => {
      ctx.body = `call ${++calls}`
    })
    srv = await listen(app)
    const first = await request(`${srv.url}/a`)
    assert.is(first.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
    corrupt = true
    const second = await request(`${srv.url}/a`)
    assert.is(second.status, 200)
    assert.is(second.body, 'call 2')
    assert.is(second.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
  })
}

test.run()
