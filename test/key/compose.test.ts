/**
 * key/compose.ts: the key material (what the digest hashes), its encoding that no input can forge,
 * and the entry key's shape. Rules come from YAML through the real loader.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { digest, entryKey, keyMaterial } from '../../src/key/compose.js'
import type { Pair } from '../../src/key/sanitize.js'
import { rulesById } from '../helpers/rules.js'

const rules = await rulesById(`
  version: 1
  rules:
    - id: plain
      match: /plain/**
      ttl: 1m
    - id: no-host
      match: /no-host/**
      ttl: 1m
      key:
        host: false
    - id: keyed
      match: /keyed/**
      ttl: 1m
      key:
        query: [page, sort]
        headers: [Accept-Language, X-Tenant]
        cookies: [locale, theme]
    - id: no-cookies
      match: /no-cookies/**
      ttl: 1m
      key:
        cookies: []
    - id: plain-2
      match: /plain-2/**
      ttl: 2m
`)
const rule = (id: string) => {
  const r = rules[id]
  if (!r) throw new Error(`no rule ${id}`)
  return r
}
const plain = rule('plain')
const keyed = rule('keyed')

type H = Record<string, string | readonly string[] | undefined>
/** material for the keyed rule, from its parts */
interface Parts {
  protocol?: string
  host?: string
  path?: string
  headers?: H
  query?: Pair[]
  cookies?: Pair[]
}
const km = (o: Parts = {}, r = keyed) =>
  keyMaterial(
    r,
    o.protocol ?? 'http',
    o.host ?? 'shop.example',
    o.path ?? '/keyed/a',
    o.headers ?? {},
    o.query ?? [],
    o.cookies ?? [],
  )

// ---------------------------------------------------------------------------------------------
const material = suite('keyMaterial: the exact encoding')

material('each part is <length>:<chars>: version, method G, scheme, host, path, query count, headers', () => {
  const v = plain.version
  assert.is(
    keyMaterial(plain, 'http', 'shop.example', '/a', {}, [], []),
    `${v.length}:${v}G4:http12:shop.example2:/aq1:0h`,
  )
})

material('keyed query pairs, keyed headers (absent: ~), keyed cookies with their count', () => {
  const v = keyed.version
  const m = km({
    headers: { 'accept-language': 'fr', 'x-tenant': undefined },
    query: [['page', '2']],
    cookies: [['locale', 'fr_FR']],
  })
  assert.is(m, `${v.length}:${v}G4:http12:shop.example8:/keyed/aq1:14:page1:2h2:fr~c1:16:locale5:fr_FR`)
})

material('cookies: [] adds no cookie section', () => {
  const r = rule('no-cookies')
  assert.is(
    keyMaterial(r, 'http', 'h', '/', {}, [], [['a', '1']]),
    `${r.version.length}:${r.version}G4:http1:h1:/q1:0h`,
  )
})

material('key.host: false replaces scheme and host by ~~', () => {
  const r = rule('no-host')
  assert.is(
    keyMaterial(r, 'https', 'shop.example', '/x', {}, [], []),
    `${r.version.length}:${r.version}G~~2:/xq1:0h`,
  )
})

material.run()

// ---------------------------------------------------------------------------------------------
const forge = suite('keyMaterial: delimiters cannot be forged')

/** pairs of inputs that a naive concatenation would confuse */
const confusable: [string, Parameters<typeof km>[0], Parameters<typeof km>[0]][] = [
  ['host and path', { host: 'shop.example', path: '/a/b' }, { host: 'shop.example/a', path: '/b' }],
  [
    'scheme and host',
    { protocol: 'http', host: 'sshop.example' },
    { protocol: 'https', host: 'shop.example' },
  ],
  ['query name and value', { query: [['page', '1=2']] }, { query: [['page=1', '2']] }],
  [
    'one pair or two',
    { query: [['page', '1&sort=2']] },
    {
      query: [
        ['page', '1'],
        ['sort', '2'],
      ],
    },
  ],
  [
    'a value holding a length prefix',
    { query: [['page', '1:x']] },
    {
      query: [
        ['page', '1'],
        ['x', ''],
      ],
    },
  ],
  ['which header is absent', { headers: { 'accept-language': 'fr' } }, { headers: { 'x-tenant': 'fr' } }],
  [
    'an absent header or a header spelling "~"',
    { headers: {} },
    { headers: { 'accept-language': '~', 'x-tenant': '~' } },
  ],
  [
    'a header value holding the next header',
    { headers: { 'accept-language': 'fr2:acme' } },
    { headers: { 'accept-language': 'fr', 'x-tenant': 'acme' } },
  ],
  ['query or cookie', { query: [['page', '1']] }, { cookies: [['page', '1']] }],
  ['path or query', { path: '/keyed/a?page=1' }, { path: '/keyed/a', query: [['page', '1']] }],
  ['cookie name and value', { cookies: [['locale', 'a=b']] }, { cookies: [['locale=a', 'b']] }],
]

for (const [name, a, b] of confusable) {
  forge(name, () => {
    const ma = km(a)
    const mb = km(b)
    assert.is.not(ma, mb)
    assert.is.not(digest(ma), digest(mb))
  })
}

forge('an absent part (~) never meets a present one: a present part starts with its length', () => {
  assert.ok(keyMaterial(rule('no-host'), 'http', 'h', '/', {}, [], []).includes('G~~'))
  assert.ok(keyMaterial(plain, '', '', '/', {}, [], []).includes('G0:0:'))
  assert.ok(km({ headers: { 'accept-language': ' ', 'x-tenant': '' } }).endsWith('h0:~c1:0'))
})

forge('two rules with the same path never share material (the rule version leads)', () => {
  const other = rule('plain-2')
  assert.is.not(plain.version, other.version)
  assert.is.not(
    keyMaterial(plain, 'http', 'h', '/x', {}, [], []),
    keyMaterial(other, 'http', 'h', '/x', {}, [], []),
  )
})

forge.run()

// ---------------------------------------------------------------------------------------------
const inputs = suite('keyMaterial: what is and is not the same key')

inputs('host: the scheme and the host exactly as the application sees them (case kept)', () => {
  assert.is.not(km({ host: 'SHOP.example' }), km({ host: 'shop.example' }))
  assert.is.not(km({ protocol: 'https' }), km({ protocol: 'http' }))
  assert.is.not(km({ host: 'shop.example:8080' }), km({ host: 'shop.example' }))
})

inputs('key.host: false: every host and scheme share', () => {
  const r = rule('no-host')
  assert.is(
    keyMaterial(r, 'https', 'a.example', '/x', {}, [], []),
    keyMaterial(r, 'http', 'b.example', '/x', {}, [], []),
  )
})

inputs('the path is raw: case and encoding matter', () => {
  assert.is.not(km({ path: '/keyed/A' }), km({ path: '/keyed/a' }))
  assert.is.not(km({ path: '/keyed/%61' }), km({ path: '/keyed/a' }))
})

inputs('query order is normalised by name', () => {
  assert.is(
    km({
      query: [
        ['sort', 'a'],
        ['page', '2'],
      ],
    }),
    km({
      query: [
        ['page', '2'],
        ['sort', 'a'],
      ],
    }),
  )
})

inputs('a repeated parameter keeps its order', () => {
  assert.is.not(
    km({
      query: [
        ['page', '1'],
        ['page', '2'],
      ],
    }),
    km({
      query: [
        ['page', '2'],
        ['page', '1'],
      ],
    }),
  )
  assert.is(
    km({
      query: [
        ['sort', 'x'],
        ['page', '1'],
        ['page', '2'],
      ],
    }),
    km({
      query: [
        ['page', '1'],
        ['page', '2'],
        ['sort', 'x'],
      ],
    }),
  )
})

inputs('header values are trimmed; several lines are joined with ", "', () => {
  assert.is(km({ headers: { 'accept-language': '  fr  ' } }), km({ headers: { 'accept-language': 'fr' } }))
  const lang = (v: string | string[]) => km({ headers: { 'accept-language': v } })
  assert.is(lang(['fr', 'en']), lang('fr, en'))
  assert.is.not(lang('fr,en'), lang('fr, en'))
})

inputs('an empty header is the same as an absent one; a blank one is not (today)', () => {
  assert.is(km({ headers: { 'accept-language': '' } }), km({ headers: {} }))
  assert.is(km({ headers: { 'accept-language': [] } }), km({ headers: {} }))
  assert.is.not(km({ headers: { 'accept-language': '   ' } }), km({ headers: {} }))
})

inputs('headers the rule does not key change nothing; names are lower-case, as node:http gives them', () => {
  assert.equal(keyed.key.headers, ['accept-language', 'x-tenant'])
  assert.is(km({ headers: { 'user-agent': 'x', cookie: 'a=1' } }), km({}))
  assert.is(km({ headers: { 'Accept-Language': 'fr' } }), km({}))
})

inputs('cookies: the kept pairs in request order (not sorted)', () => {
  assert.is.not(
    km({
      cookies: [
        ['locale', 'fr'],
        ['theme', 'dark'],
      ],
    }),
    km({
      cookies: [
        ['theme', 'dark'],
        ['locale', 'fr'],
      ],
    }),
  )
  assert.is.not(km({ cookies: [['locale', 'fr']] }), km({ cookies: [] }))
})

inputs.run()

// ---------------------------------------------------------------------------------------------
const keys = suite('digest and entryKey')

keys('digest: 32 characters of base64url SHA-256', () => {
  assert.is(digest(''), '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NM')
  assert.match(digest('x'.repeat(100_000)), /^[A-Za-z0-9_-]{32}$/)
  assert.is(digest('a'), digest('a'))
  assert.is.not(digest('a'), digest('b'))
})

keys('entryKey is <name>:<rule>:<digest of the material>', () => {
  const m = km({ query: [['page', '1']] })
  assert.is(entryKey('shop', keyed, m), `shop:keyed:${digest(m)}`)
  assert.match(entryKey('shop', keyed, m), /^shop:keyed:[A-Za-z0-9_-]{32}$/)
})

keys('user input never reaches the key text: no {hash tag}, fixed length', () => {
  const m = km({ path: '/keyed/{tag}', headers: { 'accept-language': '}{' } })
  const k = entryKey('shop', keyed, m)
  assert.not.match(k, /[{}]/)
  assert.is(k.length, 'shop:keyed:'.length + 32)
})

keys.run()
