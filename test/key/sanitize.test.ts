/**
 * key/sanitize.ts: what the application may see (unkeyed query parameters and cookies removed)
 * and the path as globs see it (null when a cache and an origin could read it differently).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { filterCookies, filterQuery, matchPath } from '../../src/key/sanitize.js'
import { queryKey } from '../../src/policy/normalize.js'

const ALL = queryKey('all')
const NONE = queryKey('none')
const INCLUDE = queryKey(['page', 'sort', 'f_*'])
const EXCLUDE = queryKey({ exclude: ['utm_*', 'fbclid'] })

const q = suite('filterQuery')

q('an empty query string: nothing kept, nothing to change', () => {
  for (const key of [ALL, NONE, INCLUDE, EXCLUDE]) {
    assert.equal(filterQuery(key, ''), { querystring: '', kept: [] })
  }
})

q('all: every pair, decoded as URLSearchParams does; the raw string untouched', () => {
  assert.equal(filterQuery(ALL, 'b=%7E&a=1+2&a=3&flag'), {
    querystring: 'b=%7E&a=1+2&a=3&flag',
    kept: [
      ['b', '~'],
      ['a', '1 2'],
      ['a', '3'],
      ['flag', ''],
    ],
  })
})

q('none: everything removed', () => {
  assert.equal(filterQuery(NONE, 'a=1&b=2'), { querystring: '', kept: [] })
})

q('include: named and glob-matched names are kept, the rest removed', () => {
  assert.equal(filterQuery(INCLUDE, 'page=2&utm_source=x&sort=a&f_color=red'), {
    querystring: 'page=2&sort=a&f_color=red',
    kept: [
      ['page', '2'],
      ['sort', 'a'],
      ['f_color', 'red'],
    ],
  })
})

q('include: when nothing is removed the raw string is kept exactly', () => {
  assert.equal(filterQuery(INCLUDE, 'page=%32&sort=a%20b'), {
    querystring: 'page=%32&sort=a%20b',
    kept: [
      ['page', '2'],
      ['sort', 'a b'],
    ],
  })
})

q('include: when something is removed the rest is re-encoded by URLSearchParams', () => {
  assert.equal(filterQuery(INCLUDE, 'page=a%20b&x=1&sort=%7E'), {
    querystring: 'page=a+b&sort=%7E',
    kept: [
      ['page', 'a b'],
      ['sort', '~'],
    ],
  })
})

q('include: names are case-sensitive, globs too', () => {
  assert.equal(filterQuery(INCLUDE, 'Page=1&F_color=red&page=2'), {
    querystring: 'page=2',
    kept: [['page', '2']],
  })
})

q('include: a repeated name keeps every occurrence, in order', () => {
  assert.equal(filterQuery(INCLUDE, 'page=2&x=0&page=1').kept, [
    ['page', '2'],
    ['page', '1'],
  ])
})

q('exclude: the named and glob-matched names are removed, the rest kept', () => {
  assert.equal(filterQuery(EXCLUDE, 'utm_source=a&q=shoes&fbclid=z&utm_medium=b&page=3'), {
    querystring: 'q=shoes&page=3',
    kept: [
      ['q', 'shoes'],
      ['page', '3'],
    ],
  })
})

q('a name decoded from its encoding is the name that is keyed (%75tm_x is utm_x)', () => {
  assert.equal(filterQuery(EXCLUDE, '%75tm_x=1&q=a'), { querystring: 'q=a', kept: [['q', 'a']] })
})

q('only unkeyed parameters: the query string becomes empty', () => {
  assert.equal(filterQuery(INCLUDE, 'utm_source=x'), { querystring: '', kept: [] })
})

q.run()

const c = suite('filterCookies')

c('no names (cookies: []), or no Cookie header: the header goes', () => {
  assert.equal(filterCookies([], 'a=1; b=2'), { header: null, kept: [] })
  assert.equal(filterCookies(['a'], ''), { header: null, kept: [] })
})

c('only the named cookies are kept, in request order', () => {
  assert.equal(filterCookies(['theme', 'locale'], 'sid=secret; locale=fr; theme=dark'), {
    header: 'locale=fr; theme=dark',
    kept: [
      ['locale', 'fr'],
      ['theme', 'dark'],
    ],
  })
})

c('none of the named cookies present: the header goes', () => {
  assert.equal(filterCookies(['locale'], 'sid=secret'), { header: null, kept: [] })
})

c('a cookie named twice keeps both occurrences, both keyed', () => {
  assert.equal(filterCookies(['locale'], 'locale=fr; sid=1; locale=en'), {
    header: 'locale=fr; locale=en',
    kept: [
      ['locale', 'fr'],
      ['locale', 'en'],
    ],
  })
})

c('whitespace around names and values is trimmed; the header is rebuilt with "; "', () => {
  assert.equal(filterCookies(['a', 'b'], '  a = 1 ;b=2;;'), {
    header: 'a=1; b=2',
    kept: [
      ['a', '1'],
      ['b', '2'],
    ],
  })
})

c('names are case-sensitive; a value keeps its "="; a bare name has an empty value', () => {
  assert.equal(filterCookies(['a', 'flag'], 'A=1; a=x=y; flag'), {
    header: 'a=x=y; flag=',
    kept: [
      ['a', 'x=y'],
      ['flag', ''],
    ],
  })
})

c.run()

const p = suite('matchPath')

p('an ordinary path is returned as is (the same string)', () => {
  for (const path of ['/', '/a', '/a/b/', '/a/.well-known', '/a/..b', '/a/b.', '/a/b..', '/a-b_c~d', '/é']) {
    assert.is(matchPath(path), path)
  }
})

p('ambiguous paths are never matched: ; \\ control characters', () => {
  for (const path of ['/a;b', '/a;', '/a\\b', '/a\u0000', '/a\u001f', '/a\u007f', '/a\tb', '/a\r\nb']) {
    assert.is(matchPath(path), null, JSON.stringify(path))
  }
})

p('empty and dot segments are never matched', () => {
  for (const path of ['//a', '/a//b', '/a//', '/.', '/./a', '/a/.', '/a/./b', '/..', '/a/..', '/a/../b']) {
    assert.is(matchPath(path), null, path)
  }
})

p('encoded delimiters and controls are never matched, whatever the case', () => {
  const encoded = ['2f', '2F', '5c', '5C', '3f', '3F', '23', '3b', '3B', '25', '00', '0a', '1f', '7f', '7F']
  for (const e of encoded) {
    assert.is(matchPath(`/a%${e}b`), null, `%${e}`)
  }
})

p('malformed percent-encoding is never matched', () => {
  for (const path of ['/a%zz', '/a%', '/a%4', '/a%e0%a4']) assert.is(matchPath(path), null, path)
})

p('percent-encoded ordinary characters are decoded', () => {
  assert.is(matchPath('/%61ccount'), '/account')
  assert.is(matchPath('/products/%34%32'), '/products/42')
  assert.is(matchPath('/caf%C3%A9'), '/café')
  assert.is(matchPath('/a%20b'), '/a b')
})

p('a dot segment that only appears once decoded is never matched', () => {
  assert.is(matchPath('/a/%2e%2e/b'), null)
  assert.is(matchPath('/a/%2E/b'), null)
  assert.is(matchPath('/a/.%2e'), null)
})

p.run()
