/**
 * RedisStore on a real 3-master Redis Cluster (docs/threats.md T40, T42, T44, T54).
 * `cluster-require-full-coverage no` lets the surviving masters keep serving their slots once
 * one master is gone, as a cache deployment should be configured.
 */
import { randomBytes } from 'node:crypto'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createStore } from '../../src/store/create.js'
import { type RedisStore, StoreUnavailableError } from '../../src/store/redis.js'
import { type RedisClusterProc, startCluster } from '../helpers/redis-cluster.js'
import { storeContract } from './contract.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason)
})

let cluster: RedisClusterProc
const stores: RedisStore[] = []

/**
 * Deadlines default to generous values: these tests assert which keys answer, not how fast, and a
 * loaded CI host can take more than the production 200 ms. Fault tests pass their own.
 */
async function clusterStore(readDeadlineMs = 2000, commandTimeout = 2000): Promise<RedisStore> {
  const { store, owned } = createStore(
    { cluster: cluster.nodes, options: { redisOptions: { commandTimeout } } },
    { name: 'cluster-test', readDeadlineMs },
  )
  assert.is(owned, true)
  const s = store as RedisStore
  stores.push(s)
  assert.ok(await s.waitReady(10_000), 'cluster client ready')
  return s
}

// `redis-cli -c` follows MOVED to the key's master
const contract = storeContract('redis cluster', clusterStore, {
  pttl: async (k) => Number(await cluster.procs[0]!.cli('-c', 'PTTL', k)),
})
contract.before(async () => {
  cluster = await startCluster({ masters: 3, args: ['--cluster-require-full-coverage', 'no'] })
})
contract.run()

const s = suite('RedisStore on a Cluster')
const written = new Map<string, Buffer>()

s('kind is "cluster"; 300 keys spread over all three masters, one key per entry with a PX', async () => {
  const store = await clusterStore()
  assert.is(store.kind, 'cluster')
  for (const p of cluster.procs) await p.cli('FLUSHALL')
  const sets: Promise<void>[] = []
  for (let i = 0; i < 300; i++) {
    const v = randomBytes(200)
    written.set(`spread:${i}`, v)
    sets.push(store.set(`spread:${i}`, v, 600_000))
    if (sets.length === 50) await Promise.all(sets.splice(0))
  }
  await Promise.all(sets)
  assert.is(store.stats.errors, 0)
  assert.is(store.stats.droppedWrites, 0)
  let total = 0
  for (const p of cluster.procs) {
    const n = Number(await p.cli('DBSIZE'))
    assert.ok(n > 0, `master ${p.port} holds ${n} keys`)
    total += n
  }
  assert.is(total, 300)
  const someKey = (await cluster.procs[0]!.cli('KEYS', 'spread:*')).split('\n')[0]!
  assert.ok(Number(await cluster.procs[0]!.cli('PTTL', someKey)) > 0)
})

s('delete of keys on different slots works (no CROSSSLOT)', async () => {
  const store = await clusterStore()
  const keys = ['del:a', 'del:b', 'del:c', 'del:d', 'del:e', 'del:f']
  for (const k of keys) await store.set(k, Buffer.from(k), 60_000)
  assert.is(await store.delete(keys), keys.length)
  for (const k of keys) assert.is(await store.get(k), undefined)
})

/** the masters (ports) holding each key, read from the servers themselves */
async function holders(keys: readonly string[]): Promise<Map<string, number>> {
  const where = new Map<string, number>()
  for (const p of cluster.procs) {
    for (const k of (await p.cli('KEYS', '*')).split('\n')) if (keys.includes(k)) where.set(k, p.port)
  }
  return where
}

s(
  'generation keys on every master in one call: tokens, getWithTokens, bump; a CROSSSLOT never surfaces',
  async () => {
    const store = await clusterStore()
    const gens = Array.from({ length: 30 }, (_, i) => `cachet:g:t:spread-${i}`)
    await store.set('cachet:e:entry', Buffer.from('entry'), 60_000)
    const made = await store.tokens(gens, 60_000)
    assert.is(new Set(made).size, 30)
    const where = await holders(gens)
    assert.is(where.size, 30, 'every token key was written')
    assert.is(new Set(where.values()).size, 3, 'the keys span all three masters')
    assert.equal(await store.getWithTokens('cachet:e:entry', gens), [Buffer.from('entry'), made])
    await store.bump(gens, 60_000)
    const [, after] = await store.getWithTokens('cachet:e:entry', gens)
    for (let i = 0; i < gens.length; i++)
      assert.ok(after[i] !== undefined && after[i] !== made[i], `${gens[i]} bumped`)
    assert.equal(await store.tokens(gens, 60_000), after)
    assert.is(store.stats.errors, 0, 'no CROSSSLOT (or any other) error')
  },
)

// A steady-state store and token keys on every master, made before T42 kills one of them.
let survivor: RedisStore
const purgeGens = Array.from({ length: 30 }, (_, i) => `cachet:g:t:purge-${i}`)
let purgeHolders = new Map<string, number>()
s('(setup for the dead-master tokens test) token keys on every master', async () => {
  survivor = await clusterStore(1500, 1000)
  await survivor.tokens(purgeGens, 600_000)
  purgeHolders = await holders(purgeGens)
  assert.is(purgeHolders.size, 30)
  assert.is(new Set(purgeHolders.values()).size, 3)
})

s('checkEviction reads every master', async () => {
  const store = await clusterStore()
  assert.match((await store.checkEviction()) ?? '', /maxmemory-policy noeviction/)
  for (const p of cluster.procs) {
    await p.cli('CONFIG', 'SET', 'maxmemory', '50mb')
    await p.cli('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
  }
  assert.is(await store.checkEviction(), undefined)
  await cluster.procs[2]!.cli('CONFIG', 'SET', 'maxmemory', '0')
  assert.match((await store.checkEviction()) ?? '', new RegExp(`:${cluster.procs[2]!.port} has maxmemory 0`))
})

s('T42: one master shut down: its keys reject, the others still answer, nothing hangs', async () => {
  const store = await clusterStore(1500, 1000)
  const victim = cluster.procs[1]!
  const victimKeys = new Set((await victim.cli('KEYS', 'spread:*')).split('\n').filter(Boolean))
  assert.ok(victimKeys.size > 0)
  // A steady-state client: connections to every master are open before the failure. (A client
  // born during the outage connects lazily and its first reads may miss the deadline: misses too.)
  for (const [k, v] of written) assert.ok(v.equals((await store.get(k))!), `${k} before the failure`)
  await victim.kill()
  const results: { k: string; ok: boolean; v?: Buffer | undefined; e?: unknown }[] = []
  const keys = [...written.keys()]
  for (let i = 0; i < keys.length; i += 100) {
    results.push(
      ...(await Promise.all(
        keys.slice(i, i + 100).map(async (k) => {
          try {
            return { k, ok: true, v: await store.get(k) }
          } catch (e) {
            return { k, ok: false, e }
          }
        }),
      )),
    )
  }
  let rejected = 0
  let served = 0
  for (const r of results) {
    if (victimKeys.has(r.k)) {
      assert.is(r.ok, false, `${r.k} lived on the dead master`)
      rejected++
    } else {
      assert.ok(r.ok && r.v?.equals(written.get(r.k)!), `${r.k} still served: ${String(r.e)}`)
      served++
    }
  }
  assert.is(rejected, victimKeys.size)
  assert.is(served, written.size - victimKeys.size)
  // writes to the dead master's slots resolve too (dropped or failed, never thrown)
  const sets = await Promise.all(
    [...victimKeys].slice(0, 10).map((k) => store.set(k, Buffer.from('x'), 1000)),
  )
  assert.is(sets.length, Math.min(10, victimKeys.size))
  // a read of a dead slot gives up at the deadline at worst
  const one = [...victimKeys][0]!
  const e = await store.get(one).then(
    () => undefined,
    (err: unknown) => err,
  )
  assert.ok(e instanceof Error)
})

s(
  'one master dead: tokens on it make getWithTokens, tokens and bump reject; the others still work',
  async () => {
    const victimPort = cluster.procs[1]!.port // T42 killed it
    const alive = purgeGens.filter((g) => purgeHolders.get(g) !== victimPort)
    const dead = purgeGens.filter((g) => purgeHolders.get(g) === victimPort)
    assert.ok(alive.length > 0 && dead.length > 0, `${alive.length} alive, ${dead.length} on ${victimPort}`)
    // the entry key must live on a live master too: one of the token keys will do
    const [, tokens] = await survivor.getWithTokens(alive[0]!, alive)
    assert.ok(
      tokens.every((t) => typeof t === 'string'),
      'tokens on live masters still read',
    )
    await survivor.bump(alive, 60_000)
    const mixed = [alive[0]!, dead[0]!]
    const rejections = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (err: unknown) => err,
      )
    const results = await Promise.all([
      rejections(survivor.getWithTokens(alive[0]!, mixed)),
      rejections(survivor.tokens(mixed, 60_000)),
      rejections(survivor.bump(mixed, 60_000)),
      rejections(survivor.acquire(dead[0]!, 'me', 1000)),
    ])
    for (const [i, what] of ['getWithTokens', 'tokens', 'bump', 'acquire'].entries()) {
      const e = results[i]
      assert.ok(e instanceof Error, `${what} rejects`)
      assert.not.ok(e instanceof StoreUnavailableError, `${what}: the client itself is still ready`)
    }
    assert.is(await survivor.release(dead[0]!, 'me'), undefined, 'release never rejects')
  },
)

s('no unhandled rejection anywhere in this file', () => {
  assert.equal(unhandled, [])
})

s.after(async () => {
  await Promise.all(stores.map((st) => st.close()))
  await cluster?.stop()
})
s.run()
