import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadPolicies } from '../../src/policy/load.js'
import {
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_MAX_VARIANTS,
  DEFAULT_STATUSES,
  DEFAULT_TARGETED,
  digest,
  normalizeRule,
  type RawRule,
} from '../../src/policy/normalize.js'
import { METHOD_BITS, type Rule } from '../../src/policy/types.js'

const root = new URL('../..', import.meta.url).pathname
const dir = 'test/fixtures/policies/valid'

async function rulesOf(file: string): Promise<Map<string, Rule>> {
  const r = await loadPolicies(`${dir}/${file}`, { cwd: root })
  if (!r.ok) throw new Error(`expected ${file} to load: ${JSON.stringify(r.errors)}`)
  assert.equal(r.warnings, [])
  return new Map(r.rules.map((rule) => [rule.id, rule]))
}

const get = (m: Map<string, Rule>, id: string): Rule => {
  const r = m.get(id)
  if (!r) throw new Error(`no rule ${id}`)
  return r
}

const fields = suite('normalisation of every field')

fields('a rule that spells out every field', async () => {
  const r = get(await rulesOf('everything.yaml'), 'everything')
  assert.is(r.index, 0)
  assert.equal(r.pos, { file: `${dir}/everything.yaml`, line: 5, col: 9 })
  assert.equal(r.match, ['/api/items/*', '/{v1,v2}/items'])
  assert.is(r.host, 'Shop.Example.com')
  assert.is(r.methods, METHOD_BITS.GET! | METHOD_BITS.HEAD! | METHOD_BITS.OPTIONS!)
  assert.equal(r.methodList, ['GET', 'HEAD', 'OPTIONS'])
  assert.is(r.cache, true)
  assert.is(r.ttl, 5_400_000)
  assert.is(r.origin, 'override')
  assert.equal(
    [...r.statuses],
    [
      [200, 300_000],
      [404, 30_000],
      [410, 86_400_000],
    ],
  )
  const q = r.key.query
  assert.is(q.mode, 'include')
  if (q.mode !== 'include') return
  assert.equal([...q.names], ['page', 'sort'])
  assert.is(q.globs.length, 1)
  assert.ok(q.globs[0]!.test('f_color'))
  assert.not.ok(q.globs[0]!.test('F_color'), 'query names are case-sensitive')
  assert.not.ok(q.globs[0]!.test('page'))
  assert.equal(r.key.headers, ['accept-language', 'x-tenant'])
  assert.equal(r.key.cookies, ['locale', 'Theme'])
  assert.is(r.key.host, false)
  assert.is(r.maxBodySize, 1_572_864)
  assert.equal(r.tags, [
    'items',
    'item:{path.3}',
    'page:{query.page}',
    'f:{query.f_color}',
    '{path.1}/{path.2}',
  ])
  assert.is(r.tagsFromResponse, true)
  assert.equal(r.invalidateTags, [])
  assert.is(r.staleWhileRevalidate, 30_000)
  assert.is(r.staleIfError, 5_400_000)
  assert.match(r.version, /^[0-9a-f]{12}$/)
})

fields('a write rule: invalidate.tags as written, nothing to store', async () => {
  const r = get(await rulesOf('everything.yaml'), 'item-writes')
  assert.equal(r.methodList, ['PUT', 'PATCH', 'DELETE'])
  assert.equal(r.invalidateTags, ['items', 'item:{path.3}', 'q:{query.anything}'])
  assert.equal(r.tags, [])
  assert.is(r.tagsFromResponse, false)
  assert.is(r.ttl, -1, 'no ttl needed: only GET and HEAD responses are stored')
})

fields('stale windows in seconds, and 0 (off) spelled out', async () => {
  const r = get(await rulesOf('everything.yaml'), 'stale-seconds')
  assert.is(r.ttl, 10_000)
  assert.is(r.staleWhileRevalidate, 0)
  assert.is(r.staleIfError, 600_000)
  assert.equal(r.tags, ['q:{query.q}'])
})

fields('defaults of the language when a rule says nothing', async () => {
  const r = get(await rulesOf('everything.yaml'), 'minimal')
  assert.is(r.index, 1)
  assert.equal(r.match, ['/minimal'])
  assert.is(r.host, null)
  assert.is(r.methods, METHOD_BITS.GET! | METHOD_BITS.HEAD!)
  assert.equal(r.methodList, ['GET', 'HEAD'])
  assert.is(r.cache, true)
  assert.is(r.ttl, 60_000)
  assert.is(r.origin, 'respect')
  assert.equal(
    [...r.statuses],
    DEFAULT_STATUSES.map((s) => [s, -1]),
  )
  assert.equal([...r.statuses.keys()], [200, 203, 204, 300, 301, 308, 404, 410])
  assert.equal(r.key.query, { mode: 'all' })
  assert.equal(r.key.headers, [])
  assert.is(r.key.cookies, null)
  assert.is(r.key.host, true)
  assert.is(r.maxBodySize, DEFAULT_MAX_BODY_SIZE)
  assert.is(DEFAULT_MAX_BODY_SIZE, 1_048_576)
  assert.equal(r.tags, [])
  assert.is(r.tagsFromResponse, false)
  assert.equal(r.invalidateTags, [])
  assert.is(r.staleWhileRevalidate, 0)
  assert.is(r.staleIfError, 0)
})

fields('a bypass rule has no ttl (-1)', async () => {
  const r = get(await rulesOf('everything.yaml'), 'bypass')
  assert.is(r.cache, false)
  assert.is(r.ttl, -1)
})

fields('query none, statuses as a list, cookies [] (strip all)', async () => {
  const r = get(await rulesOf('everything.yaml'), 'query-none')
  assert.equal(r.key.query, { mode: 'none' })
  assert.equal(
    [...r.statuses],
    [
      [200, -1],
      [404, -1],
    ],
  )
  assert.equal(r.key.cookies, [])
  assert.is(r.ttl, 1000)
})

fields('query exclude: exact names in a Set, globs compiled, bracketed names stay literal', async () => {
  const r = get(await rulesOf('everything.yaml'), 'query-exclude')
  const q = r.key.query
  assert.is(q.mode, 'exclude')
  if (q.mode !== 'exclude') return
  assert.equal([...q.names].sort(), ['filter[color]', 'gclid'])
  assert.is(q.globs.length, 1)
  assert.ok(q.globs[0]!.test('utm_source'))
  assert.not.ok(q.globs[0]!.test('UTM_SOURCE'))
  assert.is(r.ttl, 250)
  assert.is(r.maxBodySize, 2048)
})

fields('rules are frozen', async () => {
  const r = get(await rulesOf('everything.yaml'), 'everything')
  assert.ok(Object.isFrozen(r))
  assert.ok(Object.isFrozen(r.key))
  assert.ok(Object.isFrozen(r.match))
  assert.ok(Object.isFrozen(r.key.headers))
  assert.ok(Object.isFrozen(r.pos))
  assert.ok(Object.isFrozen(r.tags))
  assert.ok(Object.isFrozen(r.invalidateTags))
  assert.throws(() => {
    ;(r as { ttl: number }).ttl = 1
  })
})

const defaults = suite('defaults')

defaults('every default field reaches a rule that does not set it', async () => {
  const r = get(await rulesOf('defaults.yaml'), 'inherits')
  assert.is(r.host, 'shop.example.com')
  assert.equal(r.methodList, ['GET'])
  assert.is(r.ttl, 300_000)
  assert.is(r.origin, 'override')
  assert.equal([...r.statuses], [[200, -1]])
  assert.equal(r.key.query, { mode: 'none' })
  assert.equal(r.key.headers, ['accept-language'])
  assert.is(r.key.cookies, null)
  assert.is(r.maxBodySize, 65_536)
  assert.equal(r.tags, ['shop', 'section:{path.1}'])
  assert.is(r.tagsFromResponse, true)
  assert.is(r.staleWhileRevalidate, 60_000)
  assert.is(r.staleIfError, 3_600_000)
})

defaults("a rule's own field wins over the default", async () => {
  const r = get(await rulesOf('defaults.yaml'), 'own-fields-win')
  assert.is(r.host, 'api.example.com')
  assert.equal(r.methodList, ['GET', 'HEAD'])
  assert.is(r.ttl, 10_000)
  assert.is(r.origin, 'respect')
  assert.equal([...r.statuses], [[200, 60_000]])
  assert.is(r.maxBodySize, 1024)
  assert.equal(r.tags, ['b'], "tags merge whole: no default tag joins the rule's own")
  assert.is(r.tagsFromResponse, false)
  assert.is(r.staleWhileRevalidate, 0, 'an explicit 0 turns a default window off')
  assert.is(r.staleIfError, 5_000)
})

defaults('tags: [] drops the default tags', async () => {
  const r = get(await rulesOf('defaults.yaml'), 'no-tags')
  assert.equal(r.tags, [])
  assert.is(r.tagsFromResponse, true)
  assert.is(r.staleIfError, 3_600_000)
})

defaults('invalidate merges as a whole value; write rules need no ttl', async () => {
  const rules = await rulesOf('writes.yaml')
  const inherits = get(rules, 'inherits-invalidate')
  assert.equal(inherits.methodList, ['POST', 'PUT', 'PATCH', 'DELETE'])
  assert.equal(inherits.invalidateTags, ['catalog'])
  assert.is(inherits.ttl, -1)
  assert.equal(get(rules, 'own-invalidate').invalidateTags, ['catalog', 'product:{path.3}'])
  const mixed = get(rules, 'read-and-write')
  assert.equal(mixed.methodList, ['GET', 'POST'])
  assert.equal(mixed.tags, ['cart:{path.3}'])
  assert.equal(mixed.invalidateTags, ['cart:{path.3}'])
  assert.is(mixed.ttl, 5_000)
})

defaults('key merges as a whole object: no default key field survives a rule key', async () => {
  const r = get(await rulesOf('defaults.yaml'), 'own-key')
  assert.equal(r.key.query, { mode: 'all' })
  assert.equal(r.key.headers, [])
  assert.equal(r.key.cookies, ['locale'])
  assert.is(r.ttl, 300_000)
})

defaults('cache: false still inherits the rest', async () => {
  const r = get(await rulesOf('defaults.yaml'), 'bypass-inherits')
  assert.is(r.cache, false)
  assert.is(r.host, 'shop.example.com')
  assert.is(r.ttl, 300_000)
})

const versions = suite('rule versions')

const pos = { file: 'x.yaml', line: 1, col: 1 }

versions('the version ignores index and pos, and changes with anything stored', () => {
  const base = { id: 'a', match: '/a', ttl: '1m' }
  const v = normalizeRule(base, 0, pos).version
  assert.is(normalizeRule(base, 7, { file: 'y.yaml', line: 9, col: 3 }).version, v)
  assert.is(normalizeRule({ ...base, ttl: 60 }, 0, pos).version, v, '1m and 60 mean the same')
  const variants = [
    { ...base, ttl: '2m' },
    { ...base, match: '/b' },
    { ...base, host: 'x.example' },
    { ...base, methods: ['GET'] },
    { ...base, cache: false },
    { ...base, origin: 'override' as const },
    { ...base, statuses: [200] },
    { ...base, key: { query: 'none' as const } },
    { ...base, key: { query: ['p'] } },
    { ...base, key: { query: ['p*'] } },
    { ...base, key: { query: { exclude: ['p'] } } },
    { ...base, key: { headers: ['accept'] } },
    { ...base, key: { cookies: [] } },
    { ...base, key: { host: false } },
    { ...base, maxBodySize: 10 },
    { ...base, id: 'b' },
    { ...base, tags: ['t'] },
    { ...base, tags: ['t', 'u'] },
    { ...base, tags: ['t:{path.1}'] },
    { ...base, tagsFromResponse: true },
    { ...base, invalidate: { tags: ['t'] } },
    { ...base, invalidate: { tags: ['u'] } },
    { ...base, staleWhileRevalidate: '30s' },
    { ...base, staleWhileRevalidate: '31s' },
    { ...base, staleIfError: '30s' },
    { ...base, contentTypes: ['text/html'] },
    { ...base, contentTypes: ['text/html', 'image/*'] },
  ]
  const seen = new Set([v])
  for (const raw of variants) {
    const w = normalizeRule(raw, 0, pos).version
    assert.not.ok(seen.has(w), `${JSON.stringify(raw)} should change the version`)
    seen.add(w)
  }
})

versions("the new fields' defaults are the version of a rule that does not write them", () => {
  const base = { id: 'a', match: '/a', ttl: '1m' }
  const v = normalizeRule(base, 0, pos).version
  for (const raw of [
    { ...base, tags: [] },
    { ...base, tagsFromResponse: false },
    { ...base, staleWhileRevalidate: 0 },
    { ...base, staleIfError: '0s' },
  ])
    assert.is(normalizeRule(raw, 0, pos).version, v, JSON.stringify(raw))
  // An entry stores one generation token per tag, in the rule's tag order, and a lookup compares
  // them in order: reordered tags must not meet entries stored under the old order.
  assert.is.not(
    normalizeRule({ ...base, tags: ['a', 'b'] }, 0, pos).version,
    normalizeRule({ ...base, tags: ['b', 'a'] }, 0, pos).version,
  )
})

versions(
  'contentTypes: absent keeps the version rules had before the field existed; case does not matter',
  () => {
    // the digest of this rule before contentTypes was added (main at e0acd5b): a deploy of the new
    // field must not turn every stored entry into a miss
    assert.is(normalizeRule({ id: 'r', match: '/r', ttl: 60 }, 0, pos).version, '4ef2d43569aa')
    const base = { id: 'a', match: '/a', ttl: '1m' }
    const r = normalizeRule({ ...base, contentTypes: ['Text/HTML', 'IMAGE/*'] }, 0, pos)
    assert.equal(r.contentTypes, ['text/html', 'image/*'])
    assert.is(r.version, normalizeRule({ ...base, contentTypes: ['text/html', 'image/*'] }, 0, pos).version)
    assert.is(normalizeRule(base, 0, pos).contentTypes, null)
  },
)

versions('statuses order does not change the version; header order does (it is the key order)', () => {
  const base = { id: 'a', match: '/a', ttl: '1m' }
  assert.is(
    normalizeRule({ ...base, statuses: [200, 404] }, 0, pos).version,
    normalizeRule({ ...base, statuses: [404, 200] }, 0, pos).version,
  )
  assert.is.not(
    normalizeRule({ ...base, key: { headers: ['a', 'b'] } }, 0, pos).version,
    normalizeRule({ ...base, key: { headers: ['b', 'a'] } }, 0, pos).version,
  )
})

/** The canonical text as it was first written (JSON.stringify of the content, fields dropped or
 *  replaced): normalize.ts now writes it out field by field, and must give the same text. */
function referenceVersion(r: Rule): string {
  const same = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && a.every((x, i) => x === b[i])
  const { index: _i, pos: _p, version: _v, ...content } = r
  const q = r.key.query
  return digest(
    JSON.stringify({
      ...content,
      methodList: undefined,
      targeted: same(r.targeted, DEFAULT_TARGETED) ? undefined : r.targeted,
      contentTypes: r.contentTypes ?? undefined,
      staleIfUnreachable: r.staleIfUnreachable === 0 ? undefined : r.staleIfUnreachable,
      otherStatuses: r.otherStatuses ? true : undefined,
      maxVariants: r.maxVariants === DEFAULT_MAX_VARIANTS ? undefined : r.maxVariants,
      rangeMiss: r.rangeMiss ? true : undefined,
      maxEntriesPerMinute: r.maxEntriesPerMinute === 0 ? undefined : r.maxEntriesPerMinute,
      heuristic: r.heuristic === 0 ? undefined : r.heuristic,
      heuristicMax: r.heuristic === 0 ? undefined : r.heuristicMax,
      statuses: [...r.statuses].sort((a, b) => a[0] - b[0]),
      key: {
        ...r.key,
        normalize: r.key.normalize.length === 0 ? undefined : r.key.normalize,
        varyUnordered: r.key.varyUnordered.length === 0 ? undefined : r.key.varyUnordered,
        query:
          q.mode === 'all' || q.mode === 'none'
            ? q.mode
            : { mode: q.mode, names: [...q.names].sort(), globs: q.globs.map((g) => g.source) },
      },
    }),
  )
}

versions('the version is the digest of the content as JSON.stringify wrote it, for every field', () => {
  const raws: RawRule[] = [
    { id: 'a', match: '/a', ttl: 60 },
    {
      id: 'b"\\',
      match: ['/b/*', '/{x,y}/**'],
      host: '*.Example.com',
      methods: ['PUT', 'GET'],
      cache: false,
    },
    {
      id: 'c',
      match: '/c',
      ttl: '90m',
      origin: 'override',
      statuses: { 404: '30s', 200: '5m' },
      key: {
        query: { exclude: ['utm_*', 'fbclid'] },
        headers: ['Accept-Language'],
        cookies: ['locale'],
        host: false,
        normalize: { 'accept-encoding': ['br', 'GZIP'] },
        varyUnordered: ['B', 'a'],
      },
      tags: ['p:{path.1}', 'all'],
      tagsFromResponse: true,
      staleWhileRevalidate: '1m',
      staleIfError: 30,
      staleIfUnreachable: '2m',
      otherStatuses: 'explicit',
      maxVariants: 8,
      rangeMiss: 'fetch',
      maxEntriesPerMinute: 100,
      heuristic: '12.5%',
      heuristicMax: '2h',
      maxBodySize: '2mb',
      targeted: ['Surrogate-Control'],
      contentTypes: ['Text/HTML', 'image/*'],
    },
    {
      id: 'd',
      match: '/d',
      ttl: 0,
      statuses: [200, 301],
      key: { query: ['b', 'a*'] },
      invalidate: { tags: ['x'] },
    },
    {
      id: 'e',
      match: '/e',
      ttl: 1,
      key: { query: 'none' },
      heuristic: '0%',
      targeted: [...DEFAULT_TARGETED],
    },
  ]
  for (const raw of raws) {
    const r = normalizeRule(raw, 0, pos)
    assert.is(r.version, referenceVersion(r), raw.id)
  }
})

fields.run()
defaults.run()
versions.run()
