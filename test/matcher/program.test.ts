/**
 * The packed index decides most candidates with a variant's program (src/matcher/program.ts), a
 * restatement of the Glob's own shapes. Here every program kind is held to the Glob's answer on
 * random globs and paths, one rule at a time (so no other rule can hide a wrong answer), and the
 * generator is checked to produce every kind often enough for that to mean something.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileMatcher } from '../../src/matcher/compile.js'
import { compileGlob } from '../../src/matcher/glob.js'
import {
  anchorOf,
  PROGRAM_ALL,
  PROGRAM_DEEP,
  PROGRAM_GLOB,
  PROGRAM_LEAF,
  PROGRAM_LITERAL,
  PROGRAM_STAR,
  PROGRAM_TREE,
  programOf,
  simpleIndexing,
} from '../../src/matcher/program.js'
import { Gen, randomGlob, randomPath } from './random.js'
import { makeRules } from './rules.js'

const SEED = Number(process.env.CACHET_MATCHER_SEED ?? 20240611)
const NAMES: Record<number, string> = {
  [PROGRAM_LITERAL]: 'literal',
  [PROGRAM_TREE]: 'tree',
  [PROGRAM_STAR]: 'star',
  [PROGRAM_LEAF]: 'leaf',
  [PROGRAM_DEEP]: 'deep',
  [PROGRAM_ALL]: 'all',
  [PROGRAM_GLOB]: 'glob',
}

const s = suite('matcher programs')

s('every program kind answers as its Glob does, on random globs and paths', () => {
  const kinds: Record<string, number> = {}
  const g = new Gen(SEED + 77)
  let checked = 0
  for (let k = 0; k < 4000; k++) {
    const source = randomGlob(g)
    let glob: ReturnType<typeof compileGlob>
    try {
      glob = compileGlob(source)
    } catch {
      continue
    }
    for (const v of glob.variants) {
      const name = NAMES[programOf(v).kind]!
      kinds[name] = (kinds[name] ?? 0) + 1
    }
    const m = compileMatcher(makeRules([{ match: source, methods: ['GET'] }]))
    for (let q = 0; q < 30; q++) {
      const path = q % 3 === 0 ? randomPath(g, []) : randomPath(g, [source])
      const want = glob.test(path)
      assert.is(
        m.match(1, '', path) !== undefined,
        want,
        `${JSON.stringify(source)} on ${JSON.stringify(path)}`,
      )
      checked++
    }
  }
  assert.ok(checked > 50_000, `checked ${checked}`)
  for (const name of Object.values(NAMES))
    assert.ok((kinds[name] ?? 0) >= 25, `kind ${name}: ${JSON.stringify(kinds)}`)
})

s('shapes at their edges: trailing slash, empty segments, upper case, the bare folder', () => {
  const cases: [string, string, boolean][] = [
    ['/a/*.json', '/a/x.json', true],
    ['/a/*.json', '/a/x.json/', true],
    ['/a/*.json', '/a/.json', true],
    ['/a/*.json', '/a/x.json//', false],
    ['/a/*.json', '/a/b/x.json', false],
    ['/a/v?', '/a/V1', true],
    ['/a/v?', '/a/v', false],
    ['/a/**/x', '/a/x', true],
    ['/a/**/x', '/a/b/c/X/', true],
    ['/a/**/x', '/ab/x', false],
    ['/a/**/x', '/a', false],
    ['/**/*.css', '/x.css', true],
    ['/**/*.css', '/a/b/x.CSS/', true],
    ['**/*.css', 'x.css', true],
    ['/**', '', true],
    ['/**', 'x', false],
    ['**', 'x', true],
    ['/a/**', '/a', true],
    ['/a/**', '/ab', false],
    ['/a/*', '/a/', false],
    ['/a/*', '/a/b/', true],
    ['/a', '/A/', true],
    ['/a', '/a//', false],
  ]
  for (const [glob, path, want] of cases) {
    assert.is(compileGlob(glob).test(path), want, `glob ${glob} on ${path}`)
    const m = compileMatcher(makeRules([{ match: glob, methods: ['GET'] }]))
    assert.is(m.match(1, '', path) !== undefined, want, `matcher ${glob} on ${path}`)
  }
})

s('a plain glob read from its text indexes as its compiled Glob does', () => {
  const g = new Gen(SEED + 91)
  const words = [
    'a',
    'B',
    'api',
    'x.css',
    'item-7',
    '',
    '*',
    '**',
    '***',
    '*.js',
    'a*b',
    'v*',
    '.',
    '..',
    '...',
    'é',
  ]
  let simple = 0
  for (let k = 0; k < 20000; k++) {
    const n = 1 + g.int(5)
    const parts = Array.from({ length: n }, () => g.pick(words))
    const source = (g.chance(0.85) ? '/' : '') + parts.join('/')
    const got = simpleIndexing(source)
    let glob: ReturnType<typeof compileGlob>
    try {
      glob = compileGlob(source)
    } catch {
      assert.is(got, undefined, `${source}: invalid, but read as plain`)
      continue
    }
    if (got === undefined) continue
    simple++
    assert.is(glob.variants.length, 1, source)
    const v = glob.variants[0]!
    assert.equal(got, { program: programOf(v), anchor: anchorOf(v), literal: v.literal }, source)
  }
  assert.ok(simple > 5000, `plain globs ${simple}`)
})

s.run()
