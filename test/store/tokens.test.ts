/** Generation tokens and lifetimes (src/store/tokens.ts), on plain values. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { tokenTime } from '../../src/generation/keys.js'
import { lifeMs, newToken } from '../../src/store/tokens.js'

const test = suite('tokens')

test('newToken: `<ms base36>.<22 base64url characters>`, 0 when created on first use', () => {
  assert.match(newToken(), /^0\.[A-Za-z0-9_-]{22}$/)
  const at = Date.UTC(2025, 0, 15, 9, 30)
  const t = newToken(at)
  assert.match(t, /^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/)
  assert.is(t.slice(0, t.indexOf('.')), at.toString(36))
})

test('newToken: 128 random bits, no two alike', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 10_000; i++) seen.add(newToken())
  assert.is(seen.size, 10_000)
})

test('tokenTime reads back the time newToken wrote; anything else is 0', () => {
  const at = Date.UTC(2025, 0, 15, 9, 30)
  assert.is(tokenTime(newToken(at)), at)
  assert.is(tokenTime(newToken()), 0)
  for (const foreign of ['', 'tok', '.abc', '!.x']) assert.is(tokenTime(foreign), 0, JSON.stringify(foreign))
})

test('lifeMs: whole ms, at least 1 (0 is "forever" to lru-cache and an error for PX)', () => {
  const cases: [number, number][] = [
    [1000, 1000],
    [1.2, 2],
    [0.4, 1],
    [1, 1],
    [0, 1],
    [-5, 1],
    [Number.NaN, 1],
  ]
  for (const [ttl, want] of cases) assert.is(lifeMs(ttl), want, `lifeMs(${ttl})`)
})

test.run()
