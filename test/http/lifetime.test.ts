/**
 * lifetime(): how long an entry is fresh and how long the store keeps it, for new responses and
 * for ones freshened by a 304 alike (the two copies of this rule once drifted: a 304 carrying
 * max-age=31536000 gave 365 days of freshness and a 730-day store lifetime).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { lifetime, MAX_ENTRY_TTL, type Verdict } from '../../src/http/freshness.js'

const test = suite('lifetime(verdict, hasValidator)')
const S = 1000
const DAY = 24 * 3600 * S
const v = (ttl: number, swr = 0, sie = 0): Verdict => ({
  ttl,
  initialAge: 0,
  swr,
  sie,
  siu: 0,
  reason: undefined,
})

const cases: [string, Verdict, boolean, number, number][] = [
  // name, verdict, hasValidator, fresh, keep
  ['fresh for its ttl, kept as long without a validator', v(60 * S), false, 60 * S, 60 * S],
  ['with a validator, kept as long again to be revalidated', v(60 * S), true, 60 * S, 120 * S],
  ['with a validator, kept at least a minute past expiry', v(5 * S), true, 5 * S, 65 * S],
  ['ttl 0 with a validator (no-cache): kept a minute for revalidation', v(0), true, 0, 60 * S],
  ['kept past expiry for its stale-while-revalidate window', v(60 * S, 30 * S), false, 60 * S, 90 * S],
  ['kept for the longer of the stale windows', v(60 * S, 30 * S, 600 * S), false, 60 * S, 660 * S],
  [
    'the stale window wins over the revalidation margin when longer',
    v(60 * S, 0, 600 * S),
    true,
    60 * S,
    660 * S,
  ],
  ['an expired response kept only for its stale window', v(0, 0, 10 * S), false, 0, 10 * S],
  ['a year of stated freshness is capped at 30 days', v(365 * DAY), false, MAX_ENTRY_TTL, MAX_ENTRY_TTL],
  [
    '...with a validator too: the store lifetime is capped as well',
    v(365 * DAY),
    true,
    MAX_ENTRY_TTL,
    MAX_ENTRY_TTL,
  ],
  [
    'a long stale window cannot stretch the store lifetime past 30 days',
    v(29 * DAY, 0, 10 * DAY),
    false,
    29 * DAY,
    MAX_ENTRY_TTL,
  ],
  ['exactly 30 days is allowed', v(30 * DAY), false, 30 * DAY, 30 * DAY],
]

for (const [name, verdict, validator, fresh, keep] of cases) {
  test(name, () => {
    assert.equal(lifetime(verdict, validator), { fresh, keep })
  })
}

test('the cap is 30 days', () => {
  assert.is(MAX_ENTRY_TTL, 30 * DAY)
})

test.run()
