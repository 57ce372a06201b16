/**
 * generation/purge.ts purgeGens: a purge request → the generation keys to bump, and a TypeError
 * for malformed input (test/purge/purge.test.ts checks the same end to end, against Redis).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { allGen, ruleGen, tagGen, urlGen } from '../../src/generation/keys.js'
import { type PurgeRequest, purgeGens } from '../../src/generation/purge.js'
import { decide } from '../../src/request/decide.js'
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
    - id: products-elsewhere
      match: /products/*
      ttl: 1m
      key:
        query: none
    - id: writes
      match: /pages/**
      methods: [POST]
      key:
        query: [only-for-posts]
    - id: pages
      match: /pages/**
      ttl: 1m
`)
const N = 'shop'
const gens = (what: PurgeRequest) => purgeGens(set, N, what)
const sorted = (a: string[]) => [...a].sort()

/** `fn` throws a TypeError with exactly `message` */
function typeError(fn: () => unknown, message: string): void {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  assert.instance(err, TypeError, message)
  assert.is((err as Error).message, message)
}

// ---------------------------------------------------------------------------------------------
const input = suite('purgeGens: malformed input is a TypeError')

input('not an object', () => {
  for (const what of [null, undefined, 'product:7', 7, ['product:7']]) {
    typeError(() => purgeGens(set, N, what as never), 'purge expects { tags?, urls?, rules?, all? }')
  }
})

input('an unknown field (a typo must not purge nothing)', () => {
  const message = 'purge: unknown field "tag"; expected tags, urls, rules or all'
  typeError(() => gens({ tag: ['product:7'] } as never), message)
})

input('lists that are not arrays of strings', () => {
  const cases: [unknown, string][] = [
    [{ tags: 'product:7' }, 'purge: tags must be an array of strings'],
    [{ tags: [7] }, 'purge: tags must be an array of strings'],
    [{ rules: [null] }, 'purge: rules must be an array of strings'],
    [{ urls: '/products/7' }, 'purge: urls must be an array of strings'],
    [{ urls: [{}] }, 'purge: urls must be an array of strings'],
  ]
  for (const [what, message] of cases) {
    typeError(() => gens(what as never), message)
  }
})

input('a URL that is neither absolute http(s) nor a path', () => {
  for (const u of ['products/7', '', 'ftp://shop.example/x', '?page=1']) {
    const message = `purge: a URL must be absolute or start with "/", got ${JSON.stringify(u)}`
    typeError(() => gens({ urls: [u] }), message)
  }
})

input('all that is not a boolean', () => {
  for (const all of ['yes', 1, null]) {
    typeError(() => gens({ all } as never), 'purge: all must be a boolean')
  }
})

input.run()

// ---------------------------------------------------------------------------------------------
const out = suite('purgeGens: the generation keys')

out('nothing asked: nothing to bump; all: false is nothing too', () => {
  assert.equal(gens({}), [])
  assert.equal(gens({ all: false, tags: [], urls: [], rules: [] }), [])
})

out('all: the namespace key', () => {
  assert.equal(gens({ all: true }), [allGen(N)])
})

out('tags and rules, each once (rules are not checked against the set)', () => {
  assert.equal(gens({ tags: ['a', 'b', 'a'] }), [tagGen(N, 'a'), tagGen(N, 'b')])
  assert.equal(gens({ rules: ['products', 'no-such-rule'] }), [
    ruleGen(N, 'products'),
    ruleGen(N, 'no-such-rule'),
  ])
})

out('in a fixed order: tags, rules, urls, all', () => {
  assert.equal(
    gens({ all: true, urls: ['https://shop.example/products/1'], rules: ['pages'], tags: ['t'] }),
    [tagGen(N, 't'), ruleGen(N, 'pages'), urlGen(N, '/products/1', []), allGen(N)],
  )
})

out("an absolute URL: that host's rule and its keyed query (port, case and fragment aside)", () => {
  const want = [urlGen(N, '/products/42', [['page', '2']])]
  assert.equal(gens({ urls: ['https://shop.example/products/42?utm=1&page=2'] }), want)
  assert.equal(gens({ urls: ['http://shop.example:8080/products/42?page=2#reviews'] }), want)
  assert.equal(gens({ urls: ['HTTPS://SHOP.EXAMPLE/products/42?page=2'] }), want)
  assert.equal(gens({ urls: ['https://other.example/products/42?page=2'] }), [urlGen(N, '/products/42', [])])
})

out('an absolute URL no cached GET rule covers: nothing', () => {
  assert.equal(gens({ urls: ['https://shop.example/account/orders'] }), [])
  assert.equal(gens({ urls: ['https://shop.example'] }), [])
  assert.equal(gens({ urls: ['https://shop.example/nowhere'] }), [])
})

out("a bare path: every host, so every cached GET rule's reading of the query", () => {
  // products keys page, products-elsewhere none, pages all (the same reading as products here);
  // private (cache: false) and writes (POST) store nothing
  assert.equal(
    sorted(gens({ urls: ['/products/42?page=2'] })),
    sorted([urlGen(N, '/products/42', [['page', '2']]), urlGen(N, '/products/42', [])]),
  )
})

out('a path spelled percent-encoded, with raw non-ASCII characters, or with a fragment: one URL', () => {
  assert.equal(gens({ urls: ['/products/%34%32'] }), gens({ urls: ['/products/42'] }))
  assert.equal(
    gens({ urls: ['https://shop.example/pages/café'] }),
    gens({ urls: ['https://shop.example/pages/caf%C3%A9'] }),
  )
  assert.equal(gens({ urls: ['/pages/x#top'] }), gens({ urls: ['/pages/x'] }))
})

out('duplicates across the lists are bumped once', () => {
  assert.equal(gens({ urls: ['/pages/x', 'https://shop.example/pages/x'] }), [urlGen(N, '/pages/x', [])])
})

out('a purged URL is the URL generation a request for it depends on', () => {
  const requests = [
    ['/products/42?page=2&utm=x', 'shop.example'],
    ['/pages/caf%C3%A9?b=1&a=2', 'h'],
  ] as const
  for (const [target, host] of requests) {
    const q = target.indexOf('?')
    const d = decide(
      set,
      N,
      {
        method: 'GET',
        url: target,
        protocol: 'https',
        host,
        path: target.slice(0, q),
        querystring: target.slice(q + 1),
      },
      {},
    )
    assert.is(d.kind, 'lookup')
    if (d.kind !== 'lookup') return
    assert.ok(gens({ urls: [target] }).includes(d.gens[2]!), `${target}: bare path`)
    assert.equal(gens({ urls: [`https://${host}${target}`] }), [d.gens[2]], `${target}: absolute`)
  }
})

out.run()
