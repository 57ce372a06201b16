/**
 * A policy test run, for `cachet test` and `validate-policies` alike: which targets are policies
 * and which are test files, the policy set loaded whole (the first match is over every file, so
 * every case runs against the whole set), every test file read and its cases run, and the rules
 * no case reached.
 *
 * Targets: a folder holds policies (`*.yaml`, `*.yml`) and tests (`*.test.yaml`, `*.test.yml`);
 * a file is one or the other by its name. When the targets name test files only, the policies
 * are the folders those files are in.
 */
import { readdir, stat } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { type Found, isPolicyTestName, wholeFile } from '../policy/files.js'
import { type LoadReport, loadPolicySet } from '../policy/load.js'
import type { Diagnostic } from '../policy/types.js'
import { compilePolicySet } from '../policy-set.js'
import { readTestFile, type TestFile } from './file.js'
import { type CaseResult, runCase, untestedRules } from './run.js'

export interface FileResult {
  readonly file: string
  readonly cases: readonly CaseResult[]
}

export interface SuiteReport {
  /** the policy set as loaded (its errors and lint warnings) */
  readonly load: LoadReport
  /** every test file found, as displayed */
  readonly testFiles: readonly string[]
  /** per test file that could be read and validated, when the policies loaded */
  readonly results: readonly FileResult[]
  /** test-file errors (schema, YAML, read) and RULE_UNTESTED warnings */
  readonly diagnostics: readonly Diagnostic[]
  readonly counts: { readonly cases: number; readonly passed: number; readonly failed: number }
}

export interface Targets {
  readonly policies: readonly string[]
  readonly tests: readonly Found[]
  /** a test file was named on its own: the folder's other test files may not have run */
  readonly named: boolean
}

/** Sorts the targets into policy targets (for the loader) and test files. Never throws. */
export async function splitTargets(targets: readonly string[], cwd: string): Promise<Targets> {
  const display = (abs: string) => {
    const rel = relative(cwd, abs)
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : abs
  }
  const policies: string[] = []
  const tests: Found[] = []
  const seen = new Set<string>()
  let named = false
  const addTest = (abs: string) => {
    if (seen.has(abs)) return
    seen.add(abs)
    tests.push({ abs, file: display(abs) })
  }
  for (const target of targets) {
    const abs = resolve(cwd, target)
    const st = await stat(abs).catch(() => undefined)
    if (st?.isDirectory()) {
      policies.push(target)
      const names = await readdir(abs).catch(() => [] as string[])
      for (const name of names.filter(isPolicyTestName).sort()) {
        const st2 = await stat(join(abs, name)).catch(() => undefined)
        if (st2?.isFile()) addTest(join(abs, name))
      }
    } else if (st?.isFile() && isPolicyTestName(abs.slice(abs.lastIndexOf(sep) + 1))) {
      addTest(abs)
      named = true
    } else {
      policies.push(target) // a policy file, or a path the loader will report it cannot read
    }
  }
  if (policies.length === 0) for (const d of new Set(tests.map((t) => dirname(t.abs)))) policies.push(d)
  return { policies, tests, named }
}

/**
 * Loads the policies the targets name and runs every test file among them. `requireTests`: no
 * test file at all is an error (`cachet test`), not silence (`validate-policies`).
 */
export async function runSuite(
  targets: readonly string[],
  options: { cwd: string; requireTests: boolean; name?: string },
): Promise<SuiteReport> {
  const { cwd } = options
  const split = await splitTargets(targets, cwd)
  const load = await loadPolicySet(split.policies, { cwd })
  const diagnostics: Diagnostic[] = []
  if (split.tests.length === 0 && options.requireTests) {
    diagnostics.push(
      wholeFile(
        'POLICY_TEST_NONE',
        targets.join(', '),
        'no policy test files (*.test.yaml, *.test.yml) found',
      ),
    )
  }
  const files: TestFile[] = []
  for (const t of split.tests) {
    const r = await readTestFile(t)
    diagnostics.push(...r.diagnostics)
    if (r.file) files.push(r.file)
  }
  const results: FileResult[] = []
  if (load.result.ok) {
    const set = compilePolicySet(load.result)
    for (const f of files)
      results.push({ file: f.file, cases: f.cases.map((c) => runCase(set, options.name ?? 'cachet', c)) })
    // Only when the folders' test files all ran: a file in error, or a test file named on its
    // own (the others not run), would make the rules the others test look untested.
    if (split.tests.length > 0 && files.length === split.tests.length && !split.named)
      diagnostics.push(
        ...untestedRules(
          set.rules,
          results.flatMap((r) => r.cases),
        ),
      )
  }
  const all = results.flatMap((r) => r.cases)
  const failed = all.filter((c) => !c.ok).length
  return {
    load,
    testFiles: split.tests.map((t) => t.file),
    results,
    diagnostics,
    counts: { cases: all.length, passed: all.length - failed, failed },
  }
}
