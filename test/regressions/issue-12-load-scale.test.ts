/**
 * Issue 12, item 8: loading did not scale. createCache took 7.3 s at 10k rules and did not finish
 * in 900 s at 100k: the shadowing lint joined every rule without a literal folder to every
 * candidate set (quadratic), every YAML tree stayed alive until the end, and the whole load ran in
 * one synchronous stretch, so a reload held the event loop for all of it.
 *
 * What must hold (no timings: bench/load.ts measures them): a set shaped like the quadratic case
 * (10,000 rules rooted nowhere, 10,000 literal ones) loads and lints within the file's budget and
 * the lint still finds the shadowing it should; a reload of many files lets the event loop
 * run between them and while it lints and compiles; and a reload of one large file lets it run
 * while that file is read, checked and normalised (a 1 MiB file of 10k rules held it ~0.5 s in
 * one stretch).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { writeRules } from '../../bench/load.js'
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
      // 256): one synchronous stretch would give 0 or 1 turn
      assert.ok(turns >= 12 + 10, `the event loop ran ${turns} times during the reload`)
    } finally {
      await cache.close()
    }
  },
)

s('a reload of one file of 10,000 rules lets the event loop run while it reads that file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-scale-'))
  dirs.push(dir)
  writeRules(dir, 10_000, 10_000) // 0000.yaml (~0.7 MiB, bench/load.ts's mix) and a catch-all
  const quiet = () => {}
  const cache = await createCache({
    policies: dir,
    logger: { error: quiet, warn: quiet, info: quiet, debug: quiet },
  })
  // The loader lets the event loop run with setImmediate (src/steps.ts turn): count those. A
  // chain of our own immediates would not tell, as it also spins while a read waits on the disk.
  const real = globalThis.setImmediate
  let pauses = 0
  globalThis.setImmediate = ((cb: (...a: unknown[]) => void, ...args: unknown[]) => {
    pauses++
    return real(cb, ...args)
  }) as typeof setImmediate
  try {
    // one rule changed, as an edit would: the file is read anew and the set rebuilt
    writeFileSync(
      join(dir, '9999-catch-all.yaml'),
      'version: 1\nrules:\n  - id: rest-2\n    match: /**\n    cache: false\n',
    )
    let timerRan = false
    setTimeout(() => {
      timerRan = true
    }, 0)
    const result = await cache.reload()
    assert.ok(result.ok && result.changed)
    assert.ok(timerRan, 'a timer set when the reload started ran before it ended')
    // The file's YAML, schema, checks, normalisation and per-rule lint each pause every 256 rules
    // (some 40 times apiece here). When the file was read in one stretch, the reload paused 18
    // times in all: once after the file, then in the lint's passes and the compile.
    assert.ok(pauses >= 150, `the reload let the event loop run ${pauses} times`)
  } finally {
    globalThis.setImmediate = real
    await cache.close()
  }
})

s('a reload that brings many warnings logs them a few hundred at a time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-scale-'))
  dirs.push(dir)
  writeRules(dir, 3000) // bench/load.ts's mix: 3 rules in 10 have a warning
  let warned = 0
  let most = 0
  const quiet = () => {}
  const cache = await createCache({
    policies: dir,
    logger: { error: quiet, warn: () => void warned++, info: quiet, debug: quiet },
  })
  const real = globalThis.setImmediate
  globalThis.setImmediate = ((cb: (...a: unknown[]) => void, ...args: unknown[]) => {
    most = Math.max(most, warned)
    warned = 0
    return real(cb, ...args)
  }) as typeof setImmediate
  try {
    writeFileSync(
      join(dir, '9999-catch-all.yaml'),
      'version: 1\nrules:\n  - id: rest-2\n    match: /**\n    cache: false\n',
    )
    warned = 0
    const result = await cache.reload()
    most = Math.max(most, warned)
    assert.ok(result.ok && result.changed)
    assert.is(result.warnings.length, 900)
  } finally {
    globalThis.setImmediate = real
    await cache.close()
  }
  // the 900 warnings were logged in one stretch after the swap (a pause is counted where it starts)
  assert.ok(most <= 256, `${most} warnings were logged without a pause`)
})

s.run()
