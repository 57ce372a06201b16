/**
 * key/variant.ts: Vary (RFC 9111 §4.1) names, the request's values for them, and the variant key.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { digest } from '../../src/key/compose.js'
import {
  matchesVariant,
  normaliseVaryValue,
  storageKey,
  variantKey,
  varyNames,
  varyValues,
} from '../../src/key/variant.js'

/** a header getter as Koa's ctx.get: '' when absent */
const from = (h: Record<string, string>) => (n: string) => h[n] ?? ''

const names = suite('varyNames')

names('no Vary, or one that names nothing: null', () => {
  assert.is(varyNames(undefined), null)
  assert.is(varyNames(null), null)
  assert.is(varyNames(''), null)
  assert.is(varyNames(' , ,'), null)
})

names('lower-case, trimmed, each name once, in order', () => {
  assert.equal(varyNames('Accept-Language, accept-encoding ,ACCEPT-LANGUAGE, X-A'), [
    'accept-language',
    'accept-encoding',
    'x-a',
  ])
})

names('several lines are one list', () => {
  assert.equal(varyNames(['Accept', 'X-A, accept']), ['accept', 'x-a'])
})

names('"*" is just a name here (verdict() refuses to store Vary: * before this is read)', () => {
  assert.equal(varyNames('*'), ['*'])
})

names.run()

const values = suite('normaliseVaryValue and varyValues')

values('normaliseVaryValue: outer whitespace and whitespace around commas go (§4.1)', () => {
  assert.is(normaliseVaryValue('  gzip ,  br,deflate  '), 'gzip,br,deflate')
  assert.is(normaliseVaryValue('fr-CH, fr;q=0.9'), 'fr-CH,fr;q=0.9')
  assert.is(normaliseVaryValue('a  b'), 'a  b')
  assert.is(normaliseVaryValue(''), '')
})

values(
  'normaliseVaryValue: around semicolons too, and lower case for the caseless Accept-* fields (§4.1)',
  () => {
    assert.is(normaliseVaryValue('fr-CH ; q=0.9', 'x-custom'), 'fr-CH;q=0.9')
    assert.is(normaliseVaryValue('GZIP, Br', 'accept-encoding'), 'gzip,br')
    assert.is(normaliseVaryValue('fr-CH, FR;q=0.9', 'accept-language'), 'fr-ch,fr;q=0.9')
    assert.is(normaliseVaryValue('Text/HTML', 'accept'), 'text/html')
    assert.is(normaliseVaryValue('Token-ABC', 'x-api-version'), 'Token-ABC', 'other fields keep their case')
  },
)

values(
  'normaliseVaryValue: list members sorted only for the fields the rule names (key.varyUnordered)',
  () => {
    const un = ['accept-encoding', 'x-features']
    assert.is(normaliseVaryValue('br, gzip;q=0.5', 'accept-encoding', un), 'br,gzip;q=0.5')
    assert.is(normaliseVaryValue('gzip;q=0.5 , BR', 'accept-encoding', un), 'br,gzip;q=0.5')
    assert.is(normaliseVaryValue('b,a,,c', 'x-features', un), 'a,b,c', 'empty members dropped')
    assert.is(
      normaliseVaryValue('fr, en', 'accept-language', un),
      'fr,en',
      'a field not named keeps its order',
    )
    assert.is(normaliseVaryValue('br, gzip', 'accept-encoding'), 'br,gzip', 'no rule list: order kept')
    assert.is(
      normaliseVaryValue('b;p="x,y", a', 'x-features', un),
      'b;p="x,y",a',
      'a quoted string: its commas may not separate members, so the order is kept',
    )
    assert.equal(
      varyValues(['accept-encoding'], () => 'gzip, br', un),
      ['accept-encoding', 'br,gzip'],
    )
  },
)

values('varyValues: flat [name, normalised value…] in the order of the names; absent is ""', () => {
  const get = from({ 'accept-encoding': 'gzip, br', 'accept-language': ' fr ' })
  assert.equal(varyValues(['accept-language', 'x-absent', 'accept-encoding'], get), [
    'accept-language',
    'fr',
    'x-absent',
    '',
    'accept-encoding',
    'gzip,br',
  ])
  assert.equal(varyValues([], get), [])
})

values.run()

const keys = suite('variantKey and storageKey')

keys('variantKey: <key>~<digest of the length-prefixed values>', () => {
  assert.is(
    variantKey('shop:p:abc', ['accept-language', 'fr']),
    `shop:p:abc~${digest('15:accept-language2:fr')}`,
  )
  assert.is(variantKey('k', []), `k~${digest('')}`)
})

keys('the same values, the same variant; different values or names, another', () => {
  const k = 'shop:p:abc'
  assert.is(variantKey(k, ['x-a', 'v']), variantKey(k, ['x-a', 'v']))
  assert.is.not(variantKey(k, ['x-a', 'v']), variantKey(k, ['x-a', 'w']))
  assert.is.not(variantKey(k, ['x-a', 'v']), variantKey(k, ['x-b', 'v']))
  assert.is.not(variantKey(k, ['x-a', 'v']), variantKey('shop:p:abd', ['x-a', 'v']))
})

keys('values cannot be forged across boundaries', () => {
  assert.is.not(variantKey('k', ['a', 'b,c']), variantKey('k', ['a,b', 'c']))
  assert.is.not(variantKey('k', ['x-a', '1:x-b1:v']), variantKey('k', ['x-a', '', 'x-b', 'v']))
  assert.is.not(variantKey('k', ['x-a', '']), variantKey('k', ['x-a']))
})

keys('storageKey: the primary key when the response did not vary, else its variant key', () => {
  assert.is(storageKey('shop:p:abc', null), 'shop:p:abc')
  assert.is(storageKey('shop:p:abc', ['x-a', 'v']), variantKey('shop:p:abc', ['x-a', 'v']))
  assert.is(storageKey('shop:p:abc', []), variantKey('shop:p:abc', []))
})

keys.run()

const match = suite('matchesVariant')

match("the request's values, normalised, equal the stored ones", () => {
  const sent = from({ 'accept-encoding': 'gzip, br', 'accept-language': 'fr' })
  const stored = varyValues(['accept-encoding', 'accept-language'], sent)
  assert.ok(matchesVariant(stored, from({ 'accept-encoding': ' gzip ,br ', 'accept-language': 'fr' })))
  assert.not.ok(matchesVariant(stored, from({ 'accept-encoding': 'gzip', 'accept-language': 'fr' })))
  // language tags are case-insensitive (RFC 9110 §12.5.4): FR is fr (§4.1 case-normalisation)
  assert.ok(matchesVariant(stored, from({ 'accept-encoding': 'gzip, br', 'accept-language': 'FR' })))
  const custom = varyValues(['x-api-version'], from({ 'x-api-version': 'v1' }))
  assert.not.ok(matchesVariant(custom, from({ 'x-api-version': 'V1' })), 'other fields keep their case')
})

match('an absent header matches a variant stored for an absent (or empty) one, and nothing else', () => {
  const stored = ['x-a', '']
  assert.ok(matchesVariant(stored, from({})))
  assert.ok(matchesVariant(stored, from({ 'x-a': '  ' })))
  assert.not.ok(matchesVariant(stored, from({ 'x-a': 'v' })))
  assert.not.ok(matchesVariant(['x-a', 'v'], from({})))
})

match('no varied headers: every request matches', () => {
  assert.ok(matchesVariant([], from({ anything: 'x' })))
})

match('headers not named by the variant do not matter', () => {
  assert.ok(matchesVariant(['x-a', 'v'], from({ 'x-a': 'v', 'x-b': 'other' })))
})

match.run()
