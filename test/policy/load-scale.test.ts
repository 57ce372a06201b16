/**
 * Load at scale (issue 12 item 8), bounded in size and without timing: 20,000 generated rules
 * (bench/load.ts's mix: routes, asset folders, braces, hosts, tags, query keys, rules rooted
 * nowhere, extension-only rules, a catch-all) load to the same rules and the same warnings
 * whether the files go through quick-yaml or through yaml, each rule at its own line, and the
 * indexed matcher built from them answers as the linear oracle on sampled requests.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { writeRules } from '../../bench/load.js'
import { compileMatcher } from '../../src/matcher/compile.js'
import { linearMatcher } from '../../src/matcher/linear.js'
import { loadPolicySet } from '../../src/policy/load.js'
import { METHOD_BITS, type Rule } from '../../src/policy/types.js'
import { Gen } from '../matcher/random.js'

const N = 20_000
let dir = ''

const s = suite('20,000 rules')
s.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cachet-scale-'))
  writeRules(dir, N)
})
s.after(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** a rule as text, Maps and Sets spelled out */
const text = (x: unknown) =>
  JSON.stringify(x, (_k, v) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v))

let rules: readonly Rule[] = []

s(
  'load whole, the same through quick-yaml as through yaml: rules, positions, warnings, version',
  async () => {
    const quick = (await loadPolicySet(dir, { cwd: dir })).result
    const slow = (await loadPolicySet(dir, { cwd: dir }, false)).result
    assert.ok(quick.ok && slow.ok)
    if (!quick.ok || !slow.ok) return
    assert.is(quick.rules.length, N + 1)
    assert.is(quick.version, slow.version)
    assert.is(text(quick.warnings), text(slow.warnings))
    for (let i = 0; i < quick.rules.length; i++)
      assert.is(text(quick.rules[i]), text(slow.rules[i]), `rule ${i}`)
    // every rule points at its own `id:` line, as written
    const lines = new Map<string, string>()
    for (const f of readdirSync(dir).sort()) {
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .forEach((l, k) => {
          const m = /^ {2}- id: (\S+)$/.exec(l)
          if (m) lines.set(m[1]!, `${f}:${k + 1}:9`)
        })
    }
    for (const r of quick.rules) assert.is(`${r.pos.file}:${r.pos.line}:${r.pos.col}`, lines.get(r.id), r.id)
    rules = quick.rules
  },
)

s('the indexed matcher answers as the linear oracle on sampled requests', () => {
  assert.is(rules.length, N + 1)
  const indexed = compileMatcher(rules)
  const linear = linearMatcher(rules)
  const g = new Gen(20261203)
  const methods = [METHOD_BITS.GET, METHOD_BITS.HEAD, METHOD_BITS.PUT, METHOD_BITS.POST] as number[]
  const hosts = ['', 'www.example.com', 'shop.example.com', 'example.org']
  let matched = 0
  for (let q = 0; q < 1000; q++) {
    const i = g.int(N)
    // mostly a path aimed at rule i (its shape is i % 10, see bench/load.ts ruleYaml), else any
    const shapes = [
      `/api/products/${i}/reviews/${g.int(9)}`,
      `/pages/${i}`,
      `/static/v${i}/a/b.css`,
      `/${g.pick(['en', 'de', 'fr', 'it'])}/shop/${i}/x`,
      `/api/v${i % 7}/items/${i}`,
      `/blog/${i}/post`,
      `/${g.pick(['a', 'b'])}/edit-${i}`,
      `/img/x.x${i}`,
      `/search/${i}/`,
      `/docs/${i}/intro.html`,
      `/DOCS/${i}`,
      `/nothing/${i}`,
    ]
    const path = g.int(4) === 0 ? g.pick(shapes) : shapes[i % 10]!
    const m = g.pick(methods)
    const h = g.pick(hosts)
    const a = indexed.match(m, h, path)
    const b = linear.match(m, h, path)
    assert.is(a?.id, b?.id, `${m} ${h} ${path}`)
    if (a !== undefined && a.id !== 'rest') matched++
  }
  // the sample reaches the rules, not only the catch-all
  assert.ok(matched > 300, `${matched} requests matched a rule other than the catch-all`)
})

s.run()
