/**
 * RFC 9213 targeted cache control through `cachet serve`: `Cachet-Cache-Control`, then
 * `CDN-Cache-Control`, govern cachet's storage and freshness instead of `Cache-Control` (and
 * `Expires`) when present and valid; an invalid one is ignored as a whole (§2.1); which fields are
 * obeyed is `--targeted` (plain cache) or the rule's `targeted`; cachet's own field never reaches a
 * client, CDN-Cache-Control does (a CDN downstream may obey it too).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs } from './harness.js'

const test = suite('conformance: targeted cache control (RFC 9213)')
const pool = envs()
test.after.each(pool.closeAll)

test('RFC 9213 §2.1: CDN-Cache-Control governs storage over Cache-Control, and is passed on to the client', async () => {
  const env = await pool.start()
  env.origin.script('/cdn', { headers: { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' } })
  const a = await env.send('/cdn')
  assert.is(a.headers['cache-status'], 'cachet; fwd=uri-miss')
  assert.is(a.headers['cache-control'], 'no-store', 'browsers still get Cache-Control as the origin wrote it')
  assert.is(a.headers['cdn-cache-control'], 'max-age=60')
  await env.waitStored('/cdn')
  const b = await env.send('/cdn')
  assert.is(b.body, 'response #1')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=60')
  assert.is(b.headers['cache-control'], 'no-store')
  assert.is(b.headers['cdn-cache-control'], 'max-age=60')
  assert.is(env.origin.count, 1)
})

test('RFC 9213 §2.1: Cachet-Cache-Control is preferred to CDN-Cache-Control, and never sent to a client', async () => {
  const env = await pool.start()
  env.origin.script('/own', {
    headers: {
      'cache-control': 'private, max-age=5',
      'cdn-cache-control': 'max-age=600',
      'cachet-cache-control': 'max-age=30',
    },
  })
  const a = await env.send('/own')
  assert.is(a.headers['cache-status'], 'cachet; fwd=uri-miss')
  assert.is(a.headers['cachet-cache-control'], undefined)
  assert.is(a.headers['cdn-cache-control'], 'max-age=600')
  assert.is(a.headers['cache-control'], 'private, max-age=5')
  const e = await env.waitStored('/own')
  assert.not.ok(e.headers.includes('cachet-cache-control'), 'not stored either')
  const b = await env.send('/own')
  assert.is(b.headers['cache-status'], 'cachet; hit; ttl=30')
  assert.is(b.headers['cachet-cache-control'], undefined)
  env.clock.advance(30)
  const c = await env.send('/own')
  assert.is(
    c.body,
    'response #2',
    'expired after 30 s: Cachet-Cache-Control, not the 600 of CDN-Cache-Control',
  )
})

test('RFC 9213 §2.1: a targeted field that is not a valid Dictionary is ignored as a whole: Cache-Control governs', async () => {
  const env = await pool.start()
  const invalid = [
    'max-age=60,',
    'MAX-AGE=60',
    'max-age=60;;',
    'max-age="60',
    'max-age=60 private',
    'max-age=1.5.0',
  ]
  for (const [i, v] of invalid.entries()) {
    env.origin.script(`/bad-${i}`, { headers: { 'cache-control': 'max-age=10', 'cdn-cache-control': v } })
    await env.send(`/bad-${i}`)
    await env.waitStored(`/bad-${i}`)
    const b = await env.send(`/bad-${i}`)
    assert.is(b.headers['cache-status'], 'cachet; hit; ttl=10', `CDN-Cache-Control: ${v}`)
  }
  // and the other way round: an invalid own field does not stop a valid CDN-Cache-Control
  env.origin.script('/bad-own', {
    headers: {
      'cache-control': 'no-store',
      'cachet-cache-control': 'max-age=',
      'cdn-cache-control': 'max-age=20',
    },
  })
  const a = await env.send('/bad-own')
  assert.is(a.headers['cachet-cache-control'], undefined, 'even an invalid own field is not sent on')
  await env.waitStored('/bad-own')
  assert.is((await env.send('/bad-own')).headers['cache-status'], 'cachet; hit; ttl=20')
})

test('RFC 9213 §2.1: with a targeted field governing, Expires is not read; a malformed max-age in it means stale', async () => {
  const env = await pool.start()
  const date = Math.floor(Date.now() / 1000) * 1000
  env.origin.script('/no-exp', {
    headers: {
      date: new Date(date).toUTCString(),
      expires: new Date(date + 3600_000).toUTCString(),
      'cdn-cache-control': 'public',
    },
  })
  await env.send('/no-exp')
  const b = await env.send('/no-exp')
  assert.is(b.body, 'response #2', 'no lifetime stated by the governing field: not stored by the plain cache')
  assert.is(await env.entry('/no-exp'), undefined)

  env.origin.script('/neg', { headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=-1' } })
  await env.send('/neg')
  assert.is(
    (await env.send('/neg')).body,
    'response #4',
    'max-age=-1 is a valid Integer, not delta-seconds: stale',
  )
  env.origin.script('/dec', {
    headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=60.5' },
  })
  await env.send('/dec')
  assert.is((await env.send('/dec')).body, 'response #6')
})

test('RFC 9213: directives of the targeted field keep their meaning: no-store, private, must-revalidate', async () => {
  const env = await pool.start()
  env.origin.script('/ns', { headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' } })
  await env.send('/ns')
  assert.is((await env.send('/ns')).body, 'response #2')
  env.origin.script('/pv', { headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'private' } })
  await env.send('/pv')
  assert.is((await env.send('/pv')).body, 'response #4')
  env.origin.script('/mr', {
    headers: { 'cdn-cache-control': 'max-age=60, must-revalidate=?0, no-store=?0' },
  })
  await env.send('/mr')
  await env.waitStored('/mr')
  assert.is(
    (await env.send('/mr')).headers['cache-status'],
    'cachet; hit; ttl=60',
    '?0 is no directive at all',
  )
})

test('cachet serve --targeted: which fields are obeyed ("none": Cache-Control only); the own field is still never sent', async () => {
  const env = await pool.start({ targeted: [] })
  env.origin.script('/none', {
    headers: {
      'cache-control': 'max-age=10',
      'cdn-cache-control': 'max-age=60',
      'cachet-cache-control': 'max-age=90',
    },
  })
  const a = await env.send('/none')
  assert.is(a.headers['cachet-cache-control'], undefined)
  await env.waitStored('/none')
  assert.is((await env.send('/none')).headers['cache-status'], 'cachet; hit; ttl=10')

  const only = await pool.start({ targeted: ['CDN-Cache-Control'] })
  only.origin.script('/only', {
    headers: {
      'cache-control': 'max-age=10',
      'cdn-cache-control': 'max-age=60',
      'cachet-cache-control': 'max-age=90',
    },
  })
  await only.send('/only')
  await only.waitStored('/only')
  assert.is((await only.send('/only')).headers['cache-status'], 'cachet; hit; ttl=60')
})

test('a rule obeys its own `targeted` list', async () => {
  const env = await pool.start({
    policies: `version: 1
rules:
  - id: cdn-only
    match: /cdn/**
    ttl: 0
    targeted: [CDN-Cache-Control]
  - id: plain
    match: /plain/**
    ttl: 0
    targeted: []
  - id: default
    match: /**
    ttl: 0
`,
  })
  const headers = {
    'cache-control': 'max-age=10',
    'cdn-cache-control': 'max-age=60',
    'cachet-cache-control': 'max-age=90',
  }
  for (const [path, ttl] of [
    ['/cdn/a', 60],
    ['/plain/a', 10],
    ['/other', 90],
  ] as const) {
    env.origin.script(path, { headers })
    const a = await env.send(path)
    assert.is(a.headers['cachet-cache-control'], undefined, path)
    await env.waitStored(path)
    assert.is((await env.send(path)).headers['cache-status'], `cachet; hit; ttl=${ttl}`, path)
  }
})

test('--targeted with --policies is a usage error; a field name that is not <name>-Cache-Control too', async () => {
  const refused = async (o: Parameters<typeof pool.start>[0]) => {
    try {
      await pool.start(o)
    } catch (err) {
      assert.instance(err, TypeError)
      return (err as Error).message
    }
    assert.unreachable('started')
  }
  assert.match(String(await refused({ targeted: ['x-cache'] })), /not a targeted cache-control field name/)
  assert.match(
    String(await refused({ targeted: ['cdn-cache-control'], policies: 'version: 1\nrules: []\n' })),
    /applies to the plain cache only/,
  )
})

test.run()
