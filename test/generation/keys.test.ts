/**
 * generation/keys.ts: the generation keys an entry depends on, where a URL's generation lives, and
 * the token comparisons that decide whether an entry may still be served.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  allGen,
  compatibleTokens,
  GEN_TTL,
  locate,
  ruleGen,
  sameTokens,
  tagGen,
  tokenTime,
  urlGen,
} from '../../src/generation/keys.js'
import { MAX_ENTRY_TTL } from '../../src/http/freshness.js'
import { digest } from '../../src/key/compose.js'
import { policySet } from '../helpers/rules.js'

const set = await policySet(`
  version: 1
  rules:
    - id: private
      match: /account/**
      cache: false
    - id: products
      match: /products/*
      host: shop.example
      ttl: 1m
      key:
        query: [page]
    - id: writes
      match: /pages/**
      methods: [POST]
    - id: pages
      match: /pages/**
      ttl: 1m
`)
const rule = (id: string) => {
  const r = set.rules.find((x) => x.id === id)
  if (!r) throw new Error(`no rule ${id}`)
  return r
}

// ---------------------------------------------------------------------------------------------
const shapes = suite('generation key shapes')

shapes('namespace, rule, tag and URL keys', () => {
  assert.is(allGen('shop'), 'shop:g:a')
  assert.is(ruleGen('shop', 'products'), 'shop:g:r:products')
  assert.is(tagGen('shop', 'product:42'), `shop:g:t:${digest('product:42')}`)
  assert.is(urlGen('shop', '/products/42', [['page', '2']]), `shop:g:u:${digest('12:/products/424:page1:2')}`)
  assert.is(urlGen('shop', '/', []), `shop:g:u:${digest('1:/')}`)
})

shapes('user text (tags, paths) only ever appears inside a digest: no {hash tag}, fixed length', () => {
  const tag = tagGen('shop', '{evil}'.repeat(1000))
  assert.not.match(tag, /[{}]/)
  assert.is(tag.length, 'shop:g:t:'.length + 32)
  const url = urlGen('shop', '/{x}/'.repeat(1000), [['{', '}']])
  assert.not.match(url, /[{}]/)
  assert.is(url.length, 'shop:g:u:'.length + 32)
})

shapes('namespaces do not share keys', () => {
  assert.is.not(allGen('a'), allGen('b'))
  assert.is.not(tagGen('a', 't'), tagGen('b', 't'))
  assert.is.not(urlGen('a', '/x', []), urlGen('b', '/x', []))
})

shapes('generation keys outlive every entry by a day', () => {
  assert.is(GEN_TTL, MAX_ENTRY_TTL + 24 * 3600_000)
})

shapes.run()

// ---------------------------------------------------------------------------------------------
const url = suite('urlGen')

url("query order does not matter (the key's normalised order)", () => {
  assert.is(
    urlGen('s', '/p', [
      ['b', '2'],
      ['a', '1'],
    ]),
    urlGen('s', '/p', [
      ['a', '1'],
      ['b', '2'],
    ]),
  )
  assert.is(
    urlGen('s', '/p', [
      ['c', '3'],
      ['a', '1'],
      ['b', '2'],
    ]),
    urlGen('s', '/p', [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]),
  )
})

url('a repeated parameter keeps its order', () => {
  assert.is.not(
    urlGen('s', '/p', [
      ['a', '1'],
      ['a', '2'],
    ]),
    urlGen('s', '/p', [
      ['a', '2'],
      ['a', '1'],
    ]),
  )
})

url('path, names and values cannot be forged across boundaries', () => {
  assert.is.not(urlGen('s', '/p4:page1:2', []), urlGen('s', '/p', [['page', '2']]))
  assert.is.not(urlGen('s', '/p', [['a', '1=b']]), urlGen('s', '/p', [['a=1', 'b']]))
  assert.is.not(urlGen('s', '/p', [['a', '']]), urlGen('s', '/p', []))
})

url('another path or value is another URL', () => {
  assert.is.not(urlGen('s', '/p', []), urlGen('s', '/q', []))
  assert.is.not(urlGen('s', '/p', [['a', '1']]), urlGen('s', '/p', [['a', '2']]))
})

url.run()

// ---------------------------------------------------------------------------------------------
const loc = suite('locate')

loc("the GET rule and the URL generation of a URL, with the rule's keyed query", () => {
  assert.equal(locate(set, 'shop', 'shop.example', '/products/42', 'utm=1&page=2'), {
    rule: rule('products'),
    urlGen: urlGen('shop', '/products/42', [['page', '2']]),
  })
  assert.equal(locate(set, 'shop', 'any.example', '/pages/a', 'b=2&a=1'), {
    rule: rule('pages'),
    urlGen: urlGen('shop', '/pages/a', [
      ['a', '1'],
      ['b', '2'],
    ]),
  })
})

loc('the path percent-decoded as globs see it: one URL however it is spelled', () => {
  assert.equal(locate(set, 'shop', 'shop.example', '/products/%34%32', ''), {
    rule: rule('products'),
    urlGen: urlGen('shop', '/products/42', []),
  })
})

loc('no GET rule, a rule for another host, or cache: false: nothing to locate', () => {
  assert.is(locate(set, 'shop', 'shop.example', '/nowhere', ''), undefined)
  assert.is(locate(set, 'shop', 'other.example', '/products/42', ''), undefined)
  assert.is(locate(set, 'shop', 'shop.example', '/account/x', ''), undefined)
})

loc('the GET rule, whichever rule the unsafe request itself matched', () => {
  assert.is(locate(set, 'shop', 'h', '/pages/x', '')?.rule, rule('pages'))
})

loc.run()

// ---------------------------------------------------------------------------------------------
const tokens = suite('tokenTime, sameTokens, compatibleTokens')

tokens('tokenTime: the base-36 milliseconds before the dot; 0 without one', () => {
  const t = 1_700_000_000_000
  assert.is(tokenTime(`${t.toString(36)}.r4nd0m`), t)
  assert.is(tokenTime('zz.x'), 36 * 36 - 1)
  assert.is(tokenTime('0'), 0)
  assert.is(tokenTime('abc'), 0)
  assert.is(tokenTime('.abc'), 0)
  assert.is(tokenTime('!!.x'), 0)
  assert.is(tokenTime(''), 0)
})

tokens('sameTokens: every recorded token still there, unchanged', () => {
  assert.ok(sameTokens(['a', 'b'], ['a', 'b']))
  assert.ok(sameTokens([], []))
  assert.not.ok(sameTokens(['a', 'b'], ['a', 'c']), 'a purge replaced one')
  assert.not.ok(sameTokens(['a', 'b'], ['a', undefined]), 'eviction removed one')
  assert.not.ok(sameTokens(['a', 'b'], ['a']), 'another set of generations')
  assert.not.ok(sameTokens(['a'], ['a', 'b']))
})

tokens("compatibleTokens: absent at the follower's read is fine, present and different is a purge", () => {
  assert.ok(compatibleTokens(['a', 'b'], ['a', 'b']))
  assert.ok(compatibleTokens(['a', 'b'], [undefined, 'b']))
  assert.ok(compatibleTokens(['a', 'b'], [undefined, undefined]))
  assert.not.ok(compatibleTokens(['a', 'b'], ['a', 'x']))
  assert.not.ok(compatibleTokens(['a', 'b'], ['a']))
  assert.not.ok(compatibleTokens(['a'], ['a', undefined]))
})

tokens.run()
