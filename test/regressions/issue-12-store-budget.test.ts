/**
 * Issue 12, item 6: a hung Redis added more than the read deadline. On a miss the read, the fleet
 * lock and the token reads ran one after another, each with its own timeout: with Redis under
 * `CLIENT PAUSE` a request took 611-916 ms against a 250 ms deadline. Now the request has one
 * budget for all the store work it waits on: once the read has used it up, nothing more is sent
 * to the store before the origin is asked.
 *
 * Asserted on what reached Redis, not on time: while Redis is stopped (SIGSTOP), commands are
 * sent but not run; after SIGCONT they run, and Redis' own counters show which were sent. The lock
 * (`SET … NX`) and the token read (which creates the URL's generation key) must not be among them.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { urlGen } from '../../src/generation/keys.js'
import { eventually } from '../helpers/http.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const dir = policyDir(
  yaml(`
  version: 1
  rules:
    - id: items
      match: /items/**
      ttl: 1m
`),
)

const test = suite('regression: one store budget per request (issue 12.6)')
const sites = siteTracker()
let r: RedisProc

test.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
})
test.after.each(async () => {
  r.resume()
  await sites.closeAll()
})
test.after(() => r.stop())

async function calls(cmd: string): Promise<number> {
  const info = await r.cli('INFO', 'commandstats')
  return Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
}

test('a miss whose read used up the budget sends no lock and no token read to a hung Redis', async () => {
  const cache = await createCache({ policies: dir, store: r.url, readDeadlineMs: 200 })
  const site = await sites.start({ policies: dir, cache })
  // warm the namespace and rule tokens (held per instance for a moment), so that the request's
  // only store work is its own: the read, then (before the fix) the lock and the URL's tokens
  await site.get('/items/warm')
  await site.waitStored('/items/warm')
  await r.cli('CONFIG', 'RESETSTAT')

  r.pause() // SIGSTOP: connected, but nothing answers
  const a = await site.get('/items/a')
  assert.is(a.status, 200)
  assert.is(a.body, '#1 GET /items/a cookie=')
  assert.is(cs(a), 'cachet; fwd=miss; detail=store-unavailable')
  r.resume()

  // what the request sent while Redis was paused runs now
  await eventually(async () => (await calls('mget')) >= 1, 'the timed-out read reached Redis')
  await r.cli('PING')
  assert.is(await calls('set'), 0, 'no fleet lock was sent once the budget was spent')
  assert.is(await r.cli('EXISTS', urlGen('cachet', '/items/a', [])), '0', 'no token read was sent either')
  await cache.close()
})

test('a read that fails at once leaves the budget to the rest: the lock and tokens are still tried', async () => {
  const cache = await createCache({ policies: dir, store: r.url, readDeadlineMs: 5000 })
  const site = await sites.start({ policies: dir, cache })
  const a = await site.get('/items/b')
  assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
  await site.waitStored('/items/b')
  assert.is(await r.cli('EXISTS', urlGen('cachet', '/items/b', [])), '1')
  await cache.close()
})

test.run()
