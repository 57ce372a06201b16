/**
 * http/cache-status.ts: the Cache-Status members (RFC 9211) cachet writes, as exact strings.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { appendStatus, fwdStatus, hitStatus } from '../../src/http/cache-status.js'

const hit = suite('hitStatus')

hit('name; hit; ttl=N', () => {
  assert.is(hitStatus('cachet', 42), 'cachet; hit; ttl=42')
})

hit('a stale hit shows its negative ttl (RFC 9211 §2.5)', () => {
  assert.is(hitStatus('shop', -3), 'shop; hit; ttl=-3')
  assert.is(hitStatus('shop', 0), 'shop; hit; ttl=0')
})

hit.run()

const fwd = suite('fwdStatus')

fwd('without options: name; fwd=<reason>', () => {
  for (const f of ['uri-miss', 'vary-miss', 'miss', 'stale', 'bypass', 'method', 'request']) {
    assert.is(fwdStatus('cachet', f), `cachet; fwd=${f}`)
  }
})

fwd('an empty options object adds nothing', () => {
  assert.is(fwdStatus('cachet', 'miss', {}), 'cachet; fwd=miss')
})

fwd('each option alone', () => {
  assert.is(fwdStatus('c', 'uri-miss', { stored: true }), 'c; fwd=uri-miss; stored')
  assert.is(fwdStatus('c', 'stale', { fwdStatus: 304 }), 'c; fwd=stale; fwd-status=304')
  assert.is(fwdStatus('c', 'stale', { ttl: 60 }), 'c; fwd=stale; ttl=60')
  assert.is(fwdStatus('c', 'uri-miss', { collapsed: true }), 'c; fwd=uri-miss; collapsed')
  assert.is(fwdStatus('c', 'bypass', { detail: 'cookie' }), 'c; fwd=bypass; detail=cookie')
})

fwd('false and undefined flags add nothing; fwd-status 0 and ttl 0 are shown', () => {
  assert.is(fwdStatus('c', 'miss', { stored: false, collapsed: false, detail: undefined }), 'c; fwd=miss')
  assert.is(fwdStatus('c', 'miss', { fwdStatus: 0, ttl: 0 }), 'c; fwd=miss; fwd-status=0; ttl=0')
  assert.is(fwdStatus('c', 'stale', { ttl: -5 }), 'c; fwd=stale; ttl=-5')
})

fwd('every option, in a fixed order whatever the object order', () => {
  const want = 'c; fwd=stale; fwd-status=200; ttl=30; stored; collapsed; detail=x'
  const a = { stored: true, fwdStatus: 200, ttl: 30, detail: 'x', collapsed: true }
  const b = { detail: 'x', collapsed: true, ttl: 30, stored: true, fwdStatus: 200 }
  assert.is(fwdStatus('c', 'stale', a), want)
  assert.is(fwdStatus('c', 'stale', b), want)
})

fwd.run()

const append = suite('appendStatus')

append('no existing field: ours alone', () => {
  assert.is(appendStatus(undefined, 'c; hit; ttl=1'), 'c; hit; ttl=1')
  assert.is(appendStatus('', 'c; hit; ttl=1'), 'c; hit; ttl=1')
})

append("an upstream cache's member comes first, ours (nearest the client) last", () => {
  assert.is(appendStatus('origin-cache; hit', 'c; fwd=uri-miss'), 'origin-cache; hit, c; fwd=uri-miss')
})

append('several upstream lines are joined in order', () => {
  assert.is(appendStatus(['a; hit', 'b; fwd=miss'], 'c; fwd=miss'), 'a; hit, b; fwd=miss, c; fwd=miss')
})

append('a number is kept as its text', () => {
  assert.is(appendStatus(7, 'c; fwd=miss'), '7, c; fwd=miss')
})

append.run()
