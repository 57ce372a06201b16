/**
 * Seeded fuzz test of the loader (issue 12, "what it must show"): thousands of policy files made
 * by mutating valid ones, at the byte level (insert, delete, flip, splice) and at the value level
 * (a field given a hostile value: brace bombs, unclosed classes, huge numbers, wrong types, odd
 * tag templates, deep nesting). For every file, loadPolicies must resolve (never throw), and its
 * answer must be well formed: ok with rules, or errors that each name a file and a line:col >= 1;
 * createCache must agree (resolve when ok, reject with a PolicyError when not).
 * Reproduce a failure with CACHET_FUZZ_SEED=<seed printed in the message>.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { PolicyError } from '../../src/errors.js'
import { loadPolicies } from '../../src/policy/load.js'
import { Gen } from '../matcher/random.js'

const SEED = Number(process.env.CACHET_FUZZ_SEED ?? 20261203)
const FILES = 2500
const CREATE_EVERY = 25

const BASES = ['everything.yaml', 'defaults.yaml', 'writes.yaml'].map((f) =>
  readFileSync(join(import.meta.dirname, '../fixtures/policies/valid', f), 'utf8'),
)

const HOSTILE = [
  `"/${'{a,b}'.repeat(25)}"`,
  '"/a/[b"',
  '"/!(a*a*a*a*b)"',
  `"/**${'//**'.repeat(26)}"`,
  '"/a|/b"',
  '"+(x)"',
  '"/{1..100000}"',
  `"/${'{'.repeat(40)}x${'}'.repeat(40)}"`,
  '"q[*"',
  '"{path.99}"',
  '"{query.}"',
  '"{"',
  '1e400',
  '-1',
  '0',
  '99999999999999999999d',
  '"1.5.5mb"',
  'null',
  '~',
  '[]',
  '{}',
  '[[[[[[[[[[]]]]]]]]]]',
  '{ a: { b: { c: { d: {} } } } }',
  '"\\u0000"',
  `"${'x'.repeat(5000)}"`,
  'true',
  '*anchor',
  '&a [*a, *a]',
  '"é/ü/\u212a"',
  '"**/*.css"',
  '"*.css"',
]

function mutate(g: Gen, text: string): string {
  const n = 1 + g.int(4)
  for (let k = 0; k < n; k++) {
    const at = g.int(text.length + 1)
    switch (g.int(7)) {
      case 0: // delete a run
        text = text.slice(0, at) + text.slice(at + 1 + g.int(12))
        break
      case 1: // insert a syntax character
        text =
          text.slice(0, at) +
          g.pick([':', '-', '[', ']', '{', '}', '"', "'", '#', '\n', '  ', '\t', '*', '&', '!', '|', '>']) +
          text.slice(at)
        break
      case 2: // duplicate a line elsewhere
      case 3: {
        const lines = text.split('\n')
        const line = g.pick(lines)
        lines.splice(g.int(lines.length + 1), 0, line)
        text = lines.join('\n')
        break
      }
      default: {
        // replace a value after `key: ` with a hostile one
        const lines = text.split('\n')
        const i = g.int(lines.length)
        const m = /^(\s*-?\s*[\w.]+:\s)(.*)$/.exec(lines[i]!)
        if (m) lines[i] = m[1] + g.pick(HOSTILE)
        text = lines.join('\n')
      }
    }
  }
  return text
}

const s = suite('loader fuzz')
let dir = ''
s.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cachet-fuzz-'))
})
s.after(() => rmSync(dir, { recursive: true, force: true }))

s(`${FILES} mutated files: loadPolicies never throws, every error has file:line:col`, async () => {
  let ok = 0
  let refused = 0
  for (let k = 0; k < FILES; k++) {
    const seed = SEED + k
    const g = new Gen(seed)
    const text = mutate(g, g.pick(BASES))
    const file = join(dir, 'policy.yaml')
    writeFileSync(file, text)
    const where = `seed ${seed}:\n${text}`
    let r: Awaited<ReturnType<typeof loadPolicies>>
    try {
      r = await loadPolicies(dir)
    } catch (err) {
      assert.unreachable(`${where}\nloadPolicies threw: ${(err as Error).stack}`)
      return
    }
    if (r.ok) {
      ok++
      assert.ok(Object.isFrozen(r.rules), where)
    } else {
      refused++
      assert.ok(r.errors.length > 0, where)
      for (const e of r.errors) {
        assert.is(e.severity, 'error', where)
        assert.ok(e.file.endsWith('policy.yaml'), `${where}\n${JSON.stringify(e)}`)
        assert.ok(e.line >= 1 && e.col >= 1, `${where}\n${JSON.stringify(e)}`)
        assert.type(e.message, 'string')
      }
    }
    if (k % CREATE_EVERY === 0) {
      const created = await createCache({ policies: dir }).then(
        (c) => c,
        (err: unknown) => err,
      )
      if (r.ok) {
        assert.not.instance(created, Error, `${where}\n${String(created)}`)
        await (created as Awaited<ReturnType<typeof createCache>>).close()
      } else assert.instance(created, PolicyError, `${where}\n${String(created)}`)
    }
  }
  // the mutations must exercise both outcomes, or the test proves little
  assert.ok(ok > FILES / 20, `only ${ok} files loaded`)
  assert.ok(refused > FILES / 4, `only ${refused} files refused`)
})

s.run()
