/**
 * The fleet lock (`<key>~lock`, SET NX PX) must never deadlock: a holder that crashed while
 * fetching (its lock still in Redis, nobody to write the entry or release it) only delays the
 * others by `coalesceWaitMs`, after which they ask the origin themselves and store the answer
 * (T58). Real redis-server, real HTTP.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: items
      match: /items/**
      ttl: 1m
`)

const s = suite('fleet lock')
const sites = siteTracker()
const dir = policyDir(POLICY)
let r: RedisProc

s.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
s.after(async () => {
  await sites.closeAll()
  await r.stop()
})

s(
  'a crashed holder (its lock left in Redis) delays others by coalesceWaitMs, never deadlocks them (T58)',
  async () => {
    const cache = await createCache({ policies: dir, store: r.url, coalesceWaitMs: 300, lockTtlMs: 60_000 })
    const site = await sites.start({ policies: dir, cache })
    const key = site.key('/items/a')
    assert.ok(key !== null)
    // the crashed holder: a lock nobody will release for a minute, and no entry coming
    assert.is(await r.cli('SET', `${key}~lock`, 'crashed-holder', 'PX', '60000', 'NX'), 'OK')

    const a = await site.get('/items/a')
    assert.is(a.status, 200)
    assert.is(a.body, '#1 GET /items/a cookie=')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    assert.is(site.origin.calls('/items/a'), 1)
    // the foreign lock is left alone (compare-and-delete): it only ends with its own lifetime
    assert.is(await r.cli('GET', `${key}~lock`), 'crashed-holder')

    await site.waitStored('/items/a')
    const b = await site.get('/items/a')
    assert.match(cs(b) ?? '', /^cachet; hit; ttl=\d+$/)
    assert.is(b.body, '#1 GET /items/a cookie=')
    assert.is(site.origin.calls('/items/a'), 1)
    await cache.close()
  },
)

s('the holder releases its own lock once its entry is written: no lock key is left behind', async () => {
  const cache = await createCache({ policies: dir, store: r.url })
  const site = await sites.start({ policies: dir, cache })
  const key = site.key('/items/b')!
  const a = await site.get('/items/b')
  assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
  await site.waitStored('/items/b')
  let left = '1'
  for (let i = 0; i < 100 && left !== '0'; i++) {
    left = await r.cli('EXISTS', `${key}~lock`)
    if (left !== '0') await new Promise((res) => setTimeout(res, 20))
  }
  assert.is(left, '0')
  await cache.close()
})

s.run()
