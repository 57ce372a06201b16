/**
 * RFC 9111 §4.2 freshness through `cachet serve` (a shared cache, origin lifetimes only):
 * s-maxage > max-age > Expires − Date, invalid and duplicate values, and the Age arithmetic of
 * §4.2.3 including the origin's own Age. Time is the injected clock: `clock.advance(s)`.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs, statusTtl } from './harness.js'

const test = suite('conformance: freshness (RFC 9111 §4.2)')
const pool = envs()
test.after.each(pool.closeAll)

const httpDate = (ms: number) => new Date(ms).toUTCString()

test('RFC 9111 §4.2.1: max-age gives the lifetime; fresh until it ends, then the origin is asked again', async () => {
  const env = await pool.start()
  env.origin.script('/a', { headers: { 'cache-control': 'max-age=100' } })
  const a = await env.send('/a')
  assert.is(a.body, 'response #1')
  assert.is(a.headers['cache-status'], 'cachet; fwd=uri-miss')
  await env.waitStored('/a')
  const b = await env.send('/a')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=100')
  env.clock.advance(99)
  const c = await env.send('/a')
  assert.is(c.body, 'response #1')
  assert.is(c.headers['cache-status'], 'cachet; hit; ttl=1')
  env.clock.advance(1)
  const d = await env.send('/a')
  assert.is(d.body, 'response #2')
  assert.is(env.origin.count, 2)
})

test('RFC 9111 §4.2.1: s-maxage overrides max-age for a shared cache', async () => {
  const env = await pool.start()
  env.origin.script('/s', { headers: { 'cache-control': 'max-age=10, s-maxage=100' } })
  await env.send('/s')
  await env.waitStored('/s')
  env.clock.advance(50)
  const b = await env.send('/s')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=50')
  assert.is(env.origin.count, 1)
})

test('RFC 9111 §4.2.1: s-maxage=0 overrides a positive max-age: not reused', async () => {
  const env = await pool.start()
  env.origin.script('/s0', { headers: { 'cache-control': 's-maxage=0, max-age=600' } })
  await env.send('/s0')
  const b = await env.send('/s0')
  assert.is(b.body, 'response #2')
  assert.is(env.origin.count, 2)
  assert.is(await env.entry('/s0'), undefined)
})

test('RFC 9111 §4.2.1: max-age overrides Expires', async () => {
  const env = await pool.start()
  const date = Date.now()
  env.origin.script('/me', {
    headers: { 'cache-control': 'max-age=100', date: httpDate(date), expires: httpDate(date - 3600_000) },
  })
  await env.send('/me')
  await env.waitStored('/me')
  const b = await env.send('/me')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=100')
})

test('RFC 9111 §4.2.1: Expires is counted from the response Date, not from the cache clock', async () => {
  const env = await pool.start()
  // Date an hour in the past, Expires two minutes after it: 120 s of freshness (a cache that
  // compared Expires with its own clock would find it long expired)
  const date = Math.floor(Date.now() / 1000) * 1000 - 3600_000
  env.origin.script('/exp', { headers: { date: httpDate(date), expires: httpDate(date + 120_000) } })
  await env.send('/exp')
  await env.waitStored('/exp')
  const b = await env.send('/exp')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=120')
  env.clock.advance(120)
  const c = await env.send('/exp')
  assert.is(c.body, 'response #2')
})

test('RFC 9111 §5.3: an invalid Expires ("0") means already expired: not reused', async () => {
  const env = await pool.start()
  env.origin.script('/inv', { headers: { expires: '0' } })
  await env.send('/inv')
  const b = await env.send('/inv')
  assert.is(b.body, 'response #2')
  assert.is(env.origin.count, 2)
})

test('RFC 9110 §5.6.7: an Expires that Date.parse reads but the grammar does not (numeric zone, lower case, ISO) is invalid: already expired', async () => {
  const env = await pool.start()
  const year = new Date(Date.now()).getUTCFullYear() + 1
  const forms = [
    `Fri, 01 Jan ${year} 00:00:00 +0000`,
    `fri, 01 jan ${year} 00:00:00 gmt`,
    `${year}-01-01T00:00:00Z`,
    `Fri 01 Jan ${year} 00:00:00 GMT`,
  ]
  for (const [i, expires] of forms.entries()) {
    env.origin.script(`/strict-exp-${i}`, { headers: { expires } })
    const a = await env.send(`/strict-exp-${i}`)
    const b = await env.send(`/strict-exp-${i}`)
    assert.is(a.body, `response #${2 * i + 1}`, expires)
    assert.is(b.body, `response #${2 * i + 2}`, expires)
    assert.is(await env.entry(`/strict-exp-${i}`), undefined, expires)
  }
  assert.is(env.origin.count, forms.length * 2)
})

test('RFC 9110 §5.6.7: the obsolete rfc850 and asctime forms of Expires and Date are read', async () => {
  const env = await pool.start()
  const date = Math.floor(Date.now() / 1000) * 1000 - 3600_000
  const d = new Date(date)
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
  const rfc850 = (ms: number) => {
    const x = new Date(ms)
    const [, dd, mon, yyyy, time] = x.toUTCString().split(' ')
    return `${days[x.getUTCDay()]}, ${dd}-${mon}-${yyyy!.slice(2)} ${time} GMT`
  }
  const asctime = (ms: number) => {
    const x = new Date(ms)
    const [wd, dd, mon, yyyy, time] = x.toUTCString().split(' ')
    return `${wd!.slice(0, 3)} ${mon} ${String(Number(dd)).padStart(2, ' ')} ${time} ${yyyy}`
  }
  assert.ok(d.getTime() === date)
  env.origin.script('/obs', { headers: { date: rfc850(date), expires: asctime(date + 90_000) } })
  await env.send('/obs')
  await env.waitStored('/obs')
  const b = await env.send('/obs')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=90')
})

test('RFC 9111 §4.2.1: of two Expires field lines the first is used', async () => {
  const env = await pool.start()
  const date = Math.floor(Date.now() / 1000) * 1000
  env.origin.script('/two-exp', {
    headers: { date: httpDate(date), expires: [httpDate(date + 60_000), httpDate(date + 600_000)] },
  })
  await env.send('/two-exp')
  await env.waitStored('/two-exp')
  const b = await env.send('/two-exp')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60')
})

test('RFC 9111 §1.2.2: a max-age that is not delta-seconds is invalid: the response is treated as stale', async () => {
  const env = await pool.start()
  for (const [i, cc] of ['max-age=abc', 'max-age=-5', 'max-age=1.5', 'max-age='].entries()) {
    env.origin.script(`/bad${i}`, { headers: { 'cache-control': cc } })
    await env.send(`/bad${i}`)
    const b = await env.send(`/bad${i}`)
    assert.is(b.body, `response #${2 * i + 2}`, cc)
  }
  assert.is(env.origin.count, 8)
})

test('RFC 9111 §4.2.1: conflicting duplicate max-age directives: the response is considered stale', async () => {
  const env = await pool.start()
  env.origin.script('/dup', { headers: { 'cache-control': 'max-age=60, max-age=3600' } })
  await env.send('/dup')
  const b = await env.send('/dup')
  assert.is(b.body, 'response #2')
})

test('RFC 9111 §4.2.1: a duplicate max-age with the same value is harmless', async () => {
  const env = await pool.start()
  env.origin.script('/same', { headers: { 'cache-control': ['max-age=60', 'max-age=60'] } })
  await env.send('/same')
  await env.waitStored('/same')
  const b = await env.send('/same')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60')
})

test('RFC 9111 §4.2.1: a very large max-age is capped, never overflowing into "expired"', async () => {
  const env = await pool.start()
  env.origin.script('/huge', { headers: { 'cache-control': 'max-age=99999999999999999999' } })
  await env.send('/huge')
  await env.waitStored('/huge')
  const b = await env.send('/huge')
  assert.is(b.body, 'response #1')
  assert.match(String(b.headers['cache-status']), /^cachet; hit; ttl=\d+$/)
  assert.ok(statusTtl(b) > 86_400, `ttl ${statusTtl(b)} is more than a day`)
})

// issue 8 item 4: cachet serve's plain cache uses heuristic: 10%, at most a day (heuristicMax)
for (const [days, ttl] of [
  [5, 43_200],
  [30, 86_400],
] as const) {
  test(`RFC 9111 §4.2.2: only Last-Modified, ${days} days before Date: a heuristic lifetime of ${ttl} s (a tenth, at most a day)`, async () => {
    const env = await pool.start()
    const date = env.clock.now()
    env.origin.script('/heur', {
      headers: { date: httpDate(date), 'last-modified': httpDate(date - days * 86_400_000) },
    })
    await env.send('/heur')
    await env.waitStored('/heur')
    const b = await env.send('/heur')
    assert.is(b.body, 'response #1')
    assert.is(b.headers['cache-status'], `cachet; hit; ttl=${ttl}`)
  })
}

test('RFC 9111 §4.2.2: no heuristic when the response states a lifetime, nor from a Last-Modified after Date, nor for a status not heuristically cacheable', async () => {
  const env = await pool.start()
  const date = env.clock.now()
  env.origin.script('/stated', {
    headers: {
      'cache-control': 'max-age=30',
      date: httpDate(date),
      'last-modified': httpDate(date - 50 * 86_400_000),
    },
  })
  await env.send('/stated')
  await env.waitStored('/stated')
  assert.is((await env.send('/stated')).headers['cache-status'], 'cachet; hit; ttl=30')
  env.origin.script('/future', {
    headers: { date: httpDate(date), 'last-modified': httpDate(date + 86_400_000) },
  })
  await env.send('/future')
  assert.is((await env.send('/future')).body, 'response #3')
  assert.is(await env.entry('/future'), undefined)
  env.origin.script('/created', {
    status: 201,
    headers: { date: httpDate(date), 'last-modified': httpDate(date - 5 * 86_400_000) },
  })
  await env.send('/created')
  assert.is((await env.send('/created')).body, 'response #5')
  assert.is(await env.entry('/created'), undefined)
})

test('RFC 9111 §4.2.2: a policy without heuristic stores nothing from Last-Modified alone', async () => {
  const env = await pool.start({
    policies: 'version: 1\nrules:\n  - id: all\n    match: "/**"\n    ttl: 0\n',
  })
  env.origin.script('/heur', { headers: { 'last-modified': httpDate(Date.now() - 86_400_000) } })
  await env.send('/heur')
  const b = await env.send('/heur')
  assert.is(b.body, 'response #2')
  assert.is(await env.entry('/heur'), undefined)
})

test('RFC 9111 §4.2.3: a hit carries Age = resident time on the cache clock', async () => {
  const env = await pool.start()
  env.origin.script('/age', { headers: { 'cache-control': 'max-age=100' } })
  const a = await env.send('/age')
  assert.is(a.headers.age, undefined)
  await env.waitStored('/age')
  assert.is((await env.send('/age')).headers.age, '0')
  env.clock.advance(7)
  const b = await env.send('/age')
  assert.is(b.headers.age, '7')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=93')
})

test("RFC 9111 §4.2.3: the origin's own Age counts: it adds to the served Age and shortens the lifetime", async () => {
  const env = await pool.start()
  env.origin.script('/oage', { headers: { 'cache-control': 'max-age=100', age: '30' } })
  const a = await env.send('/oage')
  assert.is(a.headers.age, '30') // a miss forwards the origin's Age unchanged
  await env.waitStored('/oage')
  const b = await env.send('/oage')
  assert.is(b.headers.age, '30')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=70')
  env.clock.advance(10)
  const c = await env.send('/oage')
  assert.is(c.headers.age, '40')
  assert.is(c.headers['cache-status'], 'cachet; hit; ttl=60')
  env.clock.advance(60)
  const d = await env.send('/oage')
  assert.is(d.body, 'response #2')
  assert.is(env.origin.count, 2)
})

test('RFC 9111 §4.2.3: an origin Age at or past max-age means the response arrives stale: not reused', async () => {
  const env = await pool.start()
  env.origin.script('/old', { headers: { 'cache-control': 'max-age=60', age: '60' } })
  await env.send('/old')
  const b = await env.send('/old')
  assert.is(b.body, 'response #2')
})

test('RFC 9111 §5.1: an invalid Age is ignored (the lifetime is max-age)', async () => {
  const env = await pool.start()
  env.origin.script('/badage', { headers: { 'cache-control': 'max-age=60', age: 'soon' } })
  await env.send('/badage')
  await env.waitStored('/badage')
  const b = await env.send('/badage')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60')
  assert.is(b.headers.age, '0')
})

test('RFC 9111 §5.1: Age is a non-negative integer; a negative, fractional or signed Age is ignored', async () => {
  const env = await pool.start()
  for (const [i, age] of ['-5', '1.5', '+10', '10s', '0x10', ' '].entries()) {
    env.origin.script(`/age-${i}`, { headers: { 'cache-control': 'max-age=60', age } })
    await env.send(`/age-${i}`)
    await env.waitStored(`/age-${i}`)
    const b = await env.send(`/age-${i}`)
    assert.is(b.body, `response #${i + 1}`, `Age: ${age}`)
    assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60', `Age: ${age}`)
    assert.is(b.headers.age, '0', `Age: ${age}`)
  }
})

test('RFC 9111 §4.2.3: Age on a hit also counts the Expires-based lifetime down', async () => {
  const env = await pool.start()
  const date = Math.floor(Date.now() / 1000) * 1000
  env.origin.script('/expage', {
    headers: { date: httpDate(date), expires: httpDate(date + 100_000), age: '20' },
  })
  await env.send('/expage')
  await env.waitStored('/expage')
  const b = await env.send('/expage')
  assert.is(b.headers.age, '20')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=80')
})

test.run()
