/**
 * Issue 12, item 8: loading did not scale. createCache took 7.3 s at 10k rules and did not finish
 * in 900 s at 100k: the shadowing lint joined every rule without a literal folder to every
 * candidate set (quadratic), every YAML tree stayed alive until the end, and the whole load ran in
 * one synchronous stretch, so a reload held the event loop for all of it.
 *
 * What must hold (no timings: bench/load.ts measures them): a set shaped like the quadratic case
 * (10,000 rules rooted nowhere, 10,000 literal ones) loads and lints within the file's budget and
 * the lint still finds the shadowing it should; and a reload of many files lets the event loop
 * run between them and while it lints and compiles.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { loadPolicies } from '../../src/policy/load.js'

const s = suite('regression: loading scales (issue 12.8)')
const dirs: string[] = []
s.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-scale-'))
  dirs.push(dir)
  mkdirSync(dir, { recursive: true })
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

s('10,000 rules rooted nowhere and 10,000 literal ones: loaded, linted, shadowing found', async () => {
  const files: Record<string, string> = {}
  for (let f = 0; f < 20; f++) {
    let text = 'version: 1\nrules:\n'
    for (let i = f * 1000; i < (f + 1) * 1000; i++) {
      // even: `/*/edit-N` (no literal folder: scanned on every request, a lint candidate of all);
      // odd: a literal page. `/posts/edit-<even>` below is shadowed by its `/*/edit-<even>`.
      text +=
        i % 2 === 0
          ? `  - id: w${i}\n    match: "/*/edit-${i}"\n    cache: false\n`
          : `  - id: p${i}\n    match: /pages/${i}\n    ttl: 1m\n`
    }
    files[`${String(f).padStart(2, '0')}.yaml`] = text
  }
  files['99-shadowed.yaml'] =
    'version: 1\nrules:\n  - id: shadowed\n    match: /posts/edit-4242\n    cache: false\n  - id: free\n    match: /posts/edit-4243\n    cache: false\n'
  const r = await loadPolicies(folder(files))
  if (!r.ok) return assert.unreachable(JSON.stringify(r.errors.slice(0, 2)))
  assert.is(r.rules.length, 20_002)
  const shadowed = r.warnings.filter((w) => w.code === 'RULE_SHADOWED')
  assert.equal(
    shadowed.map((w) => [w.ruleId, /rule "([^"]+)" \(/.exec(w.message)?.[1]]),
    [['shadowed', 'w4242']],
  )
})

s(
  'a reload of many files lets the event loop run between files and while it lints and compiles',
  async () => {
    const files: Record<string, string> = {}
    for (let f = 0; f < 12; f++) {
      let text = 'version: 1\nrules:\n'
      for (let i = f * 1000; i < (f + 1) * 1000; i++)
        text += `  - id: r${i}\n    match: /p/${i}/*\n    ttl: 1m\n`
      files[`${String(f).padStart(2, '0')}.yaml`] = text
    }
    const dir = folder(files)
    const cache = await createCache({ policies: dir })
    try {
      // change one rule so the reload builds a new set (lint and compile run, not only the parse)
      writeFileSync(join(dir, '00.yaml'), files['00.yaml']!.replace('/p/0/*', '/q/0/*'))
      let turns = 0
      let done = false
      const tick = () => {
        if (done) return
        turns++
        setImmediate(tick)
      }
      setImmediate(tick)
      const result = await cache.reload()
      done = true
      assert.ok(result.ok && result.changed)
      // 12 files, then lint (2 passes of 12,000 rules, a pause each 2,048) and compile (a pause each
      // 2,048): one synchronous stretch would give 0 or 1 turn
      assert.ok(turns >= 12 + 10, `the event loop ran ${turns} times during the reload`)
    } finally {
      await cache.close()
    }
  },
)

s.run()
