/**
 * The Store contract (src/store/types.ts), run against every implementation (the style notes §2.12,
 * after hono's `runTest`). Returns the uvu suite unrun, so a file can add hooks that start a
 * server first: `const s = storeContract('redis', make); s.before(start); s.after(stop); s.run()`.
 */
import { randomBytes } from 'node:crypto'
import { suite, type Test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Store } from '../../src/store/types.js'

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Poll until `fn` holds; fail after `ms` (a generous bound, not a timing assertion). */
export async function eventually(fn: () => Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (await fn()) return
    if (Date.now() > until)
      throw new assert.Assertion({
        message: `${what} did not hold within ${ms} ms`,
        operator: 'eventually',
        expects: true,
        actual: false,
      })
    await delay(10)
  }
}

export interface ContractOptions {
  /**
   * false for a store that cannot create a token atomically (a user's get/set/delete store,
   * completed by `completeStore`): the one assertion that concurrent creators agree is left out.
   * @default true
   */
  atomicTokens?: boolean
  /** the remaining life of a key in ms, read from the server itself (Redis PTTL), when there is one */
  pttl?: (key: string) => Promise<number>
}

export function storeContract(
  name: string,
  makeStore: () => Store | Promise<Store>,
  opts: ContractOptions = {},
): Test {
  const s = suite(`store contract: ${name}`)
  // unique keys per run: a shared Redis may hold earlier runs' keys
  const ns = `contract:${randomBytes(4).toString('hex')}:`
  let n = 0
  const key = (label: string) => `${ns}${label}:${n++}`

  const withStore = async (fn: (store: Store) => Promise<void>) => {
    const store = await makeStore()
    try {
      await fn(store)
    } finally {
      await store.close()
    }
  }

  s('get of a missing key resolves undefined', () =>
    withStore(async (store) => {
      assert.is(await store.get(key('missing')), undefined)
    }),
  )

  s('set then get returns the same bytes, all 256 byte values', () =>
    withStore(async (store) => {
      const k = key('binary')
      const value = Buffer.alloc(1024)
      for (let i = 0; i < value.length; i++) value[i] = i % 256
      await store.set(k, value, 60_000)
      const got = await store.get(k)
      assert.ok(Buffer.isBuffer(got), 'a Buffer comes back')
      assert.ok(value.equals(got!), 'byte for byte')
      // also an empty value and one that is not valid UTF-8 at its edges
      const k2 = key('empty')
      await store.set(k2, Buffer.alloc(0), 60_000)
      assert.equal((await store.get(k2))?.length, 0)
      const k3 = key('edge')
      const edge = Buffer.from([0xff, 0xfe, 0x00, 0xc3])
      await store.set(k3, edge, 60_000)
      assert.equal([...(await store.get(k3))!], [0xff, 0xfe, 0x00, 0xc3])
    }),
  )

  s('an entry is gone after its ttl', () =>
    withStore(async (store) => {
      const k = key('ttl')
      const long = key('ttl-long')
      await store.set(k, Buffer.from('short-lived'), 50)
      await store.set(long, Buffer.from('long-lived'), 60_000)
      await eventually(async () => (await store.get(k)) === undefined, 5000, 'expiry after 50 ms')
      assert.equal((await store.get(long))?.toString(), 'long-lived')
    }),
  )

  s('set overwrites the value and its ttl', () =>
    withStore(async (store) => {
      const k = key('overwrite')
      await store.set(k, Buffer.from('first'), 50)
      await store.set(k, Buffer.from('second value'), 60_000)
      assert.equal((await store.get(k))?.toString(), 'second value')
      // the old 50 ms lifetime must not survive the overwrite
      await delay(120)
      assert.equal((await store.get(k))?.toString(), 'second value')
    }),
  )

  s('a non-positive ttl removes the entry', () =>
    withStore(async (store) => {
      const k = key('zero-ttl')
      await store.set(k, Buffer.from('x'), 60_000)
      await store.set(k, Buffer.from('y'), 0)
      assert.is(await store.get(k), undefined)
    }),
  )

  s('delete removes several keys and counts the ones that existed', () =>
    withStore(async (store) => {
      const ks = [key('del-a'), key('del-b'), key('del-c'), key('del-d')]
      const keep = key('del-keep')
      for (const k of ks) await store.set(k, Buffer.from(k), 60_000)
      await store.set(keep, Buffer.from('keep'), 60_000)
      assert.is(await store.delete([...ks, key('del-never-set')]), 4)
      for (const k of ks) assert.is(await store.get(k), undefined)
      assert.equal((await store.get(keep))?.toString(), 'keep')
      assert.is(await store.delete([]), 0)
    }),
  )

  // ---- generation tokens and locks ---------------------------------------------------------

  s('tokens creates a token once and returns the same one on the next call', () =>
    withStore(async (store) => {
      const [a, b] = [key('g:a'), key('g:b')]
      const first = await store.tokens([a, b], 60_000)
      assert.is(first.length, 2)
      for (const t of first)
        assert.ok(typeof t === 'string' && t.length >= 16, `a token: ${JSON.stringify(t)}`)
      assert.is.not(first[0], first[1], 'each key gets its own token')
      assert.equal(await store.tokens([a, b], 60_000), first)
      assert.equal(await store.tokens([b], 60_000), [first[1]])
      assert.equal(await store.tokens([], 60_000), [])
    }),
  )

  const concurrent =
    opts.atomicTokens === false
      ? '50 concurrent tokens calls on an absent key all resolve and the stored token is among them ' +
        '(agreement not asserted: a get/set/delete store cannot create atomically, a lost race is only a false miss)'
      : '50 concurrent tokens calls on an absent key all return the same token'
  s(concurrent, () =>
    withStore(async (store) => {
      const g = key('g:race')
      const got = await Promise.all(
        Array.from({ length: 50 }, () => store.tokens([g], 60_000).then((t) => t[0]!)),
      )
      for (const t of got) assert.ok(typeof t === 'string' && t.length >= 16)
      const [stored] = await store.tokens([g], 60_000)
      if (opts.atomicTokens === false) {
        assert.ok(got.includes(stored!), 'the token kept by the store was returned to its creator')
      } else {
        assert.equal(new Set(got).size, 1, `${new Set(got).size} different tokens`)
        assert.is(got[0], stored)
      }
    }),
  )

  s('bump gives every key a fresh token; tokens then returns the new one', () =>
    withStore(async (store) => {
      const [a, b, c] = [key('g:bump-a'), key('g:bump-b'), key('g:bump-c')]
      const before = await store.tokens([a, b, c], 60_000)
      assert.is(await store.bump([a, b], 60_000), undefined)
      const after = await store.tokens([a, b, c], 60_000)
      assert.is.not(after[0], before[0])
      assert.is.not(after[1], before[1])
      assert.is(after[2], before[2], 'a key not bumped keeps its token')
      // bumping a key that never existed creates it
      const d = key('g:bump-new')
      await store.bump([d], 60_000)
      const [, [td]] = await store.getWithTokens(key('none'), [d])
      assert.ok(typeof td === 'string' && td.length >= 16)
      await store.bump([], 60_000)
    }),
  )

  s('getWithTokens returns the value and the current tokens, undefined where absent', () =>
    withStore(async (store) => {
      const k = key('gwt')
      const [a, b, absent] = [key('g:gwt-a'), key('g:gwt-b'), key('g:gwt-absent')]
      const value = Buffer.from([0x00, 0xff, 0x41, 0x80])
      await store.set(k, value, 60_000)
      const [ta, tb] = await store.tokens([a, b], 60_000)
      const [v, tokens] = await store.getWithTokens(k, [a, absent, b])
      assert.ok(Buffer.isBuffer(v) && value.equals(v), 'the value, byte for byte')
      assert.equal(tokens, [ta, undefined, tb])
      // a missing entry with present tokens, and no tokens at all (exactly like get)
      assert.equal(await store.getWithTokens(key('gwt-missing'), [b]), [undefined, [tb]])
      const [v2, none] = await store.getWithTokens(k, [])
      assert.ok(v2 && value.equals(v2))
      assert.equal(none, [])
      await store.bump([a], 60_000)
      const [, [ta2, tb2]] = await store.getWithTokens(k, [a, b])
      assert.is.not(ta2, ta)
      assert.ok(typeof ta2 === 'string')
      assert.is(tb2, tb)
    }),
  )

  s('a token key deleted (as eviction would) reads as undefined, and tokens makes a new one', () =>
    withStore(async (store) => {
      const k = key('evict')
      const [a, b] = [key('g:evict-a'), key('g:evict-b')]
      await store.set(k, Buffer.from('entry'), 60_000)
      const [ta, tb] = await store.tokens([a, b], 60_000)
      assert.is(await store.delete([a]), 1)
      assert.equal(await store.getWithTokens(k, [a, b]), [Buffer.from('entry'), [undefined, tb]])
      const [ta2] = await store.tokens([a], 60_000)
      assert.ok(typeof ta2 === 'string' && ta2 !== ta, 'never the old token again')
    }),
  )

  s('20 generation keys in one call (on a Cluster: spread over every master)', () =>
    withStore(async (store) => {
      const k = key('many')
      const gens = Array.from({ length: 20 }, (_, i) => key(`g:many-${i}`))
      await store.set(k, Buffer.from('v'), 60_000)
      const made = await store.tokens(gens, 60_000)
      assert.is(new Set(made).size, 20)
      const [v, read] = await store.getWithTokens(k, gens)
      assert.equal(v?.toString(), 'v')
      assert.equal(read, made)
      await store.bump(gens.slice(0, 10), 60_000)
      const [, after] = await store.getWithTokens(k, gens)
      for (let i = 0; i < 20; i++) {
        if (i < 10) assert.ok(after[i] !== undefined && after[i] !== made[i], `gen ${i} bumped`)
        else assert.is(after[i], made[i], `gen ${i} untouched`)
      }
    }),
  )

  s('token keys expire after their ttl; tokens extends a shorter life', () =>
    withStore(async (store) => {
      const [short, extended] = [key('g:short'), key('g:extended')]
      // 1 s, not less: the second call must reach Redis before the first life ends, on a loaded
      // machine too (50 ms flaked on a Cluster under the full suite)
      const [ts, te] = await store.tokens([short, extended], 1000)
      assert.equal(await store.tokens([extended], 60_000), [te], 'same token, longer life')
      await eventually(
        async () => (await store.getWithTokens(key('x'), [short]))[1][0] === undefined,
        8000,
        'token expiry after 1 s',
      )
      assert.equal((await store.getWithTokens(key('x'), [extended]))[1], [te])
      const [ts2] = await store.tokens([short], 60_000)
      assert.is.not(ts2, ts)
      // a bump's ttl is the new token's life
      const bumped = key('g:bumped')
      await store.bump([bumped], 50)
      await eventually(
        async () => (await store.getWithTokens(key('x'), [bumped]))[1][0] === undefined,
        5000,
        'bumped token expiry',
      )
    }),
  )

  if (opts.pttl) {
    const pttl = opts.pttl
    s('token keys carry a PTTL after tokens() and bump()', () =>
      withStore(async (store) => {
        const [a, b] = [key('g:pttl-a'), key('g:pttl-b')]
        await store.tokens([a], 60_000)
        await store.bump([b], 30_000)
        const pa = await pttl(a)
        const pb = await pttl(b)
        assert.ok(pa > 0 && pa <= 60_000, `PTTL after tokens: ${pa}`)
        assert.ok(pb > 0 && pb <= 30_000, `PTTL after bump: ${pb}`)
        // tokens with a shorter ttl never shortens a life
        await store.tokens([a], 1000)
        const pa2 = await pttl(a)
        assert.ok(pa2 > 1000, `PTTL kept: ${pa2}`)
      }),
    )
  }

  s(
    'acquire twice: true then false; release with the wrong token keeps the lock, the right one frees it',
    () =>
      withStore(async (store) => {
        const lock = key('lock')
        assert.is(await store.acquire(lock, 'holder-1', 60_000), true)
        assert.is(await store.acquire(lock, 'holder-2', 60_000), false)
        assert.is(await store.release(lock, 'holder-2'), undefined)
        assert.is(await store.acquire(lock, 'holder-3', 60_000), false, 'still held by holder-1')
        await store.release(lock, 'holder-1')
        assert.is(await store.acquire(lock, 'holder-3', 60_000), true, 'free after the holder released it')
        await store.release(lock, 'holder-3')
        // releasing a lock nobody holds is harmless
        await store.release(key('lock-none'), 'nobody')
      }),
  )

  s('a lock ends with its ttl when nobody releases it', () =>
    withStore(async (store) => {
      const lock = key('lock-ttl')
      assert.is(await store.acquire(lock, 'crashed', 50), true)
      await eventually(async () => store.acquire(lock, 'next', 60_000), 5000, 'lock free after its ttl')
      assert.is(await store.acquire(lock, 'third', 60_000), false)
    }),
  )

  s('close resolves, twice, and leaves nothing running', async () => {
    const store = await makeStore()
    await store.set(key('close'), Buffer.from('v'), 60_000)
    await store.close()
    await store.close()
    // after close a read settles (miss or rejection), it never hangs or throws synchronously
    await store.get(key('close')).then(
      () => {},
      () => {},
    )
    assert.is(await store.set(key('close'), Buffer.from('v'), 60_000), undefined)
  })

  return s
}
