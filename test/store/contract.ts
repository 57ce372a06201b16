/**
 * The Store contract (src/store/types.ts), run against every implementation (style.md §2.12,
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
    if (Date.now() > until) throw new assert.Assertion({ message: `${what} did not hold within ${ms} ms`, operator: 'eventually', expects: true, actual: false })
    await delay(10)
  }
}

export function storeContract(name: string, makeStore: () => Store | Promise<Store>): Test {
  const s = suite(`store contract: ${name}`)
  // unique keys per run: a shared Redis may hold earlier runs' keys
  const ns = `contract:${randomBytes(4).toString('hex')}:`
  let n = 0
  const key = (label: string) => `${ns}${label}:${n++}`

  const withStore = async (fn: (store: Store) => Promise<void>) => {
    const store = await makeStore()
    try { await fn(store) } finally { await store.close() }
  }

  s('get of a missing key resolves undefined', () => withStore(async (store) => {
    assert.is(await store.get(key('missing')), undefined)
  }))

  s('set then get returns the same bytes, all 256 byte values', () => withStore(async (store) => {
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
  }))

  s('an entry is gone after its ttl', () => withStore(async (store) => {
    const k = key('ttl')
    const long = key('ttl-long')
    await store.set(k, Buffer.from('short-lived'), 50)
    await store.set(long, Buffer.from('long-lived'), 60_000)
    await eventually(async () => (await store.get(k)) === undefined, 5000, 'expiry after 50 ms')
    assert.equal((await store.get(long))?.toString(), 'long-lived')
  }))

  s('set overwrites the value and its ttl', () => withStore(async (store) => {
    const k = key('overwrite')
    await store.set(k, Buffer.from('first'), 50)
    await store.set(k, Buffer.from('second value'), 60_000)
    assert.equal((await store.get(k))?.toString(), 'second value')
    // the old 50 ms lifetime must not survive the overwrite
    await delay(120)
    assert.equal((await store.get(k))?.toString(), 'second value')
  }))

  s('a non-positive ttl removes the entry', () => withStore(async (store) => {
    const k = key('zero-ttl')
    await store.set(k, Buffer.from('x'), 60_000)
    await store.set(k, Buffer.from('y'), 0)
    assert.is(await store.get(k), undefined)
  }))

  s('delete removes several keys and counts the ones that existed', () => withStore(async (store) => {
    const ks = [key('del-a'), key('del-b'), key('del-c'), key('del-d')]
    const keep = key('del-keep')
    for (const k of ks) await store.set(k, Buffer.from(k), 60_000)
    await store.set(keep, Buffer.from('keep'), 60_000)
    assert.is(await store.delete([...ks, key('del-never-set')]), 4)
    for (const k of ks) assert.is(await store.get(k), undefined)
    assert.equal((await store.get(keep))?.toString(), 'keep')
    assert.is(await store.delete([]), 0)
  }))

  s('close resolves, twice, and leaves nothing running', async () => {
    const store = await makeStore()
    await store.set(key('close'), Buffer.from('v'), 60_000)
    await store.close()
    await store.close()
    // after close a read settles (miss or rejection), it never hangs or throws synchronously
    await store.get(key('close')).then(() => {}, () => {})
    assert.is(await store.set(key('close'), Buffer.from('v'), 60_000), undefined)
  })

  return s
}
