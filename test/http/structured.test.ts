/**
 * http/structured.ts: RFC 8941 Dictionaries as the targeted cache-control fields (RFC 9213) use
 * them, by the parsing algorithm of §4.2.2; anything else is refused as a whole.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseDictionary } from '../../src/http/structured.js'

const test = suite('parseDictionary')
const entries = (v: string) => {
  const d = parseDictionary(v)
  return d === undefined ? undefined : [...d]
}

test('RFC 9213 examples: integers, bare keys, spaces after commas', () => {
  assert.equal(entries('max-age=60'), [['max-age', '60']])
  assert.equal(entries('max-age=60, must-revalidate'), [
    ['max-age', '60'],
    ['must-revalidate', ''],
  ])
  assert.equal(entries('no-store'), [['no-store', '']])
  assert.equal(entries(''), [])
  assert.equal(entries('  max-age=5  '), [['max-age', '5']])
  assert.equal(entries('max-age=5,\tprivate'), [
    ['max-age', '5'],
    ['private', ''],
  ])
})

test('booleans: ?1 is a directive, ?0 none; the last duplicate wins', () => {
  assert.equal(entries('private=?1, no-store=?0'), [['private', '']])
  assert.equal(entries('max-age=60, max-age=10'), [['max-age', '10']])
  assert.equal(entries('max-age=60, max-age=?0'), [])
})

test('strings, tokens, decimals, byte sequences, inner lists and parameters parse; only integers are digits', () => {
  assert.equal(entries('a="x\\"y", b=tok/en:1, c=1.5, d=:aGk=:, e=(1 "2" x);p=1, f;q="r"'), [
    ['a', 'x"y'],
    ['b', 'tok/en:1'],
    ['c', '1.5'],
    ['d', '\u0000'],
    ['e', '\u0000'],
    ['f', ''],
  ])
  assert.equal(entries('max-age=-1'), [['max-age', '-1']])
})

test('not a Dictionary: refused whole', () => {
  const invalid = [
    'max-age=60,',
    ',max-age=60',
    'MAX-AGE=60',
    'Max-Age=60',
    'max-age=',
    'max-age=60;',
    'max-age=60;;',
    'max-age="60',
    'max-age="a\\b"',
    'max-age=60 private',
    'max-age=1.5.0',
    'max-age=1.',
    'max-age=1.2345',
    'max-age=1234567890123456',
    'max-age=?2',
    'max-age=:abc',
    'a=(1 2',
    'a=(1,2)',
    '1a=1',
    '-a',
    'a=%',
    'a=é',
    'a, , b',
  ]
  for (const v of invalid) assert.is(parseDictionary(v), undefined, JSON.stringify(v))
})

test.run()
