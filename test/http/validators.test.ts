/**
 * http/validators.ts: the stored validators (flat [name, value…] headers, as entries keep them),
 * whether a 304 speaks of the stored representation, and the conditional request sent upstream.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { sameRepresentation, setValidators, storedValidators } from '../../src/http/validators.js'

const DATE = 'Sun, 06 Nov 1994 08:49:37 GMT'

const stored = suite('storedValidators')

stored('none', () => {
  assert.equal(storedValidators([]), { etag: undefined, lastModified: undefined })
  assert.equal(storedValidators(['content-type', 'text/plain']), { etag: undefined, lastModified: undefined })
})

stored('both, wherever they sit', () => {
  const headers = ['content-type', 'text/plain', 'etag', '"v1"', 'x', 'y', 'last-modified', DATE]
  assert.equal(storedValidators(headers), { etag: '"v1"', lastModified: DATE })
})

stored('names are matched lower-case, as entries store them; values are never taken for names', () => {
  assert.equal(storedValidators(['ETag', '"v1"']), { etag: undefined, lastModified: undefined })
  assert.equal(storedValidators(['x-note', 'etag', 'y', 'z']), { etag: undefined, lastModified: undefined })
})

stored('a list value is read as text (joined with ",")', () => {
  assert.equal(storedValidators(['etag', ['"a"', '"b"']]), { etag: '"a","b"', lastModified: undefined })
})

stored.run()

const same = suite('sameRepresentation')
const withTag = (etag: string) => ['content-type', 'text/plain', 'etag', etag]

same('a 304 without an ETag speaks of what we hold', () => {
  assert.ok(sameRepresentation(withTag('"a"'), undefined))
  assert.ok(sameRepresentation(withTag('"a"'), null))
})

same('a stored entry without an ETag: any 304 applies', () => {
  assert.ok(sameRepresentation(['last-modified', DATE], '"a"'))
})

same('strong tags: equal is the same, different is not', () => {
  assert.ok(sameRepresentation(withTag('"a"'), '"a"'))
  assert.not.ok(sameRepresentation(withTag('"a"'), '"b"'))
})

same('weak comparison: W/ prefixes aside (RFC 9110 §8.8.3.2)', () => {
  assert.ok(sameRepresentation(withTag('W/"a"'), '"a"'))
  assert.ok(sameRepresentation(withTag('"a"'), 'W/"a"'))
  assert.ok(sameRepresentation(withTag('W/"a"'), 'W/"a"'))
  assert.not.ok(sameRepresentation(withTag('W/"a"'), 'W/"b"'))
})

same('surrounding whitespace is ignored; case is not', () => {
  assert.ok(sameRepresentation(withTag(' "a" '), '"a"'))
  assert.not.ok(sameRepresentation(withTag('"a"'), '"A"'))
})

same.run()

const set = suite('setValidators')

set('no stored validator: the request is left alone, false', () => {
  const req: IncomingHttpHeaders = { 'if-none-match': '"client"', host: 'h' }
  assert.is(setValidators(req, ['content-type', 'text/plain']), false)
  assert.equal(req, { 'if-none-match': '"client"', host: 'h' })
})

set("an ETag replaces the client's conditionals, which are removed", () => {
  const req: IncomingHttpHeaders = { 'if-none-match': '"client"', 'if-modified-since': DATE, host: 'h' }
  assert.is(setValidators(req, ['etag', '"v1"']), true)
  assert.equal(req, { host: 'h', 'if-none-match': '"v1"' })
})

set('Last-Modified alone: If-Modified-Since, and no client If-None-Match left over', () => {
  const req: IncomingHttpHeaders = { 'if-none-match': '"client"' }
  assert.is(setValidators(req, ['last-modified', DATE]), true)
  assert.equal(req, { 'if-modified-since': DATE })
})

set('both: both sent', () => {
  const req: IncomingHttpHeaders = {}
  assert.is(setValidators(req, ['last-modified', DATE, 'etag', 'W/"v2"']), true)
  assert.equal(req, { 'if-none-match': 'W/"v2"', 'if-modified-since': DATE })
})

set.run()
