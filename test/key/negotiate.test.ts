/**
 * `key.normalize` negotiation (RFC 9110 §12.5): the listed value the client prefers.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { negotiate, negotiateEncoding, negotiateLanguage, negotiateMedia } from '../../src/key/negotiate.js'

const test = suite('key/negotiate')

test('Accept-Encoding (§12.5.3): the best listed coding by q, the rule order on ties, identity when none', () => {
  const listed = ['br', 'gzip']
  assert.is(negotiateEncoding('gzip, deflate, br', listed), 'br')
  assert.is(negotiateEncoding('gzip;q=1.0, br;q=0.5', listed), 'gzip')
  assert.is(negotiateEncoding('GZIP', listed), 'gzip')
  assert.is(negotiateEncoding('deflate', listed), null)
  assert.is(negotiateEncoding('br;q=0, gzip;q=0', listed), null)
  assert.is(negotiateEncoding('*', listed), 'br')
  assert.is(negotiateEncoding('*;q=0.5, gzip', listed), 'gzip')
  assert.is(negotiateEncoding('identity', listed), null)
  assert.is(negotiate('accept-encoding', undefined, listed), null)
})

test('Accept-Language (§12.5.4): exact, prefix (fr-CH → fr) and * ranges; the first listed when none', () => {
  const listed = ['en', 'fr', 'de']
  assert.is(negotiateLanguage('fr-CH, fr;q=0.9, en;q=0.8', listed), 'fr')
  assert.is(negotiateLanguage('fr', listed), 'fr')
  assert.is(negotiateLanguage('FR-ch', listed), 'fr')
  assert.is(negotiateLanguage('de;q=0.7, en;q=0.8', listed), 'en')
  assert.is(negotiateLanguage('ja', listed), 'en')
  assert.is(negotiateLanguage('ja, *;q=0.1', listed), 'en')
  assert.is(negotiateLanguage('fr;q=0', listed), 'en')
  assert.is(negotiateLanguage('en-US,en;q=0.9', ['fr', 'en-us', 'en']), 'en-us')
  assert.is(negotiate('accept-language', undefined, listed), 'en')
})

test('Accept (§12.5.1): the most specific range decides; the first listed when none', () => {
  const listed = ['application/json', 'text/html']
  assert.is(negotiateMedia('text/html,application/xhtml+xml,*/*;q=0.8', listed), 'text/html')
  assert.is(negotiateMedia('application/json', listed), 'application/json')
  assert.is(negotiateMedia('*/*', listed), 'application/json')
  assert.is(negotiateMedia('text/*', listed), 'text/html')
  assert.is(negotiateMedia('*/*;q=0.5, text/html;q=0', listed), 'application/json')
  assert.is(negotiateMedia('image/png', listed), 'application/json')
  assert.is(negotiate('accept', undefined, listed), 'application/json')
})

test.run()
