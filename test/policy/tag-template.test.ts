import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  compileTag,
  parseTagTemplate,
  pathSegments,
  type TagPart,
  tagQueryNames,
} from '../../src/policy/tag-template.js'

const parse = suite('tag template syntax')

parse('literals and placeholders split into parts', () => {
  const cases: [string, TagPart[]][] = [
    ['products', ['products']],
    ['product:{path.3}', ['product:', { path: 3 }]],
    ['{path.1}', [{ path: 1 }]],
    ['{path.12}/{path.2}', [{ path: 12 }, '/', { path: 2 }]],
    ['search:{query.q}:p{query.page}', ['search:', { query: 'q' }, ':p', { query: 'page' }]],
    ['f:{query.filter[color]}', ['f:', { query: 'filter[color]' }]],
    ['a b:c', ['a b:c']],
  ]
  for (const [t, parts] of cases) assert.equal(parseTagTemplate(t), { ok: true, parts }, t)
})

parse('anything else with a brace is refused, naming the problem', () => {
  const help = 'expected {path.N} with N from 1, or {query.NAME}'
  const cases: [string, string][] = [
    ['{path}', `unknown placeholder "{path}" in "{path}": ${help}`],
    ['p:{path.0}', `unknown placeholder "{path.0}" in "p:{path.0}": ${help}`],
    ['p:{path.01}', `unknown placeholder "{path.01}" in "p:{path.01}": ${help}`],
    ['p:{path.-1}', `unknown placeholder "{path.-1}" in "p:{path.-1}": ${help}`],
    ['p:{path.x}', `unknown placeholder "{path.x}" in "p:{path.x}": ${help}`],
    ['{foo.x}', `unknown placeholder "{foo.x}" in "{foo.x}": ${help}`],
    ['{query.}', `unknown placeholder "{query.}" in "{query.}": ${help}`],
    ['{query}', `unknown placeholder "{query}" in "{query}": ${help}`],
    ['{}', `unknown placeholder "{}" in "{}": ${help}`],
    ['{Path.1}', `unknown placeholder "{Path.1}" in "{Path.1}": ${help}`],
    ['p:{path.3', `unbalanced "{" in "p:{path.3": ${help}; braces cannot appear outside placeholders`],
    ['a{b{path.1}', `unbalanced "{" in "a{b{path.1}": ${help}; braces cannot appear outside placeholders`],
    ['{{path.1}}', `unbalanced "{" in "{{path.1}}": ${help}; braces cannot appear outside placeholders`],
    ['p:path.3}', `unbalanced "}" in "p:path.3}": ${help}; braces cannot appear outside placeholders`],
    ['{path.1}}', `unbalanced "}" in "{path.1}}": ${help}; braces cannot appear outside placeholders`],
  ]
  for (const [t, problem] of cases) assert.equal(parseTagTemplate(t), { ok: false, problem }, t)
})

parse('the query names a template reads', () => {
  const r = parseTagTemplate('{query.a}:{path.2}:{query.b}:{query.a}')
  assert.ok(r.ok)
  if (r.ok) assert.equal(tagQueryNames(r.parts), ['a', 'b', 'a'])
  const lit = parseTagTemplate('products')
  if (lit.ok) assert.equal(tagQueryNames(lit.parts), [])
})

// What the loader accepts, the request path (compileTag) must read the same way: every
// placeholder replaced, every literal kept, no brace left over.
const agree = suite('the loader and compileTag agree')

function resolve(
  parts: readonly TagPart[],
  segments: readonly string[],
  query: readonly [string, string][],
): string {
  return parts
    .map((p) =>
      typeof p === 'string'
        ? p
        : 'path' in p
          ? (segments[p.path] ?? '')
          : (query.find(([n]) => n === p.query)?.[1] ?? ''),
    )
    .join('')
}

agree('every accepted template resolves identically', () => {
  const segments = pathSegments('/api/products/42/reviews')
  const query: [string, string][] = [
    ['q', 'shoes'],
    ['page', '2'],
    ['q', 'boots'],
    ['filter[color]', 'red'],
  ]
  const templates = [
    'products',
    'product:{path.3}',
    '{path.1}-{path.2}-{path.3}-{path.4}',
    'beyond:{path.9}',
    'search:{query.q}',
    'p{query.page}/{query.missing}',
    'f:{query.filter[color]}',
    'a b:c',
    '{path.3}{query.q}',
  ]
  for (const t of templates) {
    const parsed = parseTagTemplate(t)
    assert.ok(parsed.ok, t)
    if (!parsed.ok) continue
    const tag = compileTag(t)(segments, query)
    assert.is(tag, resolve(parsed.parts, segments, query), t)
    assert.not.match(tag, /[{}]/, t)
  }
  assert.is(compileTag('product:{path.3}')(segments, query), 'product:42')
  assert.is(
    compileTag('search:{query.q}')(segments, query),
    'search:shoes',
    'the first value, as ctx.query gives',
  )
  assert.is(compileTag('beyond:{path.9}')(segments, query), 'beyond:', 'a missing segment reads as empty')
})

parse.run()
agree.run()
