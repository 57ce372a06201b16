/**
 * Issue 12, item 5: fleet-lock waiters slept the whole `coalesceWaitMs` when the lock holder's
 * answer could not be stored (Set-Cookie, private, 5xx): no entry ever appeared, and they only
 * polled for one (p99 5,160 ms with 2-3 instances). They must learn that the holder's flight
 * ended (its lock is released) and ask the origin at once.
 *
 * Two caches (two instances) on one real redis-server; instance A's origin holds its answer
 * until instance B is known to be waiting on A's lock (B's polling reads show in Redis'
 * command counts), then answers with something unstorable. With coalesceWaitMs at 60 s, B must
 * still reach its own origin within the `eventually` bound.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Cache, createCache } from '../../src/create-cache.js'
import { eventually } from '../helpers/http.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'
import { gate } from '../helpers/scripted-origin.js'

const dir = policyDir(
  yaml(`
  version: 1
  rules:
    - id: items
      match: /items/**
      ttl: 1m
`),
)

/** one site: both instances must build the same key (the host is keyed) */
const H = { headers: { host: 'fleet.test' } }

const test = suite('regression: fleet waiters when the lock holder cannot store (issue 12.5)')
const sites = siteTracker()
let r: RedisProc

test.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
const caches: Cache[] = []
test.after.each(async () => {
  await sites.closeAll()
  for (const c of caches.splice(0)) await c.close()
})
test.after(() => r.stop())

async function mgets(): Promise<number> {
  const info = await r.cli('INFO', 'commandstats')
  return Number(/cmdstat_mget:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

/** `p`, or a failure after `ms`: bounds a wait that must not last (a hang guard, not a speed check). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

async function instances(): Promise<[Site, Site]> {
  const opts = {
    policies: dir,
    store: r.url as `redis://${string}`,
    coalesceWaitMs: 60_000,
    lockTtlMs: 120_000,
  }
  caches.push(await createCache(opts), await createCache(opts))
  const a = await sites.start({ policies: dir, cache: caches[0]! })
  const b = await sites.start({ policies: dir, cache: caches[1]! })
  return [a, b]
}

const UNSTORABLE: Record<string, (ctx: import('koa').Context) => void> = {
  'Set-Cookie': (ctx) => {
    ctx.set('Set-Cookie', 'session=abc')
    ctx.body = 'with a cookie'
  },
  'Cache-Control: private': (ctx) => {
    ctx.set('Cache-Control', 'private')
    ctx.body = 'private'
  },
  '503': (ctx) => {
    ctx.status = 503
    ctx.body = 'down'
  },
}

let n = 0
for (const [what, answer] of Object.entries(UNSTORABLE)) {
  const path = `/items/x${++n}` // each case its own URL: the store is shared by the whole file
  test(`a waiter asks the origin as soon as the holder's flight ends unstored (${what})`, async () => {
    const [a, b] = await instances()
    const held = gate()
    a.origin.route(path, async (ctx) => {
      await held.promise
      answer(ctx)
    })
    b.origin.route(path, (ctx) => {
      ctx.body = 'from b'
    })

    const first = a.get(path, H)
    first.catch(() => undefined) // (a failed assertion closes the sites under it)
    await eventually(() => a.origin.calls(path) === 1, 'A holds the lock and asks its origin')
    const before = await mgets()
    const second = b.get(path, H)
    second.catch(() => undefined) // if the bound below fails first, closing the sites cuts it
    // B read once (a miss), failed to take the lock, and is polling for A's entry
    await eventually(async () => (await mgets()) >= before + 3, "B polls for the holder's entry")
    held.open()

    const ra = await first
    assert.is(ra.status, what === '503' ? 503 : 200)
    // coalesceWaitMs is 60 s: a waiter that only polls for an entry would still be waiting
    const rb = await bounded(second, 5000, 'B answered after the holder released its lock')
    assert.is(rb.status, 200)
    assert.is(rb.body, 'from b')
    assert.is(cs(rb), 'cachet; fwd=uri-miss; stored')
    assert.is(b.origin.calls(path), 1, 'B asked its own origin once')
    assert.is(a.origin.calls(path), 1)
  })
}

test("a waiter still gets the holder's entry when it was stored (no extra origin call)", async () => {
  const [a, b] = await instances()
  const held = gate()
  a.origin.route('/items/y', async (ctx) => {
    await held.promise
    ctx.body = 'from a'
  })
  const first = a.get('/items/y', H)
  first.catch(() => undefined)
  await eventually(() => a.origin.calls('/items/y') === 1, 'A asks its origin')
  const before = await mgets()
  const second = b.get('/items/y', H)
  second.catch(() => undefined)
  await eventually(async () => (await mgets()) >= before + 3, "B polls for the holder's entry")
  held.open()
  assert.is((await first).body, 'from a')
  const rb = await second
  assert.is(rb.body, 'from a')
  assert.is(cs(rb), 'cachet; fwd=uri-miss; collapsed')
  assert.is(b.origin.calls('/items/y'), 0)
})

test.run()
