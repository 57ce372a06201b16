import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createStore } from '../../src/store/create.js'
import { entryCost, MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import { storeContract } from './contract.js'

storeContract('memory', () => new MemoryStore()).run()

// what one 298-byte entry under a 2-character key costs, and a bound with room for three of them
const E = entryCost('k1', Buffer.alloc(298))
const ROOM_FOR_3 = 3 * E + Math.floor(E / 2)

const s = suite('MemoryStore')

s('is always ready and of kind "memory"', () => {
  const store = new MemoryStore()
  assert.is(store.ready, true)
  assert.is(store.kind, 'memory')
})

s('get returns the stored Buffer itself (no copy)', async () => {
  const store = new MemoryStore()
  const value = Buffer.allocUnsafeSlow(11).fill('same object')
  await store.set('k', value, 1000)
  assert.is(await store.get('k'), value)
})

s('a view into a shared pool is copied once, on set: every get returns that one copy', async () => {
  const store = new MemoryStore()
  const value = Buffer.from('pooled') // a slice of Node's 8 KiB allocation pool
  assert.ok(value.buffer.byteLength > value.byteLength, 'the test needs a pooled Buffer')
  await store.set('k', value, 1000)
  const got = await store.get('k')
  assert.is.not(got, value)
  assert.is(got!.toString(), 'pooled')
  assert.is(got!.buffer.byteLength, got!.byteLength, 'the stored copy owns its memory')
  assert.is(await store.get('k'), got)
})

s('bounded by entryCost (key, value and their overhead), least recently used evicted first', async () => {
  const store = new MemoryStore({ maxBytes: ROOM_FOR_3 })
  // keys are 2 chars, values 298 bytes: E bytes an entry, three fit
  assert.ok(E > 300 + 2 * 16, `an entry costs more than its key and value bytes (${E})`)
  await store.set('k1', Buffer.alloc(298, 1), 60_000)
  await store.set('k2', Buffer.alloc(298, 2), 60_000)
  await store.set('k3', Buffer.alloc(298, 3), 60_000)
  assert.equal(store.stats, { entries: 3, bytes: 3 * E })
  await store.get('k1') // k1 becomes most recently used; k2 is now the oldest
  await store.set('k4', Buffer.alloc(298, 4), 60_000)
  assert.equal(store.stats, { entries: 3, bytes: 3 * E })
  assert.is(await store.get('k2'), undefined)
  assert.equal((await store.get('k1'))?.[0], 1)
  assert.equal((await store.get('k4'))?.[0], 4)
})

s('an entry larger than the whole bound is not stored, and drops the old value of its key', async () => {
  const store = new MemoryStore({ maxBytes: entryCost('big', Buffer.alloc(50)) })
  await store.set('big', Buffer.alloc(50), 60_000)
  assert.is((await store.get('big'))?.length, 50)
  await store.set('big', Buffer.alloc(200), 60_000)
  assert.is(await store.get('big'), undefined)
  assert.equal(store.stats, { entries: 0, bytes: 0 })
})

s('ttl follows the injected clock', async () => {
  let now = 1_000_000
  const store = new MemoryStore({ clock: { now: () => now } })
  await store.set('a', Buffer.from('a'), 100)
  now += 99
  assert.equal((await store.get('a'))?.toString(), 'a')
  now += 2
  assert.is(await store.get('a'), undefined)
  // an expired entry does not count as deleted
  await store.set('b', Buffer.from('b'), 10)
  now += 20
  assert.is(await store.delete(['b']), 0)
})

s('bad options throw a TypeError naming the option', () => {
  assert.throws(
    () => new MemoryStore({ maxBytes: 0 }),
    (e: unknown) => e instanceof TypeError && /maxBytes/.test(String(e)),
  )
  assert.throws(
    () => new MemoryStore({ maxBytes: Infinity }),
    (e: unknown) => e instanceof TypeError && /maxBytes/.test(String(e)),
  )
  assert.throws(
    () => new MemoryStore({ maxBytes: 1.5 }),
    (e: unknown) => e instanceof TypeError && /maxBytes/.test(String(e)),
  )
})

const c = suite('createStore (no Redis involved)')

c('undefined and "memory" give an owned MemoryStore of 64 MiB', () => {
  for (const spec of [undefined, 'memory']) {
    const { store, owned } = createStore(spec, { name: 'test' })
    assert.ok(store instanceof MemoryStore)
    assert.is((store as MemoryStore).maxBytes, 64 * 1024 * 1024)
    assert.is(owned, true)
  }
})

c('{ memory: { maxBytes } } sets the bound', () => {
  const { store, owned } = createStore({ memory: { maxBytes: 4096 } }, { name: 'test' })
  assert.ok(store instanceof MemoryStore)
  assert.is((store as MemoryStore).maxBytes, 4096)
  assert.is(owned, true)
})

c(
  'an object implementing the whole Store is used through deadlines, not owned: a hung get becomes STORE_TIMEOUT',
  async () => {
    const mine: Store = {
      kind: 'mine',
      ready: true,
      get: async () => undefined,
      set: async () => {},
      delete: async () => 0,
      close: async () => {},
      getWithTokens: async () => [undefined, []],
      tokens: async () => [],
      bump: async () => {},
      acquire: async () => true,
      release: async () => {},
    }
    const hung: Store = { ...mine, getWithTokens: () => new Promise(() => {}) }
    const { store, owned } = createStore(mine, { name: 'test' })
    assert.is(owned, false)
    assert.is(store.kind, 'mine')
    assert.equal(await store.getWithTokens('k', []), [undefined, []])
    const slow = createStore(hung, { name: 'test', readDeadlineMs: 20 }).store
    const err = await slow.getWithTokens('k', []).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.is((err as { code?: string } | undefined)?.code, 'STORE_TIMEOUT')
  },
)

c(
  'an object with only get/set/delete/close is completed, not owned; kind and ready read through',
  async () => {
    let closed = 0
    const mine = {
      kind: 'mine',
      ready: false,
      get: async () => undefined,
      set: async () => {},
      delete: async () => 0,
      close: async () => {
        closed++
      },
    }
    const { store, owned } = createStore(mine, { name: 'test' })
    assert.is.not(store, mine as unknown)
    assert.is(owned, false)
    assert.is(store.kind, 'mine')
    assert.is(store.ready, false)
    mine.ready = true
    assert.is(store.ready, true)
    for (const m of ['getWithTokens', 'tokens', 'bump', 'acquire', 'release'] as const)
      assert.type(store[m], 'function')
    await store.close()
    assert.is(closed, 1)
  },
)

c('anything else is a TypeError naming the store option', () => {
  const bad: unknown[] = [
    'redis',
    'http://x',
    'memcached://x',
    42,
    null,
    true,
    { redis: 'x' },
    { cluster: [] },
    { nope: 1 },
    { get() {} },
    { memory: 5 },
  ]
  for (const spec of bad) {
    assert.throws(
      () => createStore(spec, { name: 'test' }),
      (e: unknown) => e instanceof TypeError && /store/.test((e as Error).message),
      `rejects ${JSON.stringify(spec)}`,
    )
  }
})

const t = suite('MemoryStore: tokens and locks')

t('tokens live in the LRU: memory pressure evicts them, and getWithTokens then reads undefined', async () => {
  const store = new MemoryStore({ maxBytes: ROOM_FOR_3 })
  const [token] = await store.tokens(['g:1'], 60_000)
  assert.equal(store.stats, { entries: 1, bytes: entryCost('g:1', token!) })
  // four entries overflow the bound; the token, least recently used, goes first
  for (const k of ['k1', 'k2', 'k3', 'k4']) await store.set(k, Buffer.alloc(298), 60_000)
  assert.equal(store.stats, { entries: 3, bytes: 3 * E })
  assert.equal(await store.getWithTokens('k4', ['g:1']), [Buffer.alloc(298), [undefined]])
  const [again] = await store.tokens(['g:1'], 60_000)
  assert.is.not(again, token)
})

t('a token read on every request stays recently used and survives the entries', async () => {
  const store = new MemoryStore({ maxBytes: ROOM_FOR_3 })
  const [token] = await store.tokens(['g:hot'], 60_000)
  for (let i = 0; i < 10; i++) {
    await store.set(`k${i}`, Buffer.alloc(298), 60_000)
    assert.equal((await store.getWithTokens(`k${i}`, ['g:hot']))[1], [token])
  }
})

t(
  'token and lock lifetimes follow the injected clock; tokens extends a life, never shortens it',
  async () => {
    let now = 5_000_000
    const store = new MemoryStore({ clock: { now: () => now } })
    const [a] = await store.tokens(['g:a'], 100)
    now += 90
    assert.equal(await store.tokens(['g:a'], 1000), [a], 'extended to 1000 ms from now')
    now += 500
    assert.equal(await store.tokens(['g:a'], 10), [a], 'a shorter ttl leaves the life as it is')
    now += 400
    assert.equal((await store.getWithTokens('x', ['g:a']))[1], [a])
    now += 200
    assert.equal(
      (await store.getWithTokens('x', ['g:a']))[1],
      [undefined],
      'gone 1000 ms after the extension',
    )

    await store.bump(['g:b'], 100)
    now += 101
    assert.equal((await store.getWithTokens('x', ['g:b']))[1], [undefined])

    assert.is(await store.acquire('lock', 'one', 100), true)
    now += 99
    assert.is(await store.acquire('lock', 'two', 100), false)
    now += 2
    assert.is(await store.acquire('lock', 'two', 100), true, 'expired lock taken over')
    await store.release('lock', 'one')
    assert.is(
      await store.acquire('lock', 'three', 100),
      false,
      'the late release of the old holder does not free it',
    )
  },
)

t('locks are not entries: a full LRU never evicts a lock', async () => {
  const store = new MemoryStore({ maxBytes: ROOM_FOR_3 })
  assert.is(await store.acquire('lock', 'me', 60_000), true)
  for (let i = 0; i < 20; i++) await store.set(`k${i}`, Buffer.alloc(298), 60_000)
  assert.is(await store.acquire('lock', 'other', 60_000), false)
})

t('thousands of expired, never released locks are swept while new ones stay held', async () => {
  let now = 0
  const store = new MemoryStore({ clock: { now: () => now } })
  for (let i = 0; i < 3000; i++) assert.is(await store.acquire(`l${i}`, 'x', 10), true)
  now += 20
  for (let i = 0; i < 3000; i++) assert.is(await store.acquire(`m${i}`, 'y', 60_000), true)
  for (let i = 0; i < 3000; i += 250) {
    assert.is(await store.acquire(`m${i}`, 'z', 60_000), false, `m${i} still held`)
    assert.is(await store.acquire(`l${i}`, 'z', 60_000), true, `l${i} expired`)
  }
})

t('get of a token key reads its bytes, as on Redis', async () => {
  const store = new MemoryStore()
  const [token] = await store.tokens(['g:1'], 60_000)
  assert.equal((await store.get('g:1'))?.toString(), token)
})

s.run()
c.run()
t.run()
