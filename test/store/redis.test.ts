/**
 * RedisStore against real redis-server processes (docs/threats.md T35–T38, T45–T47, T50,
 * T53). Faults are the server's own: SIGKILL, SIGSTOP, maxmemory, ACL; no mocks.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createStore } from '../../src/store/create.js'
import {
  RedisStore,
  type StoreLogLevel,
  StoreTimeoutError,
  StoreUnavailableError,
} from '../../src/store/redis.js'
import { freePort, type RedisProc, startRedis } from '../helpers/redis-server.js'
import { eventually, storeContract } from './contract.js'

// --unhandled-rejections=strict in the runner would crash on one; standalone runs record them
const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason)
})
const warnings: Error[] = []
process.on('warning', (w) => {
  warnings.push(w)
})

const servers: RedisProc[] = []
const stores: RedisStore[] = []
async function server(args: string[] = []): Promise<RedisProc> {
  const p = await startRedis({ args })
  servers.push(p)
  return p
}
/**
 * An owned store on `url` (production settings), waited until ready unless told not to. `relaxed`
 * raises commandTimeout and the read deadline to 2 s for tests that assert outcomes, not speed:
 * a loaded CI host may take more than the production 200 ms.
 */
async function storeOn(
  url: string,
  opts: { wait?: boolean; relaxed?: boolean; log?: (l: StoreLogLevel, m: string) => void } = {},
): Promise<RedisStore> {
  const spec = opts.relaxed ? { redis: { ...urlToOptions(url), commandTimeout: 2000 } } : url
  const { store } = createStore(spec, {
    name: 'test',
    log: opts.log,
    readDeadlineMs: opts.relaxed ? 2000 : undefined,
  })
  const s = store as RedisStore
  stores.push(s)
  if (opts.wait !== false) assert.ok(await s.waitReady(5000), `connected to ${url}`)
  return s
}
function urlToOptions(url: string) {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port) }
}
const settle = (p: Promise<unknown>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  )

// ---------------------------------------------------------------------------------------------

let contractServer: RedisProc
const contract = storeContract('redis', () => storeOn(contractServer.url, { relaxed: true }), {
  pttl: async (k) => Number(await contractServer.cli('PTTL', k)),
})
contract.before(async () => {
  contractServer = await server()
})
contract.run()

// ---------------------------------------------------------------------------------------------

const s = suite('RedisStore')

s('a redis:// URL gives an owned store of kind "redis", ready once connected', async () => {
  const p = await server()
  const { store, owned } = createStore(p.url, { name: 'test' })
  stores.push(store as RedisStore)
  assert.ok(store instanceof RedisStore)
  assert.is(owned, true)
  assert.is(store.kind, 'redis')
  assert.is(await (store as RedisStore).waitReady(5000), true)
  assert.is(store.ready, true)
})

s('T36: SET with PX, one key per entry', async () => {
  const p = await server()
  const store = await storeOn(p.url, { relaxed: true })
  await store.set('entry:1', randomBytes(5000), 60_000)
  const pttl = Number(await p.cli('PTTL', 'entry:1'))
  assert.ok(pttl > 0 && pttl <= 60_000, `PTTL ${pttl}`)
  assert.is(await p.cli('DBSIZE'), '1')
  assert.is(await p.cli('KEYS', '*'), 'entry:1')
  assert.is(await p.cli('TYPE', 'entry:1'), 'string')
})

s('{ redis: <ioredis options> } builds a working owned client', async () => {
  const p = await server()
  const { store, owned } = createStore({ redis: { host: '127.0.0.1', port: p.port } }, { name: 'test' })
  stores.push(store as RedisStore)
  assert.is(owned, true)
  assert.ok(await (store as RedisStore).waitReady(5000))
  await store.set('k', Buffer.from('v'), 10_000)
  assert.equal((await store.get('k'))?.toString(), 'v')
  // our client names itself, so operators can find it in CLIENT LIST
  assert.match(await p.cli('CLIENT', 'LIST'), /name=test /)
})

s(
  'an ioredis instance is used, not owned: close() leaves it connected; offline queue warned once',
  async () => {
    const p = await server()
    const mine = new Redis(p.port, '127.0.0.1') // enableOfflineQueue defaults to true
    mine.on('error', () => {})
    try {
      await mine.ping()
      const before = warnings.filter(
        (w) => (w as { code?: string }).code === 'CACHET_REDIS_OFFLINE_QUEUE',
      ).length
      const { store, owned } = createStore(mine, { name: 'test' })
      createStore(mine, { name: 'again' }).store.close()
      await new Promise((resolve) => setImmediate(resolve))
      const after = warnings.filter((w) => (w as { code?: string }).code === 'CACHET_REDIS_OFFLINE_QUEUE')
      assert.is(after.length - before, 1, 'one warning')
      assert.is(after[0]?.name, 'CachetWarning')
      assert.is(owned, false)
      await store.set('shared', Buffer.from('yes'), 10_000)
      assert.equal((await store.get('shared'))?.toString(), 'yes')
      await store.close()
      assert.is(mine.status, 'ready')
      assert.is(await mine.get('shared'), 'yes')
      assert.is(mine.listenerCount('error'), 1, 'our listener is removed, the user one stays')
    } finally {
      mine.disconnect()
    }
  },
)

s('T37: allkeys-lru at 2 MB filled ten times over: evictions, no errors, never a partial value', async () => {
  const p = await server(['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
  const store = await storeOn(p.url, { relaxed: true })
  assert.is(await store.checkEviction(), undefined)
  const written = new Map<string, Buffer>()
  for (let i = 0; i < 2000; i += 32) {
    const batch: Promise<void>[] = []
    for (let j = i; j < i + 32; j++) {
      const v = randomBytes(10_240)
      written.set(`lru:${j}`, v)
      batch.push(store.set(`lru:${j}`, v, 600_000))
    }
    await Promise.all(batch)
  }
  const st = store.stats
  assert.is(st.errors, 0)
  assert.is(st.droppedWrites, 0)
  assert.is(st.timeouts, 0)
  const evicted = Number(/evicted_keys:(\d+)/.exec(await p.cli('INFO', 'stats'))?.[1])
  assert.ok(evicted > 0, `evicted_keys ${evicted}`)
  let present = 0
  const keys = [...written.keys()]
  for (let i = 0; i < keys.length; i += 100) {
    const got = await Promise.all(keys.slice(i, i + 100).map((k) => store.get(k)))
    got.forEach((g, j) => {
      if (g === undefined) return
      present++
      assert.ok(g.equals(written.get(keys[i + j]!)!), `${keys[i + j]} exact bytes`)
    })
  }
  assert.ok(present > 0 && present < 2000, `${present} entries survive`)
})

s(
  'T35: noeviction and a full Redis: writes fail with OOM, resolve, are counted; reads still work',
  async () => {
    const p = await server(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'])
    const logs: string[] = []
    const store = await storeOn(p.url, { relaxed: true, log: (level, msg) => logs.push(`${level} ${msg}`) })
    const first = randomBytes(10_240)
    await store.set('oom:first', first, 600_000)
    for (let i = 0; i < 400; i += 32) {
      const batch: Promise<void>[] = []
      for (let j = i; j < i + 32; j++) batch.push(store.set(`oom:${j}`, randomBytes(10_240), 600_000))
      const results = await Promise.all(batch)
      assert.ok(results.every((r) => r === undefined))
    }
    assert.ok(store.stats.errors > 0, `errors ${store.stats.errors}`)
    assert.ok(
      logs.some((l) => /^warn .*OOM/.test(l)),
      'the OOM is logged',
    )
    assert.ok(logs.length < 5, `rate-limited logging (${logs.length} lines)`)
    assert.ok(first.equals((await store.get('oom:first'))!))
    assert.match((await store.checkEviction()) ?? '', /noeviction/)
  },
)

s(
  'T38: checkEviction warns for maxmemory 0, not for volatile-* with a limit; CONFIG denied → undefined',
  async () => {
    const p = await server(['--maxmemory', '0', '--maxmemory-policy', 'allkeys-lru'])
    const store = await storeOn(p.url, { relaxed: true })
    const msg = await store.checkEviction()
    assert.match(msg ?? '', /maxmemory 0/)
    assert.match(msg ?? '', new RegExp(`127\\.0\\.0\\.1:${p.port}`))
    await p.cli('CONFIG', 'SET', 'maxmemory', '10mb')
    assert.is(await store.checkEviction(), undefined)
    await p.cli('CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru')
    assert.is(await store.checkEviction(), undefined)
    await p.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
    assert.match((await store.checkEviction()) ?? '', /noeviction/)

    await p.cli('ACL', 'SETUSER', 'app', 'on', 'nopass', '~*', '+@all', '-config')
    const logs: string[] = []
    const { store: limited } = createStore(
      { redis: { host: '127.0.0.1', port: p.port, username: 'app' } },
      { name: 'test', log: (level, m) => logs.push(`${level} ${m}`) },
    )
    stores.push(limited as RedisStore)
    assert.ok(await (limited as RedisStore).waitReady(5000))
    assert.is(await (limited as RedisStore).checkEviction(), undefined)
    assert.ok(
      logs.some((l) => /^debug .*CONFIG GET failed/.test(l)),
      logs.join('\n'),
    )
  },
)

s('T45: Redis absent at start: get rejects at once, set resolves, waitReady false, no throw', async () => {
  const port = await freePort()
  const store = await storeOn(`redis://127.0.0.1:${port}`, { wait: false })
  assert.is(store.ready, false)
  const r = await settle(store.get('k'))
  assert.is(r.ok, false)
  assert.ok(!r.ok && r.e instanceof StoreUnavailableError)
  assert.is(await store.set('k', Buffer.from('v'), 1000), undefined)
  assert.is(await store.waitReady(300), false)
  const d = await settle(store.delete(['k']))
  assert.ok(!d.ok, 'a purge never claims success it did not have')
  assert.is(await store.checkEviction(), undefined)
  await eventually(async () => store.stats.errors > 0, 5000, 'connection errors counted')
  assert.ok(store.stats.droppedWrites >= 1)
})

s(
  'T46/T50: Redis killed mid-run: reads reject; restarted on the same port: reconnects by itself',
  async () => {
    const p = await server()
    const store = await storeOn(p.url, { relaxed: true })
    await store.set('k', Buffer.from('before'), 60_000)
    assert.equal((await store.get('k'))?.toString(), 'before')
    await p.kill()
    const r = await settle(store.get('k'))
    assert.is(r.ok, false, 'a read on a dead server rejects')
    await eventually(async () => !store.ready, 5000, 'not ready after the kill')
    const r2 = await settle(store.get('k'))
    assert.ok(!r2.ok && r2.e instanceof StoreUnavailableError)
    assert.is(await store.set('k', Buffer.from('lost'), 60_000), undefined)
    await p.restart()
    assert.is(await store.waitReady(15_000), true, 'reconnected without help')
    assert.is(await store.get('k'), undefined, 'the restarted server is empty (--save "")')
    await store.set('k', Buffer.from('after'), 60_000)
    assert.equal((await store.get('k'))?.toString(), 'after')
  },
)

s(
  'T47: Redis paused (SIGSTOP): get rejects with StoreTimeoutError; after SIGCONT it works again',
  async () => {
    const p = await server()
    const store = await storeOn(p.url)
    await store.set('k', Buffer.from('v'), 60_000)
    p.pause()
    try {
      const r = await settle(store.get('k'))
      assert.ok(!r.ok && r.e instanceof StoreTimeoutError, `rejected with ${String(!r.ok && r.e)}`)
      assert.is((r as { e: StoreTimeoutError }).e.code, 'STORE_TIMEOUT')
      assert.ok(store.stats.timeouts >= 1)
    } finally {
      p.resume()
    }
    await eventually(
      async () => {
        const r = await settle(store.get('k'))
        return r.ok && (r.v as Buffer | undefined)?.toString() === 'v'
      },
      10_000,
      'reads work after SIGCONT',
    )
  },
)

s('T53: bounded in-flight writes: 200 sets on a paused Redis, excess dropped, all resolve', async () => {
  const p = await server()
  const store = await storeOn(p.url)
  p.pause()
  try {
    const all = []
    for (let i = 0; i < 200; i++) all.push(store.set(`w:${i}`, Buffer.from(String(i)), 60_000))
    const results = await Promise.all(all)
    assert.is(results.length, 200)
    assert.is(store.stats.droppedWrites, 200 - 64)
  } finally {
    p.resume()
  }
  // the slots come back once the pending commands settle
  await eventually(
    async () => {
      await store.set('w:after', Buffer.from('x'), 60_000)
      const r = await settle(store.get('w:after'))
      return r.ok && (r.v as Buffer | undefined)?.toString() === 'x'
    },
    10_000,
    'writes work again',
  )
})

s(
  'getWithTokens on one server is one MGET (one round trip, no script), and the scripts survive SCRIPT FLUSH',
  async () => {
    const p = await server()
    const store = await storeOn(p.url, { relaxed: true })
    await store.set('e', Buffer.from('entry'), 60_000)
    const gens = ['cachet:g:t:a', 'cachet:g:t:b', 'cachet:g:u:c']
    const made = await store.tokens(gens, 60_000)
    await p.cli('CONFIG', 'RESETSTAT')
    assert.equal(await store.getWithTokens('e', gens), [Buffer.from('entry'), made])
    const stats = await p.cli('INFO', 'commandstats')
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
    assert.is(calls('mget'), 1, stats)
    assert.is(calls('get') + calls('evalsha') + calls('eval'), 0, stats)
    // a flushed script cache (or a failover to a node without it) costs one NOSCRIPT, not a miss
    await p.cli('SCRIPT', 'FLUSH')
    assert.equal(await store.getWithTokens('e', gens), [Buffer.from('entry'), made])
    assert.equal(await store.tokens(gens, 60_000), made)
    assert.is(await store.acquire('lock', 'me', 60_000), true)
    await p.cli('SCRIPT', 'FLUSH')
    await store.release('lock', 'me')
    assert.is(await p.cli('EXISTS', 'lock'), '0')
    assert.is(store.stats.errors, 0)
  },
)

s('tokens never shortens a key without expiry, and a lock is SET NX PX', async () => {
  const p = await server()
  const store = await storeOn(p.url, { relaxed: true })
  await p.cli('SET', 'cachet:g:forever', 'tok')
  assert.equal(await store.tokens(['cachet:g:forever'], 1000), ['tok'])
  assert.is(await p.cli('PTTL', 'cachet:g:forever'), '-1')
  assert.is(await store.acquire('l', 'me', 30_000), true)
  assert.is(await p.cli('GET', 'l'), 'me')
  const pttl = Number(await p.cli('PTTL', 'l'))
  assert.ok(pttl > 0 && pttl <= 30_000, `PTTL ${pttl}`)
})

s('Redis absent: getWithTokens, tokens, bump and acquire reject at once; release resolves', async () => {
  const port = await freePort()
  const store = await storeOn(`redis://127.0.0.1:${port}`, { wait: false })
  const results = await Promise.all([
    settle(store.getWithTokens('k', ['g'])),
    settle(store.getWithTokens('k', [])),
    settle(store.tokens(['g'], 1000)),
    settle(store.bump(['g'], 1000)),
    settle(store.acquire('l', 't', 1000)),
  ])
  for (const [i, what] of [
    'getWithTokens',
    'getWithTokens, no gens',
    'tokens',
    'bump',
    'acquire',
  ].entries()) {
    const r = results[i]!
    assert.ok(!r.ok && r.e instanceof StoreUnavailableError, `${what}: ${String(!r.ok && r.e)}`)
    assert.is((r as { e: StoreUnavailableError }).e.code, 'STORE_UNAVAILABLE')
  }
  assert.is(await store.release('l', 't'), undefined)
  assert.is(store.stats.unavailable, 4)
  assert.ok(store.stats.droppedWrites >= 1, 'the release not sent is counted')
})

s(
  'Redis paused (SIGSTOP): getWithTokens, tokens and acquire time out, bump rejects, release resolves',
  async () => {
    const p = await server()
    const store = await storeOn(p.url) // production settings: commandTimeout 200, read deadline 250
    const [t] = await store.tokens(['g'], 60_000)
    await store.getWithTokens('k', ['g'])
    await store.acquire('l', 'me', 60_000)
    p.pause()
    try {
      const [gwt, tok, acq, bump, rel] = await Promise.all([
        settle(store.getWithTokens('k', ['g'])),
        settle(store.tokens(['g'], 1000)),
        settle(store.acquire('l2', 'me', 1000)),
        settle(store.bump(['g'], 60_000)),
        settle(store.release('l', 'me')),
      ])
      assert.ok(!gwt.ok && gwt.e instanceof StoreTimeoutError, `getWithTokens: ${String(!gwt.ok && gwt.e)}`)
      assert.is((gwt as { e: StoreTimeoutError }).e.code, 'STORE_TIMEOUT')
      assert.ok(!tok.ok && tok.e instanceof StoreTimeoutError, `tokens: ${String(!tok.ok && tok.e)}`)
      assert.ok(!acq.ok && acq.e instanceof StoreTimeoutError, `acquire: ${String(!acq.ok && acq.e)}`)
      assert.ok(
        !bump.ok && bump.e instanceof StoreTimeoutError,
        'a purge that was not acknowledged never claims success',
      )
      assert.ok(rel.ok, 'release never rejects')
      assert.ok(store.stats.timeouts >= 4)
    } finally {
      p.resume()
    }
    // the purge is retried once Redis answers again; the old token is then never current again
    await eventually(
      async () => (await settle(store.bump(['g'], 60_000))).ok,
      10_000,
      'bump works after SIGCONT',
    )
    const [t2] = await store.tokens(['g'], 60_000)
    assert.ok(typeof t2 === 'string' && /^[0-9a-z]+\.[\w-]{22}$/.test(t2) && t2 !== t, `${t2} replaced ${t}`)
  },
)

s('bump rejects when Redis refuses a write (ACL): a purge never claims success', async () => {
  const p = await server()
  await p.cli('ACL', 'SETUSER', 'app', 'on', 'nopass', '~*', '+@all', '-set')
  const { store } = createStore(
    { redis: { host: '127.0.0.1', port: p.port, username: 'app', commandTimeout: 2000 } },
    { name: 'test' },
  )
  stores.push(store as RedisStore)
  assert.ok(await (store as RedisStore).waitReady(5000))
  const r = await settle(store.bump(['g:1', 'g:2'], 60_000))
  assert.ok(!r.ok && /NOPERM/.test(String(r.e)), String(!r.ok && r.e))
  // the scripts' inner SET is checked too: tokens cannot create, so it rejects as well
  const t = await settle(store.tokens(['g:3'], 60_000))
  assert.ok(!t.ok && /NOPERM|can't run this command/.test(String(t.e)), String(!t.ok && t.e))
})

s('close() of an owned store quits its client', async () => {
  const p = await server()
  const store = await storeOn(p.url)
  await store.close()
  assert.is(store.ready, false)
  assert.ok(['end', 'close'].includes(store.client.status), store.client.status)
  assert.is(await store.waitReady(10), false)
})

s('option checks throw TypeErrors naming the option', () => {
  const mine = new Redis({ lazyConnect: true })
  assert.throws(() => new RedisStore(mine, { readDeadlineMs: 0 }), /readDeadlineMs/)
  assert.throws(() => new RedisStore(mine, { maxInFlightWrites: -1 }), /maxInFlightWrites/)
  assert.throws(() => new RedisStore({} as Redis), TypeError)
  mine.disconnect()
})

s('no unhandled rejection anywhere in this file', () => {
  assert.equal(unhandled, [])
})

s.after(async () => {
  await Promise.all(stores.map((st) => st.close()))
  await Promise.all(servers.map((p) => p.stop()))
})
s.run()
