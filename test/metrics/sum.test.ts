/**
 * sumStats: the admin listener of `cachet serve --workers N` reports the fleet as one cache
 * (metrics/sum.ts): counters added up by rule id, health only when every worker is healthy,
 * reload counts not multiplied by the worker count.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { CacheStats } from '../../src/metrics/stats.js'
import { retire, sumStats, withRetired } from '../../src/metrics/sum.js'

const outcomes = (hit: number, miss: number) => ({
  hit,
  stale: 0,
  miss,
  revalidated: 0,
  collapsed: 0,
  'stale-if-error': 0,
  bypass: 0,
})

function worker(o: {
  hit: number
  miss: number
  up: boolean
  extraRule?: boolean
  failed?: number
}): CacheStats {
  return {
    name: 'cachet',
    at: '2026-12-03T00:00:00.000Z',
    policy: { version: 'v1', files: ['/p/policy.yaml'], rules: 1 },
    rules: [
      {
        id: 'pages',
        file: '/p/policy.yaml',
        line: 3,
        outcomes: outcomes(o.hit, o.miss),
        bypass: { cookie: 1 },
        notStored: {},
        stored: o.miss,
        bytesServed: 10 * o.hit,
        refreshes: 0,
      },
      ...(o.extraRule
        ? [
            {
              id: 'more',
              file: '/p/policy.yaml',
              line: 9,
              outcomes: outcomes(1, 0),
              bypass: {},
              notStored: { status: 2 },
              stored: 0,
              bytesServed: 5,
              refreshes: 1,
            },
          ]
        : []),
    ],
    unmatched: 3,
    store: {
      kind: 'memory',
      up: o.up,
      errors: 1,
      timeouts: 0,
      unavailable: 0,
      read: {
        count: o.hit + o.miss,
        sumSeconds: 0.5,
        buckets: [
          { le: 0.001, count: o.hit },
          { le: null, count: o.hit + o.miss },
        ],
      },
      entries: 4,
      bytes: 1000,
    },
    reloads: {
      ok: 2,
      failed: o.failed ?? 0,
      applied: 2,
      unchanged: 0,
      lastError: o.failed ? { message: 'bad', file: '/p/policy.yaml', line: 1, col: 1, at: 'x' } : null,
    },
    purges: 1,
  }
}

test('counters add up by rule id; health holds only when it holds everywhere; reloads are not multiplied', () => {
  const sum = sumStats(
    [
      worker({ hit: 5, miss: 1, up: true }),
      worker({ hit: 7, miss: 2, up: false, extraRule: true, failed: 1 }),
    ],
    new Date('2026-12-03T01:00:00.000Z'),
  )
  assert.equal(sum, {
    name: 'cachet',
    at: '2026-12-03T01:00:00.000Z',
    policy: { version: 'v1', files: ['/p/policy.yaml'], rules: 1 },
    rules: [
      {
        id: 'pages',
        file: '/p/policy.yaml',
        line: 3,
        outcomes: outcomes(12, 3),
        bypass: { cookie: 2 },
        notStored: {},
        stored: 3,
        bytesServed: 120,
        refreshes: 0,
      },
      {
        id: 'more',
        file: '/p/policy.yaml',
        line: 9,
        outcomes: outcomes(1, 0),
        bypass: {},
        notStored: { status: 2 },
        stored: 0,
        bytesServed: 5,
        refreshes: 1,
      },
    ],
    unmatched: 6,
    store: {
      kind: 'memory',
      up: false,
      errors: 2,
      timeouts: 0,
      unavailable: 0,
      read: {
        count: 15,
        sumSeconds: 1,
        buckets: [
          { le: 0.001, count: 12 },
          { le: null, count: 15 },
        ],
      },
      entries: 8,
      bytes: 2000,
    },
    reloads: {
      ok: 2,
      failed: 1,
      applied: 2,
      unchanged: 0,
      lastError: { message: 'bad', file: '/p/policy.yaml', line: 1, col: 1, at: 'x' },
    },
    purges: 2,
  })
})

test('one worker: its own stats', () => {
  const one = worker({ hit: 1, miss: 1, up: true })
  assert.equal(sumStats([one], new Date(one.at)), one)
})

test('a dead worker leaves its counters, not what it held nor its health; rules reloaded away drop out', () => {
  const at = new Date('2026-12-03T01:00:00.000Z')
  const live = worker({ hit: 5, miss: 1, up: true })
  // it died down, failing a reload, with a rule the live worker no longer has
  const dead = worker({ hit: 7, miss: 2, up: false, extraRule: true, failed: 1 })
  const sum = withRetired([live], retire(undefined, dead), at)
  const pages = sum.rules.find((r) => r.id === 'pages')!
  assert.equal(pages.outcomes, outcomes(12, 3))
  assert.is(pages.stored, 1, 'only what the live worker holds')
  assert.equal(
    sum.rules.map((r) => r.id),
    ['pages'],
  )
  assert.is(sum.unmatched, 6)
  assert.is(sum.purges, 2)
  assert.is(sum.store.up, true, 'the dead worker does not make the store down')
  assert.is(sum.store.entries, 4)
  assert.is(sum.store.bytes, 1000)
  assert.is(sum.store.errors, 2)
  assert.is(sum.store.read.count, 15)
  assert.is(sum.reloads.failed, 1, 'the highest reload count, the dead included')
  assert.is(sum.reloads.lastError, null)
  // two deaths add up; without any, the sum is the live workers'
  const twice = withRetired([live], retire(retire(undefined, dead), live), at)
  assert.equal(twice.rules[0]!.outcomes, outcomes(17, 4))
  assert.equal(withRetired([live], undefined, at), sumStats([live], at))
})

test.run()
