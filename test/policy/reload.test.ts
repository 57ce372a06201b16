/**
 * The policy watcher on its own (src/policy/reload.ts), once with fs.watch events alone and once
 * with the stat poll alone, so that each mechanism is shown to follow every kind of change by
 * itself: a Kubernetes ConfigMap update, the folder replaced by rename, editors' rename-and-
 * replace, in-place writes, a file deleted and recreated. Also: unrelated names start no reload,
 * re-arming after thousands of swaps leaks no watch, close() stops everything; and
 * loadForReload refuses a set that lost all of its files.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadForReload, type WatchOptions, watchPolicies } from '../../src/policy/reload.js'
import { fsWatchers, inotifyWatches } from '../helpers/handles.js'
import { eventually } from '../helpers/http.js'
import { configMapDir, configMapUpdate, policyDir, swapFolder, writePolicy } from '../helpers/policies.js'

const text = (n: number) => `version: 1\nrules:\n  - id: r${n}\n    match: /r/${n}\n    ttl: 1m\n`

interface Probe {
  calls: number
  warnings: string[]
  /** resolves at the next onChange; rejects after 5 s (a bound for the watcher, not a timing assertion) */
  next(what: string): Promise<void>
  close(): void
}

/** Watches `target`; counts onChange calls and warnings. */
function probe(target: string | string[], mode: Partial<WatchOptions>): Probe {
  const waiters: (() => void)[] = []
  const p: Probe = {
    calls: 0,
    warnings: [],
    next: (what) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${what}: no onChange within 5000 ms`)), 5000)
        waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      }),
    close: () => {},
  }
  const w = watchPolicies(target, {
    debounceMs: 10,
    log: {
      warn: (m) => {
        p.warnings.push(m)
      },
    },
    onChange: () => {
      p.calls++
      for (const f of waiters.splice(0)) f()
    },
    ...mode,
  })
  p.close = () => w.close()
  return p
}

/** Applies `change`, then waits for one more onChange (a bound for the watcher, not a timing assertion). */
async function sees(p: Probe, what: string, change: () => void): Promise<void> {
  const before = p.calls
  change()
  await eventually(() => p.calls > before, what)
}

const MODES: [string, Partial<WatchOptions>][] = [
  ['fs.watch events alone', { pollMs: 0 }],
  ['the stat poll alone', { events: false, pollMs: 20 }],
]

for (const [label, mode] of MODES) {
  const s = suite(`policy watcher: ${label}`)
  const open: Probe[] = []
  const start = (target: string | string[]) => {
    const p = probe(target, mode)
    open.push(p)
    return p
  }
  s.after.each(() => {
    for (const p of open.splice(0)) p.close()
  })

  s('a ConfigMap volume: each ..data swap, as folder and as file target', async () => {
    const dir = configMapDir(text(1))
    const folder = start(dir)
    const file = start(join(dir, 'policy.yaml'))
    await new Promise((r) => setTimeout(r, 50)) // the poll's first signature is the baseline
    for (let n = 2; n <= 4; n++) {
      const f0 = folder.calls,
        g0 = file.calls
      configMapUpdate(dir, text(n))
      await eventually(() => folder.calls > f0 && file.calls > g0, `ConfigMap update ${n}`)
    }
    const files = { 'policy.yaml': text(5), 'more.yaml': text(6) }
    await sees(folder, 'a ConfigMap update adding a key', () => configMapUpdate(dir, files))
  })

  s('the folder replaced by rename, then edits in the new folder', async () => {
    const dir = policyDir(text(1))
    const folder = start(dir)
    const file = start(join(dir, 'policy.yaml'))
    await new Promise((r) => setTimeout(r, 50))
    for (let n = 2; n <= 4; n++) {
      const f0 = folder.calls,
        g0 = file.calls
      swapFolder(dir, text(n))
      await eventually(() => folder.calls > f0 && file.calls > g0, `folder swap ${n}`)
      const f1 = folder.calls,
        g1 = file.calls
      writePolicy(dir, text(n + 10))
      await eventually(() => folder.calls > f1 && file.calls > g1, `an edit after folder swap ${n}`)
    }
  })

  s('rename-and-replace, in-place writes, delete and recreate, a new file', async () => {
    const dir = policyDir(text(1))
    const p = start(dir)
    await new Promise((r) => setTimeout(r, 50))
    await sees(p, 'rename-and-replace', () => writePolicy(dir, text(2)))
    await sees(p, 'an in-place write', () => writeFileSync(join(dir, 'policy.yaml'), text(3)))
    await sees(p, 'a deletion', () => rmSync(join(dir, 'policy.yaml')))
    await sees(p, 'the file recreated', () => writeFileSync(join(dir, 'policy.yaml'), text(4)))
    await sees(p, 'a new .yml file', () => writeFileSync(join(dir, 'extra.yml'), text(5)))
  })

  s('a folder target that is gone at start and appears later', async () => {
    const dir = join(policyDir(text(1)), 'later')
    const p = start(dir)
    await new Promise((r) => setTimeout(r, 50))
    await sees(p, 'the folder created with a file', () => {
      mkdirSync(`${dir}.tmp`)
      writeFileSync(join(`${dir}.tmp`, 'policy.yaml'), text(2))
      renameSync(`${dir}.tmp`, dir) // as a deploy does: the folder appears whole
    })
    await sees(p, 'an edit in it', () => writePolicy(dir, text(3)))
  })

  s.run()
}

const e = suite('policy watcher: events, handles, close')
const openE: Probe[] = []
e.after.each(() => {
  for (const p of openE.splice(0)) p.close()
})

e('names that are not policy files start no reload; policy names and ConfigMap names do', async () => {
  const dir = policyDir(text(1))
  const p = probe(dir, { pollMs: 0, debounceMs: 5 })
  openE.push(p)
  writeFileSync(join(dir, 'notes.txt'), 'x')
  writeFileSync(join(dir, '.policy.yaml.swp'), 'x')
  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'sub', 'nested.yaml'), text(2)) // the loader does not recurse
  await new Promise((r) => setTimeout(r, 150))
  assert.is(p.calls, 0, 'no reload for unrelated names')
  await sees(p, 'a ..data rename', () => writeFileSync(join(dir, '..data'), 'x'))
})

e('hundreds of folder swaps: one watch per path, the old ones closed; close() releases all', async () => {
  // node closes a watch's handle on the next turn of the loop: counts are awaited, not read once
  await eventually(() => fsWatchers() === 0, 'no watch left from the tests before')
  const i0 = inotifyWatches()
  const dir = policyDir(text(1))
  const p = probe(dir, { pollMs: 0, debounceMs: 1 })
  openE.push(p)
  assert.is(fsWatchers(), 2, 'the folder and its parent')
  const inotifyArmed = inotifyWatches()
  for (let n = 0; n < 300; n++) {
    const seen = p.next(`folder swap ${n}`)
    swapFolder(dir, text(n))
    await seen
  }
  await eventually(() => fsWatchers() === 2, 'one watch on the folder, one on its parent')
  await eventually(() => inotifyWatches() === inotifyArmed, 'as many inotify watches as after start')
  p.close()
  await eventually(() => fsWatchers() === 0, 'close() releases every watch')
  await eventually(() => inotifyWatches() === i0, 'the kernel watches are released')
  const calls = p.calls
  writePolicy(dir, text(2))
  await new Promise((r) => setTimeout(r, 50))
  assert.is(p.calls, calls, 'no onChange after close()')
})

const l = suite('loadForReload')

l('no policy file left: refused (POLICY_EMPTY) if the set in force had files; else as at start', async () => {
  const dir = policyDir({ 'notes.txt': 'x' })
  const refused = await loadForReload(dir, [join(dir, 'policy.yaml')])
  assert.is(refused.ok, false)
  if (refused.ok) return
  assert.equal(
    refused.errors.map((d) => [d.code, d.severity, d.line]),
    [['POLICY_EMPTY', 'error', 0]],
  )
  assert.match(refused.errors[0]!.message, /rules: \[\]/)
  const atStart = await loadForReload(dir, [])
  assert.ok(atStart.ok && atStart.rules.length === 0)
  assert.ok(atStart.warnings.some((w) => w.code === 'POLICY_EMPTY'))
  writeFileSync(join(dir, 'policy.yaml'), 'version: 1\nrules: []\n')
  const nothing = await loadForReload(dir, [join(dir, 'policy.yaml')])
  assert.ok(nothing.ok && nothing.rules.length === 0, 'rules: [] is how to cache nothing')
})

l('one folder emptied among several: refused at that folder, not silently dropped (issue 10)', async () => {
  const a = policyDir({ 'a.yaml': text(1) })
  const b = policyDir({ 'b1.yaml': text(2), 'b2.yaml': text(3) })
  const c = policyDir({ 'notes.txt': 'empty from the start' })
  const single = join(policyDir({ 'one.yaml': text(4) }), 'one.yaml')
  const target = [a, b, c, single]
  const first = await loadForReload(target, [])
  assert.ok(first.ok)
  if (!first.ok) return
  assert.equal(
    first.rules.map((r) => r.id),
    ['r1', 'r2', 'r3', 'r4'],
  )
  rmSync(join(b, 'b1.yaml'))
  const fewer = await loadForReload(target, first.files)
  assert.ok(fewer.ok, 'a folder that keeps one file is an ordinary edit')
  if (!fewer.ok) return
  rmSync(join(b, 'b2.yaml'))
  const refused = await loadForReload(target, fewer.files)
  assert.is(refused.ok, false)
  if (refused.ok) return
  assert.equal(
    refused.errors.map((d) => [d.code, d.severity, d.file]),
    [['POLICY_EMPTY', 'error', b]],
  )
  assert.match(refused.errors[0]!.message, /keeps the set in force/)
  assert.ok(
    refused.warnings.some((w) => w.code === 'POLICY_EMPTY' && w.file === c),
    'the folder that was empty already is still only a warning',
  )
  writeFileSync(join(b, 'empty.yaml'), 'version: 1\nrules: []\n')
  const meant = await loadForReload(target, fewer.files)
  assert.ok(meant.ok, 'an explicit empty file says the folder is meant to cache nothing')
  if (!meant.ok) return
  assert.equal(
    meant.rules.map((r) => r.id),
    ['r1', 'r4'],
  )
})

e.run()
l.run()
