/**
 * http/headers.ts: the header sets shared by the cache and the proxy, and the field parsers.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connectionNames, HOP_BY_HOP, headerString, NOT_STORED } from '../../src/http/headers.js'

const conn = suite('connectionNames')

conn('absent: none', () => {
  assert.equal(connectionNames(undefined), [])
  assert.equal(connectionNames(null), [])
  assert.equal(connectionNames(''), [])
})

conn('lower-cased, trimmed, empty members dropped, order and duplicates kept', () => {
  assert.equal(connectionNames('Close, X-Foo ,, ,keep-alive, x-foo'), [
    'close',
    'x-foo',
    'keep-alive',
    'x-foo',
  ])
})

conn('several lines are one list', () => {
  assert.equal(connectionNames(['close', 'Accept-Language, TE']), ['close', 'accept-language', 'te'])
})

conn('a number is read as its text', () => {
  assert.equal(connectionNames(5), ['5'])
})

conn.run()

const sets = suite('HOP_BY_HOP and NOT_STORED')

sets('HOP_BY_HOP is exactly the connection-specific fields (RFC 9110 §7.6.1)', () => {
  assert.equal([...HOP_BY_HOP].sort(), [
    'connection',
    'keep-alive',
    'proxy-authenticate',
    'proxy-authorization',
    'proxy-connection',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
  ])
})

sets(
  'NOT_STORED is HOP_BY_HOP plus Set-Cookie, Age, Cache-Status and Cachet-Cache-Control (RFC 9213, ours alone)',
  () => {
    assert.equal(
      [...NOT_STORED].sort(),
      [...HOP_BY_HOP, 'age', 'cache-status', 'set-cookie', 'cachet-cache-control'].sort(),
    )
    for (const n of HOP_BY_HOP) assert.ok(NOT_STORED.has(n), n)
  },
)

sets('end-to-end fields are in neither', () => {
  const endToEnd = ['content-type', 'content-length', 'etag', 'vary', 'cache-control', 'authorization']
  for (const n of endToEnd) {
    assert.not.ok(HOP_BY_HOP.has(n), n)
    assert.not.ok(NOT_STORED.has(n), n)
  }
})

sets('lookups are by lower-case name', () => {
  assert.not.ok(HOP_BY_HOP.has('Connection'))
  assert.not.ok(NOT_STORED.has('Set-Cookie'))
})

sets.run()

const str = suite('headerString')

str('absent: undefined; a string as is; a number as text; lines joined with ", "', () => {
  assert.is(headerString(undefined), undefined)
  assert.is(headerString(''), '')
  assert.is(headerString('a, b'), 'a, b')
  assert.is(headerString(12), '12')
  assert.is(headerString(['a', 'b']), 'a, b')
  assert.is(headerString([]), '')
})

str.run()
