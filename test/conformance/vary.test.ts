/**
 * RFC 9111 §4.1 Vary through `cachet serve`: several variants per URL, each served only to the
 * requests whose varied headers match; `Vary: *` never stored; header-name case and list
 * whitespace normalised.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { envs } from './harness.js'

const test = suite('conformance: Vary (RFC 9111 §4.1)')
const pool = envs()
test.after.each(pool.closeAll)

test('RFC 9111 §4.1: one URL, several stored variants, each served to the matching requests only', async () => {
  const env = await pool.start()
  env.origin.script('/v', { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' } })
  const en = { 'accept-language': 'en' }
  const fr = { 'accept-language': 'fr' }
  const a = await env.send('/v', { headers: en })
  assert.is(a.body, 'response #1')
  assert.is(a.headers['cache-status'], 'cachet; fwd=uri-miss')
  await env.waitStored('/v', en)
  const b = await env.send('/v', { headers: fr })
  assert.is(b.body, 'response #2')
  assert.is(b.headers['cache-status'], 'cachet; fwd=vary-miss')
  await env.waitStored('/v', fr)
  for (let i = 0; i < 2; i++) {
    const c = await env.send('/v', { headers: en })
    assert.is(c.body, 'response #1')
    assert.is(c.headers['cache-status'], 'cachet; hit; ttl=60')
    assert.is(c.headers.vary, 'Accept-Language')
    const d = await env.send('/v', { headers: fr })
    assert.is(d.body, 'response #2')
    assert.is(d.headers['cache-status'], 'cachet; hit; ttl=60')
  }
  // a request without the header is its own variant (absent matches only absent)
  const e = await env.send('/v')
  assert.is(e.body, 'response #3')
  assert.is(env.origin.count, 3)
})

test('RFC 9111 §4.1: Vary over two headers needs both to match', async () => {
  const env = await pool.start()
  env.origin.script('/v2', { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language, X-Device' } })
  const h1 = { 'accept-language': 'en', 'x-device': 'phone' }
  await env.send('/v2', { headers: h1 })
  await env.waitStored('/v2', h1)
  assert.is((await env.send('/v2', { headers: h1 })).body, 'response #1')
  assert.is(
    (await env.send('/v2', { headers: { 'accept-language': 'en', 'x-device': 'desk' } })).body,
    'response #2',
  )
  assert.is(
    (await env.send('/v2', { headers: { 'accept-language': 'de', 'x-device': 'phone' } })).body,
    'response #3',
  )
})

test('RFC 9111 §4.1: several Vary field lines are one list', async () => {
  const env = await pool.start()
  env.origin.script('/vl', {
    headers: { 'cache-control': 'max-age=60', vary: ['Accept-Language', 'X-Device'] },
  })
  const h1 = { 'accept-language': 'en', 'x-device': 'phone' }
  await env.send('/vl', { headers: h1 })
  await env.waitStored('/vl', h1)
  assert.is((await env.send('/vl', { headers: h1 })).body, 'response #1')
  assert.is(
    (await env.send('/vl', { headers: { 'accept-language': 'en', 'x-device': 'desk' } })).body,
    'response #2',
  )
})

test('RFC 9111 §4.1: Vary names are case-insensitive, and list whitespace is normalised', async () => {
  const env = await pool.start()
  env.origin.script('/vn', { headers: { 'cache-control': 'max-age=60', vary: 'ACCEPT-encoding' } })
  await env.send('/vn', { headers: { 'accept-encoding': 'gzip, br' } })
  await env.waitStored('/vn', { 'accept-encoding': 'gzip, br' })
  const b = await env.send('/vn', { headers: { 'Accept-Encoding': 'gzip,br' } })
  assert.is(b.body, 'response #1')
  const c = await env.send('/vn', { headers: { 'accept-encoding': '  gzip ,  br ' } })
  assert.is(c.body, 'response #1')
  assert.is(env.origin.count, 1)
})

test('RFC 9111 §4.1: list members in any order select one variant where the rule allows it (key.varyUnordered)', async () => {
  const env = await pool.start({
    policies: [
      'version: 1',
      'rules:',
      '  - id: any-order',
      '    match: /unordered/**',
      '    ttl: 1m',
      '    key: { query: none, varyUnordered: [accept-encoding] }',
      '  - id: in-order',
      '    match: /**',
      '    ttl: 1m',
      '    key: { query: none }',
      '',
    ].join('\n'),
  })
  for (const path of ['/unordered/a', '/ordered/a'])
    env.origin.script(path, { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' } })
  await env.send('/unordered/a', { headers: { 'accept-encoding': 'gzip, br' } })
  await env.waitStored('/unordered/a', { 'accept-encoding': 'gzip, br' })
  const swapped = await env.send('/unordered/a', { headers: { 'accept-encoding': 'br, GZIP' } })
  assert.is(swapped.body, 'response #1')
  assert.is(swapped.headers['cache-status'], 'cachet; hit; ttl=60')
  const other = await env.send('/unordered/a', { headers: { 'accept-encoding': 'br' } })
  assert.is(other.headers['cache-status'], 'cachet; fwd=vary-miss', 'a different list is another variant')

  await env.send('/ordered/a', { headers: { 'accept-encoding': 'gzip, br' } })
  await env.waitStored('/ordered/a', { 'accept-encoding': 'gzip, br' })
  const kept = await env.send('/ordered/a', { headers: { 'accept-encoding': 'br, gzip' } })
  assert.is(kept.headers['cache-status'], 'cachet; fwd=vary-miss', 'without the rule, order counts')
  assert.is(env.origin.count, 4)
})

test('RFC 9111 §4.1: Vary: * always fails to match: never stored', async () => {
  const env = await pool.start()
  for (const vary of ['*', 'Accept-Language, *']) {
    const path = `/star${vary.length}`
    env.origin.script(path, { headers: { 'cache-control': 'max-age=60', vary } })
    const before = env.origin.count
    await env.send(path)
    const b = await env.send(path)
    assert.is(b.body, `response #${before + 2}`, vary)
    assert.is(await env.entry(path), undefined)
  }
})

test('RFC 9111 §4.4: an unsafe request invalidates every stored variant of the URL', async () => {
  const env = await pool.start()
  env.origin.script('/vi', { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' } })
  const en = { 'accept-language': 'en' }
  const fr = { 'accept-language': 'fr' }
  await env.send('/vi', { headers: en })
  await env.waitStored('/vi', en)
  await env.send('/vi', { headers: fr })
  await env.waitStored('/vi', fr)
  const post = await env.send('/vi', { method: 'POST', body: 'x' })
  assert.is(post.body, 'response #3')
  assert.is((await env.send('/vi', { headers: en })).body, 'response #4')
  assert.is((await env.send('/vi', { headers: fr })).body, 'response #5')
})

test.run()
