/**
 * A user's own store with only get/set/delete/close (README "Library API": "an object implementing the
 * Store interface"), completed by createStore with generic tokens and locks (`completeStore`).
 * The backing Map (test/helpers/map-store.ts) answers after a macrotask, so concurrent callers
 * really interleave.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { StoreTimeoutError } from '../../src/errors.js'
import { completeStore, createStore } from '../../src/store/create.js'
import { mapStore } from '../helpers/map-store.js'
import { storeContract } from './contract.js'

storeContract('user get/set/delete store, completed', () => createStore(mapStore(), { name: 'test' }).store, {
  atomicTokens: false,
}).run()

const s = suite('completeStore')

s(
  'tokens are stored as small Buffers under the generation key, with the time they were meant to live to',
  async () => {
    const inner = mapStore()
    const store = completeStore(inner)
    const before = Date.now()
    const [token] = await store.tokens(['g:1'], 60_000)
    const stored = inner.data.get('g:1')?.value
    assert.ok(Buffer.isBuffer(stored))
    // `<purge time base36>.<22 random chars>`: created on first use, so time 0
    assert.ok(/^0\.[\w-]{22}$/.test(token!), token)
    const [t, until] = stored!.toString('latin1').split(' ')
    assert.is(t, token)
    const ms = Number.parseInt(until!, 36)
    assert.ok(ms >= before + 60_000 && ms <= Date.now() + 60_000, `until ${ms}`)
    assert.ok(stored!.length <= 33, `${stored!.length} bytes`)
    // what getWithTokens reads back is the token alone
    assert.equal((await store.getWithTokens('k', ['g:1']))[1], [token])
  },
)

s('tokens extends a life and never shortens it: no write at all when the life already suffices', async () => {
  const inner = mapStore()
  const store = completeStore(inner)
  const [t] = await store.tokens(['g:tag'], 3_600_000)
  const long = inner.data.get('g:tag')!
  assert.equal(await store.tokens(['g:tag'], 1000), [t])
  assert.is(inner.data.get('g:tag'), long, 'not rewritten (a shorter life asked)')
  assert.equal(await store.tokens(['g:tag'], 7_200_000), [t])
  assert.ok(inner.data.get('g:tag')!.until >= long.until + 3_600_000 - 1000, 'extended')
})

s('a token written without a life (by an earlier version) is read as is and rewritten with one', async () => {
  const inner = mapStore()
  const store = completeStore(inner)
  await inner.set('g:old', Buffer.from('0.abcdefghijklmnopqrstuv', 'latin1'), 60_000)
  assert.equal((await store.getWithTokens('k', ['g:old']))[1], ['0.abcdefghijklmnopqrstuv'])
  assert.equal(await store.tokens(['g:old'], 60_000), ['0.abcdefghijklmnopqrstuv'])
  assert.match(inner.data.get('g:old')!.value.toString('latin1'), /^0\.abcdefghijklmnopqrstuv [0-9a-z]+$/)
})

s('a get that never answers gives up after the read deadline, with STORE_TIMEOUT', async () => {
  const inner = { ...mapStore(), get: () => new Promise<Buffer | undefined>(() => {}) }
  const store = completeStore(inner, { readDeadlineMs: 30 })
  for (const p of [
    store.get('k'),
    store.getWithTokens('k', ['g']),
    store.tokens(['g'], 1000),
    store.acquire('l', 't', 1000),
  ]) {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    )
    assert.ok(e instanceof StoreTimeoutError, String(e))
    assert.is((e as StoreTimeoutError).code, 'STORE_TIMEOUT')
  }
  // release never rejects, even when the store never answers
  const quick = completeStore(inner, { readDeadlineMs: 30, bumpDeadlineMs: 30 })
  assert.is(await quick.release('l', 't'), undefined)
})

s(
  'a bump whose set fails rejects (a purge never claims success); a throwing get is a rejection',
  async () => {
    const inner = {
      ...mapStore(),
      set: async () => {
        throw new Error('disk full')
      },
    }
    const store = completeStore(inner)
    const e = await store.bump(['g:1', 'g:2'], 1000).then(
      () => undefined,
      (err: unknown) => err,
    )
    assert.match(String(e), /disk full/)
    const sync = completeStore({
      ...mapStore(),
      get: () => {
        throw new Error('sync boom')
      },
    })
    const r = await sync.get('k').then(
      () => undefined,
      (err: unknown) => err,
    )
    assert.match(String(r), /sync boom/)
    assert.is(await sync.release('k', 't'), undefined)
  },
)

s('bad deadline options throw a TypeError naming the option', () => {
  assert.throws(() => completeStore(mapStore(), { readDeadlineMs: 0 }), /readDeadlineMs/)
  assert.throws(() => completeStore(mapStore(), { bumpDeadlineMs: NaN }), /bumpDeadlineMs/)
})

s.run()
