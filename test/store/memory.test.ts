import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryStore } from '../../src/store/memory.js'
import { createStore } from '../../src/store/create.js'
import type { Store } from '../../src/store/types.js'
import { storeContract } from './contract.js'

storeContract('memory', () => new MemoryStore()).run()

const s = suite('MemoryStore')

s('is always ready and of kind "memory"', () => {
  const store = new MemoryStore()
  assert.is(store.ready, true)
  assert.is(store.kind, 'memory')
})

s('get returns the stored Buffer itself (no copy)', async () => {
  const store = new MemoryStore()
  const value = Buffer.from('same object')
  await store.set('k', value, 1000)
  assert.is(await store.get('k'), value)
})

s('bounded by bytes: value.length + key.length, least recently used evicted first', async () => {
  const store = new MemoryStore({ maxBytes: 1000 })
  // keys are 2 chars, values 298 bytes: 300 bytes an entry, three fit in 1000
  await store.set('k1', Buffer.alloc(298, 1), 60_000)
  await store.set('k2', Buffer.alloc(298, 2), 60_000)
  await store.set('k3', Buffer.alloc(298, 3), 60_000)
  assert.equal(store.stats, { entries: 3, bytes: 900 })
  await store.get('k1') // k1 becomes most recently used; k2 is now the oldest
  await store.set('k4', Buffer.alloc(298, 4), 60_000)
  assert.equal(store.stats, { entries: 3, bytes: 900 })
  assert.is(await store.get('k2'), undefined)
  assert.equal((await store.get('k1'))?.[0], 1)
  assert.equal((await store.get('k4'))?.[0], 4)
})

s('an entry larger than the whole bound is not stored, and drops the old value of its key', async () => {
  const store = new MemoryStore({ maxBytes: 100 })
  await store.set('big', Buffer.alloc(50), 60_000)
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
  assert.throws(() => new MemoryStore({ maxBytes: 0 }), (e: unknown) => e instanceof TypeError && /maxBytes/.test(String(e)))
  assert.throws(() => new MemoryStore({ maxBytes: Infinity }), (e: unknown) => e instanceof TypeError && /maxBytes/.test(String(e)))
  assert.throws(() => new MemoryStore({ maxBytes: 1.5 }), (e: unknown) => e instanceof TypeError && /maxBytes/.test(String(e)))
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

c('an object implementing Store is used as is, not owned', () => {
  const mine: Store = {
    kind: 'mine',
    ready: true,
    get: async () => undefined,
    set: async () => {},
    delete: async () => 0,
    close: async () => {},
  }
  const { store, owned } = createStore(mine, { name: 'test' })
  assert.is(store, mine)
  assert.is(owned, false)
})

c('anything else is a TypeError naming the store option', () => {
  const bad: unknown[] = ['redis', 'http://x', 'memcached://x', 42, null, true, { redis: 'x' }, { cluster: [] },
    { nope: 1 }, { get() {} }, { memory: 5 }]
  for (const spec of bad) {
    assert.throws(() => createStore(spec, { name: 'test' }),
      (e: unknown) => e instanceof TypeError && /store/.test((e as Error).message), `rejects ${JSON.stringify(spec)}`)
  }
})

s.run()
c.run()
