/**
 * quick-yaml (src/policy/quick-yaml.ts) against the `yaml` parser: whenever the quick reader
 * accepts a text, yaml must read it without an error or a warning, to the same data, with the
 * same line starts, and every position a diagnostic can ask for (posAt on every key and value
 * node, plus paths that run past the document) must be the same. Checked on every policy file in
 * the repository and on a seeded fuzz of generated files, plain and mutated.
 * Reproduce a failure with CACHET_FUZZ_SEED=<seed printed in the message>.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml'
import { quickYaml } from '../../src/policy/quick-yaml.js'
import { type ParsedFile, type PathSegment, posAt } from '../../src/policy/source.js'
import { Gen } from '../matcher/random.js'

const SEED = Number(process.env.CACHET_FUZZ_SEED ?? 20261203)
const root = join(import.meta.dirname, '../..')

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) yamlFiles(full, out)
    else if (/\.ya?ml$/.test(name)) out.push(full)
  }
  return out
}

/** every path to a node of yaml's tree, plus one step past each (a missing field, an index) */
function paths(node: Node | null | undefined, base: PathSegment[], out: PathSegment[][]): PathSegment[][] {
  out.push(base)
  if (isMap(node)) {
    for (const p of node.items) {
      const k = String(isScalar(p.key) ? p.key.value : p.key)
      paths(p.value as Node | null, [...base, k], out)
    }
    out.push([...base, 'no-such-field'], [...base, 'no-such-field', 'deeper'])
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      paths(item as Node, [...base, String(i)], out)
    })
    out.push([...base, String(node.items.length)], [...base, 'x'])
  } else out.push([...base, '0'], [...base, 'field'])
  return out
}

/** undefined when quick-yaml gave up; otherwise a description of the first disagreement, or '' */
function compare(src: string): string | undefined {
  const q = quickYaml(src)
  if (q === undefined) return undefined
  const lineCounter = new LineCounter()
  const doc = parseDocument(src, { lineCounter, uniqueKeys: true, prettyErrors: false, logLevel: 'error' })
  if (doc.errors.length > 0 || doc.warnings.length > 0)
    return `yaml reports ${[...doc.errors, ...doc.warnings].map((e) => e.code).join(', ')}`
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 16 })
  } catch (err) {
    return `yaml toJS throws ${(err as Error).message}`
  }
  if (JSON.stringify(q.data) !== JSON.stringify(data))
    return `data: quick ${JSON.stringify(q.data)}, yaml ${JSON.stringify(data)}`
  const quickLines = new LineCounter()
  for (const o of q.lineStarts) quickLines.addNewLine(o)
  const viaYaml: ParsedFile = { file: 'f.yaml', doc, lineCounter, data }
  const viaQuick: ParsedFile = {
    file: 'f.yaml',
    doc: undefined,
    quick: q.root,
    lineCounter: quickLines,
    data,
  }
  for (const p of paths(doc.contents, [], [])) {
    for (const at of ['value', 'key'] as const) {
      const a = posAt(viaQuick, p, at)
      const b = posAt(viaYaml, p, at)
      if (a.line !== b.line || a.col !== b.col)
        return `posAt(${JSON.stringify(p)}, ${at}): quick ${a.line}:${a.col}, yaml ${b.line}:${b.col}`
    }
  }
  return ''
}

const s = suite('quick-yaml reads what yaml reads, or gives up')

s(
  'every policy file in the repository: same data and positions; the example policies are read quickly',
  () => {
    const files = [...yamlFiles(join(root, 'policies')), ...yamlFiles(join(root, 'test/fixtures/policies'))]
    assert.ok(files.length > 20)
    let accepted = 0
    for (const f of files) {
      const diff = compare(readFileSync(f, 'utf8'))
      if (diff === undefined) continue
      accepted++
      assert.is(diff, '', f)
    }
    // the shipped examples are the subset's reason to exist: a regression here is a slow load
    for (const f of readdirSync(join(root, 'policies')).filter((n) => /^\d.*[^t]\.yaml$/.test(n)))
      assert.ok(
        quickYaml(readFileSync(join(root, 'policies', f), 'utf8')) !== undefined,
        `${f} is read quickly`,
      )
    assert.ok(accepted >= 15, `quick-yaml read ${accepted} of ${files.length} files`)
  },
)

const WORDS = ['id', 'match', 'ttl', 'key', 'query', 'tags', 'host', 'a', 'b_c', 'x-y', '200', '404', '0']
/** scalars in the subset, then scalars quick-yaml gives up on or that type differently */
const SCALARS = [
  '/api/*',
  '"/{a,b}/**"',
  "'it''s'",
  "'**/*.x1'",
  '1m',
  '30',
  '+7',
  '007',
  '1.5',
  '.5',
  '1e3',
  '.inf',
  '.NaN',
  'true',
  'False',
  'null',
  '~',
  'NULL',
  'yes',
  'a b',
  'a#b',
  'a # comment',
  'x:y',
  '"a: b"',
  'é/ü',
  '/a:b',
  'a, b',
]
const ODD = [
  '-5',
  '-',
  '-x',
  '0x1F',
  '0o17',
  '"say \\"hi\\""',
  '"tab\\t"',
  '*.example.com',
  '&anchor x',
  '!tag x',
  '|',
  '>',
  '@x',
  '`x',
  '%x',
  '',
]

function flow(g: Gen, depth: number): string {
  if (depth > 2 || g.int(3) !== 0) {
    const v = g.int(12) === 0 ? g.pick(ODD) : g.pick(SCALARS)
    return /[,:#[\]{}]/.test(v) && !v.startsWith('"') && !v.startsWith("'") ? JSON.stringify(v) : v
  }
  const n = g.int(4)
  if (g.int(2) === 0)
    return `[${Array.from({ length: n }, () => flow(g, depth + 1)).join(g.pick([', ', ',', ' , ']))}]`
  return `{${n === 0 ? '' : ' '}${Array.from({ length: n }, (_, k) => `${WORDS[k]}: ${flow(g, depth + 1)}`).join(', ')}${n === 0 ? '' : ' '}}`
}

/** a block node at `indent`, as policy files are written (with comments and blank lines) */
function block(g: Gen, indent: number, depth: number, lines: string[], asSeq: boolean): void {
  const pad = ' '.repeat(indent)
  const n = 1 + g.int(4)
  for (let i = 0; i < n; i++) {
    if (g.int(6) === 0) lines.push(g.pick(['', `${pad}# note`, '#', '   ', `${' '.repeat(g.int(9))}# x: y`]))
    const lead = asSeq ? `${pad}- ` : pad
    // a duplicate key now and then (yaml refuses it, quick-yaml gives up)
    const key = g.int(40) === 0 ? WORDS[0]! : WORDS[asSeq ? g.int(WORDS.length) : (i + depth) % WORDS.length]!
    const inner = asSeq ? indent + 2 : indent
    const kind = depth >= 3 ? g.int(2) : g.int(4)
    if (asSeq && g.int(3) === 0) {
      lines.push(`${lead}${flow(g, 0)}${g.int(5) === 0 ? '  # c' : ''}`)
      continue
    }
    if (kind === 0) lines.push(`${lead}${key}: ${flow(g, 0)}${g.int(5) === 0 ? ' # c' : ''}`)
    else if (kind === 1) lines.push(`${lead}${key}:${g.int(4) === 0 ? ' # empty' : ''}`)
    else {
      lines.push(`${lead}${key}:`)
      // a map two deeper, a sequence two deeper, or a sequence at the key's own indent
      const k = g.int(3)
      block(g, k === 0 ? inner : inner + 2, depth + 1, lines, k !== 2)
    }
    // a second key in a sequence item's map
    if (asSeq && g.int(2) === 0) lines.push(`${' '.repeat(inner)}${key}z: ${flow(g, 1)}`)
  }
}

function generate(g: Gen): string {
  const lines: string[] = []
  if (g.int(3) === 0) lines.push('# a policy', '')
  block(g, 0, 0, lines, false)
  return lines.join('\n') + (g.int(4) === 0 ? '' : '\n')
}

function mutate(g: Gen, src: string): string {
  const at = g.int(src.length + 1)
  switch (g.int(4)) {
    case 0:
      return (
        src.slice(0, at) +
        g.pick([' ', '\t', '\r', ':', '#', '-', '"', "'", '[', '{', ',', '\n', '*', '&', '\\']) +
        src.slice(at)
      )
    case 1:
      return src.slice(0, at) + src.slice(at + 1 + g.int(3))
    case 2: {
      const j = g.int(src.length + 1)
      return src.slice(0, at) + src.slice(j, j + 1 + g.int(8)) + src.slice(at)
    }
    default:
      return `${src.slice(0, at)}\n${' '.repeat(g.int(6))}${src.slice(at)}`
  }
}

s(
  'a seeded fuzz of generated and mutated files: same data and positions whenever quick-yaml reads one',
  () => {
    let accepted = 0
    let mutatedAccepted = 0
    const total = 3000
    for (let i = 0; i < total; i++) {
      const seed = SEED + i
      const g = new Gen(seed)
      let src = generate(g)
      if (i % 2 === 1) for (let m = 1 + g.int(3); m > 0; m--) src = mutate(g, src)
      const diff = compare(src)
      if (diff === undefined) continue
      accepted++
      if (i % 2 === 1) mutatedAccepted++
      if (diff !== '') assert.unreachable(`seed ${seed}: ${diff}\n${src}`)
    }
    // the generator writes mostly the subset: the fuzz must exercise the quick path, not only its refusals
    assert.ok(accepted > total / 5, `quick-yaml read ${accepted} of ${total}`)
    assert.ok(mutatedAccepted > total / 50, `quick-yaml read ${mutatedAccepted} mutated files`)
  },
)

s('hand-picked scalars and layouts: read as yaml reads them, or given up', () => {
  for (const src of [
    'a: x:y',
    'a: /a:b',
    'a: a, b',
    "a: 'x' # c",
    'a: "x"y',
    'a: b #c',
    'a: b#c',
    'a: ~',
    'a: 1.0',
    'a: 1e3',
    'a: .5',
    'a: 00',
    'a: 1_000',
    'a: +.5',
    'a: 1.',
    'a: -.5e+3',
    'a: x?',
    'a: x%',
    'a: é',
    'a: b  ',
    'a:  b',
    'a: [a b, c]',
    'a: [x, {b: 1}]',
    'a: {b: [1, 2], c: d}',
    'a: [ ]',
    'a: { }',
    'a:\n  - x\n  -  y',
    'a:\n- x\nb: 1',
    'a: x\n\n\nb: y\n',
    '200: x',
    '0200: x',
    'a: "é\'"',
    "a: 'x''y'''",
    'a: ""',
    "a: ''",
    'a: [""]',
    "a: ['']",
    'a: x\n# c\n  # d\nb: 1',
    'a:\n  b:\n    c: 1\n  d: 2',
    'a: [a, b]   # c',
    'a: Yes',
    'a: 0o7',
    'a: 1e',
    'a: 0.0.1',
    'a: 9007199254740993',
    'a: 1.5e400',
    'a: -0',
    'a: [-1]',
    'a: [+1]',
    'a: b\n  # c\nd: e',
  ]) {
    const text = src.endsWith('\n') ? src : `${src}\n`
    const diff = compare(text)
    assert.ok(diff === undefined || diff === '', `${JSON.stringify(src)}: ${diff}`)
  }
})

s('what it gives up on goes to yaml (undefined), never a guess', () => {
  for (const src of [
    'a: &x 1\nb: *x\n',
    'a: !!str 1\n',
    'a: |\n  text\n',
    'a: "esc\\n"\n',
    'a: b\n  c\n',
    'a: 1\na: 2\n',
    '"a": 1\n',
    'a:\tb\n',
    'a: b\r\n',
    '---\na: 1\n',
    'a: [1,\n  2]\n',
    '- a\n',
    '',
    '# only a comment\n',
    'a: 0x10\n',
    'null: 1\n',
    '__proto__: 1\n',
    `a: ${'['.repeat(100)}${']'.repeat(100)}\n`,
  ])
    assert.is(quickYaml(src), undefined, JSON.stringify(src))
})

s.run()
