/**
 * RFC 5861 through `cachet serve`, from the response's own directives: stale-while-revalidate
 * (stale served at once while exactly one background refresh runs) and stale-if-error (stale
 * served when the origin answers 5xx, closes the connection or times out, within the window),
 * never when must-revalidate, proxy-revalidate, no-cache or s-maxage forbid serving stale
 * (RFC 9111 §4.2.4), and an error never overwriting a good entry.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Env, envs, eventually, gate, type Reply, storedHeader } from './harness.js'

const test = suite('conformance: stale-while-revalidate / stale-if-error (RFC 5861)')
const pool = envs()
test.after.each(pool.closeAll)

/** A stored response #1 under `cc`, then the clock moved `by` seconds. */
async function storedThenAged(env: Env, path: string, cc: string, by: number): Promise<void> {
  const a = await env.send(path)
  assert.is(a.body, 'response #1')
  assert.is(a.headers['cache-control'], cc)
  await env.waitStored(path)
  env.clock.advance(by)
}

/** The origin's request count stays `n` over a few more requests (no second refresh). */
async function assertStays(env: Env, path: string, n: number): Promise<void> {
  for (let i = 0; i < 3; i++) await env.send(path)
  assert.is(env.origin.count, n)
}

test('RFC 5861 §3: within stale-while-revalidate, stale is served at once and exactly one background refresh runs', async () => {
  const env = await pool.start()
  const held = gate()
  env.origin.script(
    '/swr',
    { headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60' } },
    { headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60' }, gate: held.promise },
  )
  await storedThenAged(env, '/swr', 'max-age=10, stale-while-revalidate=60', 15)

  // the refresh is held at the origin: every request meanwhile is answered stale, none starts another
  const stale = await Promise.all(Array.from({ length: 10 }, () => env.send('/swr')))
  for (const s of stale) {
    assert.is(s.status, 200)
    assert.is(s.body, 'response #1')
    assert.is(s.headers['cache-status'], 'cachet; hit; ttl=-5')
    assert.is(s.headers.age, '15')
  }
  await env.origin.waitForRequests(2, 'the background refresh reached the origin')
  const more = await env.send('/swr')
  assert.is(more.body, 'response #1')
  assert.is(env.origin.count, 2, 'one refresh while it is in flight')

  held.open()
  await env.waitStored('/swr', {}, (e) => e.body.toString() === 'response #2')
  const fresh = await env.send('/swr')
  assert.is(fresh.body, 'response #2')
  assert.is(fresh.headers['cache-status'], 'cachet; hit; ttl=10')
  await assertStays(env, '/swr', 2)
})

test('RFC 5861 §3: the background refresh revalidates with the stored validator; a 304 refreshes the headers', async () => {
  const env = await pool.start()
  env.origin.script(
    '/swr304',
    { headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60', etag: '"a"', 'x-gen': 'one' } },
    {
      status: 304,
      headers: { 'cache-control': 'max-age=30, stale-while-revalidate=60', etag: '"a"', 'x-gen': 'two' },
    },
  )
  await storedThenAged(env, '/swr304', 'max-age=10, stale-while-revalidate=60', 11)
  const s = await env.send('/swr304')
  assert.is(s.body, 'response #1')
  assert.is(s.headers['x-gen'], 'one')
  await env.origin.waitForRequests(2)
  assert.is(env.origin.requests[1]!.headers['if-none-match'], '"a"')
  await env.waitStored('/swr304', {}, (e) => storedHeader(e, 'x-gen') === 'two')
  const r = await env.send('/swr304')
  assert.is(r.body, 'response #1')
  assert.is(r.headers['x-gen'], 'two')
  assert.is(r.headers['cache-status'], 'cachet; hit; ttl=30')
  await assertStays(env, '/swr304', 2)
})

test('RFC 5861 §3: a failed background refresh leaves the stale entry in place', async () => {
  const env = await pool.start()
  env.origin.script(
    '/swr500',
    { headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60' } },
    { status: 500, headers: { 'cache-control': 'no-store' } },
  )
  await storedThenAged(env, '/swr500', 'max-age=10, stale-while-revalidate=60', 20)
  assert.is((await env.send('/swr500')).body, 'response #1')
  await env.origin.waitForRequests(2)
  // the next request sees the same stale entry (and may start another refresh, which also fails)
  await eventually(
    async () => (await env.send('/swr500')).body === 'response #1' && env.origin.count >= 3,
    'stale entry still served after a failed refresh',
  )
  const e = await env.entry('/swr500')
  assert.is(e?.body.toString(), 'response #1')
})

for (const [name, reply] of [
  ['a 5xx', { status: 500, body: Buffer.alloc(256 * 1024, 'e') }],
  [
    'an unstorable 200 (no-store)',
    { headers: { 'cache-control': 'no-store' }, body: Buffer.alloc(256 * 1024, 'n') },
  ],
] as const) {
  test(`RFC 5861 §3: a background refresh answered with ${name} releases its upstream connection`, async () => {
    const env = await pool.start()
    env.origin.script(
      '/swr-drain',
      { headers: { 'cache-control': 'max-age=10, stale-while-revalidate=600' } },
      reply,
    )
    await storedThenAged(env, '/swr-drain', 'max-age=10, stale-while-revalidate=600', 20)
    // five refreshes, one after another (each stale request starts one once the last is over)
    for (let i = 2; i <= 6; i++) {
      await eventually(
        async () => {
          assert.is((await env.send('/swr-drain')).body, 'response #1')
          return env.origin.count >= i
        },
        `refresh #${i - 1} reached the origin`,
      )
    }
    // the bodies it did not want must have been consumed or discarded: connections reusable or closed
    await eventually(() => env.origin.connections <= 1, 'upstream connections released')
    assert.ok(env.origin.connections <= 1)
  })
}

test("RFC 5861 §3: the background refresh asks for the full representation, not the triggering client's Range", async () => {
  const env = await pool.start()
  const cc = 'max-age=10, stale-while-revalidate=600'
  env.origin.script(
    '/media',
    (req): Reply =>
      req.headers.range !== undefined
        ? { status: 206, headers: { 'cache-control': cc, 'content-range': 'bytes 0-1/11' }, body: 're' }
        : { headers: { 'cache-control': cc } },
  )
  await storedThenAged(env, '/media', cc, 20)
  const s = await env.send('/media', { headers: { range: 'bytes=0-1', 'if-range': '"whatever"' } })
  assert.is(s.body, 'response #1', 'stale, whole (a cache may ignore Range)')
  await env.origin.waitForRequests(2)
  const refresh = env.origin.requests[1]!
  assert.is(refresh.headers.range, undefined, "no Range on the cache's own refresh")
  assert.is(refresh.headers['if-range'], undefined)
  await env.waitStored('/media', {}, (e) => e.body.toString() === 'response #2')
  assert.is((await env.send('/media')).headers['cache-status'], 'cachet; hit; ttl=10')
})

test('RFC 5861 §3: past the stale-while-revalidate window the request waits for the origin', async () => {
  const env = await pool.start()
  env.origin.script('/swr-late', {
    headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60', etag: '"l"' },
  })
  await storedThenAged(env, '/swr-late', 'max-age=10, stale-while-revalidate=60', 71)
  const r = await env.send('/swr-late')
  assert.is(r.body, 'response #2')
  assert.is(env.origin.count, 2)
})

for (const [name, cc] of [
  ['must-revalidate', 'max-age=10, must-revalidate, stale-while-revalidate=60'],
  ['proxy-revalidate', 'max-age=10, proxy-revalidate, stale-while-revalidate=60'],
  ['s-maxage', 's-maxage=10, stale-while-revalidate=60'],
  ['no-cache', 'no-cache, max-age=10, stale-while-revalidate=60'],
] as const) {
  test(`RFC 9111 §4.2.4: ${name} forbids serving stale-while-revalidate`, async () => {
    const env = await pool.start()
    env.origin.script('/f', { headers: { 'cache-control': cc, etag: '"f"' } })
    await storedThenAged(env, '/f', cc, 15)
    const r = await env.send('/f')
    assert.is(env.origin.count, 2, 'the origin was asked before answering')
    assert.is(r.body, 'response #2')
    assert.not.match(String(r.headers['cache-status']), /hit/)
  })
}

test('RFC 5861 §4: within stale-if-error, a 5xx from the origin is replaced by the stale entry', async () => {
  const env = await pool.start()
  env.origin.script(
    '/sie',
    { headers: { 'cache-control': 'max-age=10, stale-if-error=60' } },
    { status: 500, body: 'boom' },
    { status: 503, body: 'down' },
  )
  await storedThenAged(env, '/sie', 'max-age=10, stale-if-error=60', 15)
  const r = await env.send('/sie')
  assert.is(r.status, 200)
  assert.is(r.body, 'response #1')
  assert.is(r.headers['cache-status'], 'cachet; fwd=stale; fwd-status=500')
  assert.is(r.headers.age, '15')
  // the error was not stored over the good entry
  const r2 = await env.send('/sie')
  assert.is(r2.body, 'response #1')
  assert.is(r2.headers['cache-status'], 'cachet; fwd=stale; fwd-status=503')
  const e = await env.entry('/sie')
  assert.is(e?.body.toString(), 'response #1')
  assert.is(env.origin.count, 3)
})

test('RFC 5861 §4: within stale-if-error, an origin that closes the connection gets the stale entry served', async () => {
  const env = await pool.start()
  env.origin.script(
    '/sie-close',
    { headers: { 'cache-control': 'max-age=10, stale-if-error=60' } },
    { hangUp: true },
  )
  await storedThenAged(env, '/sie-close', 'max-age=10, stale-if-error=60', 15)
  const r = await env.send('/sie-close')
  assert.is(r.status, 200)
  assert.is(r.body, 'response #1')
  assert.is(r.headers['cache-status'], 'cachet; fwd=stale; fwd-status=502')
})

test('RFC 5861 §4: within stale-if-error, an origin that times out gets the stale entry served', async () => {
  const env = await pool.start({ timeoutMs: 200 })
  const never = gate() // opened only by close(), never by time
  env.origin.script(
    '/sie-slow',
    { headers: { 'cache-control': 'max-age=10, stale-if-error=60' } },
    { gate: never.promise },
  )
  await storedThenAged(env, '/sie-slow', 'max-age=10, stale-if-error=60', 15)
  const r = await env.send('/sie-slow')
  assert.is(r.status, 200)
  assert.is(r.body, 'response #1')
  assert.is(r.headers['cache-status'], 'cachet; fwd=stale; fwd-status=504')
  never.open()
})

test('RFC 5861 §4: past the stale-if-error window the error reaches the client', async () => {
  const env = await pool.start()
  env.origin.script(
    '/sie-late',
    { headers: { 'cache-control': 'max-age=10, stale-if-error=60', etag: '"x"' } },
    { status: 502, body: 'bad gateway' },
  )
  await storedThenAged(env, '/sie-late', 'max-age=10, stale-if-error=60', 71)
  const r = await env.send('/sie-late')
  assert.is(r.status, 502)
  assert.is(r.body, 'bad gateway')
})

test('RFC 5861 §4: a 4xx is not an error for stale-if-error: it is passed on', async () => {
  const env = await pool.start()
  env.origin.script(
    '/sie-404',
    { headers: { 'cache-control': 'max-age=10, stale-if-error=60' } },
    { status: 404, body: 'gone' },
  )
  await storedThenAged(env, '/sie-404', 'max-age=10, stale-if-error=60', 15)
  const r = await env.send('/sie-404')
  assert.is(r.status, 404)
  assert.is(r.body, 'gone')
})

for (const [name, cc] of [
  ['must-revalidate', 'max-age=10, must-revalidate, stale-if-error=60'],
  ['proxy-revalidate', 'max-age=10, proxy-revalidate, stale-if-error=60'],
  ['s-maxage', 's-maxage=10, stale-if-error=60'],
  ['no-cache', 'no-cache, max-age=10, stale-if-error=60'],
] as const) {
  test(`RFC 9111 §4.2.4: ${name} forbids stale-if-error: the 5xx reaches the client`, async () => {
    const env = await pool.start()
    env.origin.script(
      '/g',
      { headers: { 'cache-control': cc, etag: '"g"' } },
      { status: 503, body: 'unavailable' },
    )
    await storedThenAged(env, '/g', cc, 15)
    assert.ok(await env.entry('/g'), 'the stale entry is still stored (it has a validator)')
    const r = await env.send('/g')
    assert.is(r.status, 503)
    assert.is(r.body, 'unavailable')
  })
}

// RFC 9111 §4.2.4: "A cache MUST NOT generate a stale response unless it is disconnected or doing
// so is explicitly permitted". cachet serve's plain cache, disconnected: staleIfUnreachable 1h.
for (const [how, reply, fwd] of [
  ['closes the connection unanswered', { hangUp: true }, 502],
  ['times out', 'never', 504],
] as const) {
  test(`RFC 9111 §4.2.4: disconnected (the origin ${how}), the plain cache serves an expired entry with no stale-if-error`, async () => {
    const env = await pool.start({ timeoutMs: 200 })
    const never = gate()
    env.origin.script(
      '/dc',
      { headers: { 'cache-control': 'max-age=10' } },
      reply === 'never' ? { gate: never.promise } : reply,
    )
    await storedThenAged(env, '/dc', 'max-age=10', 15)
    const r = await env.send('/dc')
    never.open()
    assert.is(r.status, 200)
    assert.is(r.body, 'response #1')
    assert.is(r.headers['cache-status'], `cachet; fwd=stale; fwd-status=${fwd}; detail=origin-unreachable`)
    assert.is(r.headers.age, '15')
  })
}

test('RFC 9111 §4.2.4: an origin that answers 503 is reachable: without stale-if-error the 503 reaches the client', async () => {
  const env = await pool.start()
  env.origin.script(
    '/dc-503',
    { headers: { 'cache-control': 'max-age=10' } },
    { status: 503, body: 'unavailable' },
  )
  await storedThenAged(env, '/dc-503', 'max-age=10', 15)
  const r = await env.send('/dc-503')
  assert.is(r.status, 503)
  assert.is(r.body, 'unavailable')
})

test('RFC 9111 §4.2.4: disconnected past the hour, the error reaches the client', async () => {
  const env = await pool.start()
  env.origin.script('/dc-late', { headers: { 'cache-control': 'max-age=10', etag: '"l"' } }, { hangUp: true })
  await storedThenAged(env, '/dc-late', 'max-age=10', 10 + 3600 + 1)
  const r = await env.send('/dc-late')
  assert.is(r.status, 502)
})

for (const [name, cc] of [
  ['must-revalidate', 'max-age=10, must-revalidate'],
  ['proxy-revalidate', 'max-age=10, proxy-revalidate'],
  ['s-maxage', 's-maxage=10'],
  ['no-cache', 'no-cache, max-age=10'],
] as const) {
  test(`RFC 9111 §4.2.4: ${name} forbids serving stale even when disconnected`, async () => {
    const env = await pool.start()
    env.origin.script('/dcf', { headers: { 'cache-control': cc, etag: '"f"' } }, { hangUp: true })
    await storedThenAged(env, '/dcf', cc, 15)
    assert.ok(await env.entry('/dcf'), 'the stale entry is still stored (it has a validator)')
    const r = await env.send('/dcf')
    assert.is(r.status, 502)
  })
}

test.run()
