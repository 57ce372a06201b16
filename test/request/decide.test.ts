/**
 * request/decide.ts: the request side of every decision, on a policy set compiled from YAML and a
 * plain request object (what a Koa ctx gives it), no HTTP: pass, unsafe, bypass and why, lookup
 * and everything it carries.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { allGen, ruleGen, tagGen, urlGen } from '../../src/generation/keys.js'
import { entryKey, keyMaterial } from '../../src/key/compose.js'
import { loadPolicies } from '../../src/policy/load.js'
import { compilePolicySet } from '../../src/policy-set.js'
import {
  type Decision,
  decide,
  type Headers,
  header,
  hostnameOf,
  type LookupDecision,
  type RequestLike,
} from '../../src/request/decide.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { policySet } from '../helpers/rules.js'

const set = await policySet(`
  version: 1
  rules:
    - id: private
      match: /account/**
      cache: false
    - id: api
      match: /api/**
      ttl: 1m
      key:
        headers: [Authorization]
    - id: products
      match: /products/*
      host: shop.example
      ttl: 1m
      key:
        query: [page, sort]
        cookies: [locale]
      tags: [products, "product:{path.2}", "page:{query.page}"]
    - id: product-writes
      match: /products/*
      methods: [POST, PUT, PATCH, DELETE]
      invalidate:
        tags: [products]
    - id: static
      match: /static/**
      ttl: 1h
      key:
        cookies: []
    - id: pages
      match: /pages/**
      ttl: 1m
`)
const rule = (id: string) => {
  const r = set.rules.find((x) => x.id === id)
  if (!r) throw new Error(`no rule ${id}`)
  return r
}
const NAME = 'shop'

/** A request as Koa would present it: `target` is the request target (ctx.url) */
function req(method: string, target: string, host = 'shop.example', protocol = 'http'): RequestLike {
  const pathStart = target.startsWith('/') ? 0 : target.indexOf('/', target.indexOf('//') + 2)
  const local = pathStart < 0 ? '/' : target.slice(pathStart)
  const q = local.indexOf('?')
  return {
    method,
    url: target,
    protocol,
    host,
    path: q === -1 ? local : local.slice(0, q),
    querystring: q === -1 ? '' : local.slice(q + 1),
  }
}
const run = (method: string, target: string, headers: Headers = {}, host?: string): Decision =>
  decide(set, NAME, req(method, target, host), headers)
function lookup(method: string, target: string, headers: Headers = {}, host?: string) {
  const d = run(method, target, headers, host)
  if (d.kind !== 'lookup') {
    const message = `expected a lookup, got ${JSON.stringify(d)}`
    throw new assert.Assertion({ message, operator: 'lookup', expects: 'lookup', actual: d.kind })
  }
  return d
}

// ---------------------------------------------------------------------------------------------
const pass = suite('decide: pass (nothing read, nothing written)')

pass('no rule matches the path', () => {
  assert.equal(run('GET', '/elsewhere'), { kind: 'pass' })
})

pass('no rule matches the host (the port is not part of the host name)', () => {
  assert.equal(run('GET', '/products/1', {}, 'other.example'), { kind: 'pass' })
  assert.is(run('GET', '/products/1', {}, 'shop.example:8080').kind, 'lookup')
})

pass('a method no rule can name, or one spelled in lower case', () => {
  for (const m of ['TRACE', 'CONNECT', 'PROPFIND', 'get']) {
    assert.equal(run(m, '/pages/x'), { kind: 'pass' }, m)
  }
})

pass("a method the matching path's rules do not list", () => {
  assert.equal(run('OPTIONS', '/pages/x'), { kind: 'pass' })
  assert.equal(run('POST', '/pages/x'), { kind: 'pass' })
  assert.equal(run('POST', '/account/x'), { kind: 'pass' })
})

pass.run()

// ---------------------------------------------------------------------------------------------
const unsafe = suite('decide: unsafe')

unsafe('an unsafe method that a rule lists: forwarded, never looked up', () => {
  for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const d = run(m, '/products/1', { cookie: 'sid=1', authorization: 'Bearer x', 'content-length': '9' })
    assert.equal(d, { kind: 'unsafe', rule: rule('product-writes') }, m)
  }
})

unsafe.run()

// ---------------------------------------------------------------------------------------------
const bypass = suite('decide: bypass, and why')
const why = (d: Decision) => (d.kind === 'bypass' ? `${d.rule.id}/${d.detail}` : d.kind)

bypass('rule: cache: false', () => {
  assert.equal(run('GET', '/account/orders'), { kind: 'bypass', rule: rule('private'), detail: 'rule' })
  assert.is(
    why(run('HEAD', '/account/orders', { cookie: 'sid=1' })),
    'private/rule',
    'the rule is checked before the request',
  )
})

bypass('path: an ambiguous path', () => {
  for (const t of ['/pages/a//b', '/pages/a;b', '/pages/%2e%2e/x', '/pages/a%2fb', '/pages/a\\b']) {
    assert.is(why(run('GET', t)), 'pages/path', t)
  }
})

bypass('a literal dot segment matches no glob (micromatch never matches ".."): pass, never cached', () => {
  assert.equal(run('GET', '/pages/a/../b'), { kind: 'pass' })
  assert.equal(run('GET', '/pages/./b'), { kind: 'pass' })
})

bypass('path: an absolute-form request target', () => {
  assert.is(why(run('GET', 'http://other.example/pages/x')), 'pages/path')
})

bypass('body: a GET or HEAD with Content-Length > 0 or Transfer-Encoding', () => {
  assert.is(why(run('GET', '/pages/x', { 'content-length': '5' })), 'pages/body')
  assert.is(why(run('HEAD', '/pages/x', { 'transfer-encoding': 'chunked' })), 'pages/body')
  assert.is(why(run('GET', '/pages/x', { 'content-length': '0' })), 'lookup', 'Content-Length: 0 is no body')
})

bypass('authorization: unless the rule keys it', () => {
  assert.is(why(run('GET', '/pages/x', { authorization: 'Bearer x' })), 'pages/authorization')
  assert.is(why(run('GET', '/api/x', { authorization: 'Bearer x' })), 'lookup')
})

bypass('cookie: a Cookie header on a rule that does not mention cookies', () => {
  assert.is(why(run('GET', '/pages/x', { cookie: 'sid=1' })), 'pages/cookie')
  assert.is(why(run('GET', '/pages/x', { cookie: '' })), 'lookup', 'an empty Cookie header is no cookie')
})

bypass('the order of the checks: path, body, authorization, cookie', () => {
  const all = { 'content-length': '1', authorization: 'x', cookie: 'a=1' }
  assert.is(why(run('GET', '/pages/a//b', all)), 'pages/path')
  assert.is(why(run('GET', '/pages/x', all)), 'pages/body')
  assert.is(why(run('GET', '/pages/x', { authorization: 'x', cookie: 'a=1' })), 'pages/authorization')
})

bypass.run()

// ---------------------------------------------------------------------------------------------
const look = suite('decide: lookup')

look('the key is the entry key of exactly the material the request gives', () => {
  const d = lookup('GET', '/products/42?sort=a&page=2', { 'accept-language': 'fr' })
  assert.is(d.rule, rule('products'))
  const query = [
    ['sort', 'a'],
    ['page', '2'],
  ] as const
  assert.is(d.material, keyMaterial(rule('products'), 'http', 'shop.example', '/products/42', {}, query, []))
  assert.is(d.key, entryKey(NAME, rule('products'), d.material))
  assert.match(d.key, /^shop:products:[A-Za-z0-9_-]{32}$/)
})

look('GET and HEAD share an entry; another scheme or host does not', () => {
  const get = lookup('GET', '/pages/x').key
  assert.is(lookup('HEAD', '/pages/x').key, get)
  const https = decide(set, NAME, req('GET', '/pages/x', 'shop.example', 'https'), {}) as LookupDecision
  assert.is(https.kind, 'lookup')
  assert.is.not(https.key, get)
  assert.is.not(lookup('GET', '/pages/x', {}, 'www.example').key, get)
})

look('unkeyed query parameters are removed for the application; keyed ones keep their raw spelling', () => {
  const d = lookup('GET', '/products/42?page=2&utm_source=x&sort=a')
  assert.is(d.querystring, 'page=2&sort=a')
  assert.is(d.removedQuery, true)
  assert.is(
    d.key,
    lookup('GET', '/products/42?sort=a&page=2').key,
    'unkeyed parameters and order do not change the key',
  )
  const kept = lookup('GET', '/products/42?page=%32')
  assert.is(kept.querystring, 'page=%32')
  assert.is(kept.removedQuery, false)
  const none = lookup('GET', '/products/42')
  assert.is(none.querystring, '')
  assert.is(none.removedQuery, false)
})

look('cookies: undefined when unchanged, the kept ones when some go, null when all go', () => {
  assert.is(lookup('GET', '/products/1').cookie, undefined)
  assert.is(lookup('GET', '/products/1', { cookie: 'locale=fr' }).cookie, undefined)
  assert.is(lookup('GET', '/products/1', { cookie: 'sid=1; locale=fr; x=2' }).cookie, 'locale=fr')
  assert.is(lookup('GET', '/products/1', { cookie: 'sid=1' }).cookie, null)
  assert.is(lookup('GET', '/static/app.js', { cookie: 'sid=1; locale=fr' }).cookie, null)
})

look('keyed cookies are in the key, others are not', () => {
  const fr = lookup('GET', '/products/1', { cookie: 'locale=fr' }).key
  assert.is(lookup('GET', '/products/1', { cookie: 'sid=9; locale=fr' }).key, fr)
  assert.is.not(lookup('GET', '/products/1', { cookie: 'locale=en' }).key, fr)
  assert.is.not(lookup('GET', '/products/1').key, fr)
  assert.is(lookup('GET', '/static/app.js', { cookie: 'a=1' }).key, lookup('GET', '/static/app.js').key)
})

look('authorized: true only with Authorization, on a rule that keys it; its value is keyed', () => {
  assert.is(lookup('GET', '/api/x').authorized, false)
  const a = lookup('GET', '/api/x', { authorization: 'Bearer a' })
  assert.is(a.authorized, true)
  assert.is.not(lookup('GET', '/api/x', { authorization: 'Bearer b' }).key, a.key)
  assert.is(lookup('GET', '/pages/x').authorized, false)
})

look('gens: [namespace, rule, url, ...tags], and urlAndTagGens = gens from the URL on', () => {
  const d = lookup('GET', '/products/42?page=2&sort=a&utm=1')
  const url = urlGen(NAME, '/products/42', [
    ['page', '2'],
    ['sort', 'a'],
  ])
  assert.equal(d.gens, [
    allGen(NAME),
    ruleGen(NAME, 'products'),
    url,
    tagGen(NAME, 'products'),
    tagGen(NAME, 'product:42'),
    tagGen(NAME, 'page:2'),
  ])
  assert.equal(d.urlAndTagGens, d.gens.slice(2))
  assert.equal(d.tags, ['products', 'product:42', 'page:2'])
})

look('no tags: gens are namespace, rule and URL', () => {
  const d = lookup('GET', '/pages/a?z=1')
  assert.equal(d.gens, [allGen(NAME), ruleGen(NAME, 'pages'), urlGen(NAME, '/pages/a', [['z', '1']])])
  assert.equal(d.urlAndTagGens, [urlGen(NAME, '/pages/a', [['z', '1']])])
  assert.equal(d.tags, [])
})

look('a percent-encoded path: keyed raw, but its URL generation and tags use the decoded path', () => {
  const enc = lookup('GET', '/products/%34%32')
  const plain = lookup('GET', '/products/42')
  assert.is.not(enc.key, plain.key)
  assert.is(enc.gens[2], plain.gens[2])
  assert.equal(enc.tags, ['products', 'product:42', 'page:'])
})

look('the host joins the key, not the URL generation (a purge by path covers every host)', () => {
  const a = lookup('GET', '/pages/x', {}, 'a.example')
  const b = lookup('GET', '/pages/x', {}, 'b.example')
  assert.is.not(a.key, b.key)
  assert.equal(a.gens, b.gens)
})

look('the same request shape is memoised on the set: the same gens array', () => {
  const a = lookup('GET', '/pages/memo?q=1')
  const b = lookup('HEAD', '/pages/memo?q=1', { 'user-agent': 'x' })
  assert.is(b.gens, a.gens)
  assert.is(set.memo.get(a.material)?.key, a.key)
})

look.run()

// ---------------------------------------------------------------------------------------------
const memo = suite('decide: remembered decisions (plain requests)')

const MEMO_POLICY = `
  version: 1
  rules:
    - id: off
      match: /off/**
      cache: false
    - id: lang
      match: /lang/**
      ttl: 1m
      key: { headers: [Accept-Language] }
    - id: norm
      match: /norm/**
      ttl: 1m
      key: { normalize: { accept-language: [en, fr] } }
    - id: shop
      match: /p/*
      host: shop.example
      ttl: 1m
      methods: [GET]
      key: { query: [page], cookies: [locale] }
    - id: any
      match: /p/*
      ttl: 1m
      key: { host: true, query: [page] }
`

memo(
  'every request decided on one set, in any order, gets what a fresh set decides for it alone',
  async () => {
    const result = await loadPolicies(policyDir(yaml(MEMO_POLICY)))
    if (!result.ok) throw new Error('invalid policy')
    const shared = compilePolicySet(result)
    const targets = [
      '/p/1',
      '/p/1?page=2',
      '/p/1?page=2&utm=x',
      '/p/2',
      '/off/x',
      '/lang/a',
      '/norm/a',
      '/none',
      '/p/%2e%2e/x',
      'http://other.example/p/1',
    ]
    const hosts = ['shop.example', 'other.example', 'shop.example:8080']
    const headerSets: Headers[] = [
      {},
      { 'accept-language': 'fr' },
      { 'accept-language': 'de, fr;q=0.5' },
      { cookie: 'locale=fr; sid=1' },
      { authorization: 'Bearer x' },
      { 'content-length': '3' },
    ]
    const all: [string, string, string, string, Headers][] = []
    for (const m of ['GET', 'HEAD', 'POST'])
      for (const t of targets)
        for (const h of hosts)
          for (const p of ['http', 'https']) for (const hs of headerSets) all.push([m, t, h, p, hs])
    // a fixed shuffle, twice over: the second pass finds every plain decision remembered
    let seed = 7
    const order = [...all, ...all]
      .map((x) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        return [seed, x] as const
      })
      .sort((a, b) => a[0] - b[0])
      .map(([, x]) => x)
    for (const [m, t, h, p, hs] of order) {
      const got = decide(shared, NAME, req(m, t, h, p), hs)
      const fresh = decide(compilePolicySet(result), NAME, req(m, t, h, p), hs)
      assert.equal(got, fresh, `${m} ${p}://${h} ${t} ${JSON.stringify(hs)}`)
    }
  },
)

memo(
  'a plain request asked again gets the decision remembered; one with a keyed header, a cookie or credentials is decided again',
  async () => {
    const s2 = await policySet(MEMO_POLICY)
    const once = (t: string, hs: Headers = {}, host = 'shop.example') =>
      decide(s2, NAME, req('GET', t, host), hs)
    assert.is(once('/p/1?page=2'), once('/p/1?page=2'), 'plain: the same decision')
    assert.is(once('/none'), once('/none'), 'no rule: the same decision')
    assert.is.not(
      once('/p/1', { cookie: 'locale=fr' }),
      once('/p/1', { cookie: 'locale=fr' }),
      'a cookie: decided again',
    )
    assert.is.not(once('/lang/a'), once('/lang/a'), 'a rule keying a header: decided again')
    assert.is.not(once('/norm/a'), once('/norm/a'), 'a rule normalising a header: decided again')
    // a target over 1 KB is not remembered (a memo of 16 KB heads would hold 160 MB)
    const long = `/p/1?page=${'9'.repeat(1100)}`
    assert.is.not(once(long), once(long), 'a long target: decided again')
    assert.equal(once(long), once(long))
    const a = once('/p/1', {}, 'shop.example')
    const b = once('/p/1', {}, 'other.example')
    assert.is((a as LookupDecision).rule.id, 'shop')
    assert.is((b as LookupDecision).rule.id, 'any', 'another host: its own decision')
    assert.is(once('/p/1', {}, 'shop.example'), a)
    assert.is(once('/p/1', {}, 'other.example'), b)
  },
)

memo.run()

// ---------------------------------------------------------------------------------------------
const helpers = suite('hostnameOf and header')

helpers('hostnameOf: the host name without the port; IPv6 keeps its brackets', () => {
  assert.is(hostnameOf('shop.example'), 'shop.example')
  assert.is(hostnameOf('shop.example:8080'), 'shop.example')
  assert.is(hostnameOf('[::1]:8080'), '[::1]')
  assert.is(hostnameOf('[::1]'), '[::1]')
  assert.is(hostnameOf('[::1'), '[::1')
  assert.is(hostnameOf(''), '')
})

helpers('header: "" when absent, lines joined with ", "', () => {
  assert.is(header({}, 'x'), '')
  assert.is(header({ x: 'a' }, 'x'), 'a')
  assert.is(header({ x: ['a', 'b'] }, 'x'), 'a, b')
})

helpers.run()
