/**
 * How a policy test run reads: like a test runner in text (one line per case, the expectation
 * that failed with expected and actual under it, a summary), GitHub Actions annotations, or one
 * JSON document. Failures become Diagnostics (POLICY_TEST_FAILED, at the line of the expectation)
 * so that `validate-policies` and the annotations report them like any other error.
 */
import { type DiagnosticFormat, formatDiagnostics } from '../policy/diagnostic.js'
import type { Diagnostic } from '../policy/types.js'
import type { CaseResult, Failure } from './run.js'
import type { SuiteReport } from './suite.js'

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

function failureDiagnostic(c: CaseResult, f: Failure): Diagnostic {
  return {
    code: 'POLICY_TEST_FAILED',
    severity: 'error',
    ...f.pos,
    message: `case "${c.name}": ${f.field}: expected ${f.expected}, got ${f.actual}`,
  }
}

/** Every failed expectation as an error at file:line:col. */
export function failureDiagnostics(report: SuiteReport): Diagnostic[] {
  return report.results.flatMap((r) => r.cases.flatMap((c) => c.failures.map((f) => failureDiagnostic(c, f))))
}

/** Policy errors (the set did not load), test-file errors and RULE_UNTESTED warnings. */
function findings(report: SuiteReport): Diagnostic[] {
  const r = report.load.result
  return [...(r.ok ? [] : r.errors), ...report.diagnostics]
}

function caseLines(report: SuiteReport): string[] {
  const out: string[] = []
  for (const r of report.results)
    for (const c of r.cases) {
      out.push(`${c.ok ? '✓' : '✗'} ${c.pos.file}:${c.pos.line} ${c.name}`)
      for (const f of c.failures) {
        out.push(`    ${f.field} at ${f.pos.file}:${f.pos.line}:${f.pos.col}`)
        out.push(`    - expected: ${f.expected}`)
        out.push(`    + actual:   ${f.actual}`)
      }
    }
  return out
}

function summary(report: SuiteReport, targets: readonly string[]): string {
  const found = findings(report)
  const errors = found.filter((d) => d.severity === 'error').length
  const warnings = found.length - errors
  const { cases, passed, failed } = report.counts
  const notRun = report.load.result.ok ? '' : ' (the policies did not load: no case ran)'
  return (
    `${targets.join(', ')}: ${plural(report.testFiles.length, 'test file')}, ${plural(cases, 'case')}, ` +
    `${passed} passed, ${failed} failed, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}${notRun}\n`
  )
}

/** True when the run is a success: every case passed and nothing is in error. */
export function passed(report: SuiteReport): boolean {
  return report.counts.failed === 0 && !findings(report).some((d) => d.severity === 'error')
}

export function formatReport(
  report: SuiteReport,
  format: DiagnosticFormat,
  targets: readonly string[],
): string {
  if (format === 'json') {
    const diagnostics = JSON.parse(formatDiagnostics(findings(report), 'json')) as unknown[]
    const cases = report.results.flatMap((r) =>
      r.cases.map((c) => ({
        file: c.pos.file,
        line: c.pos.line,
        col: c.pos.col,
        name: c.name,
        ok: c.ok,
        failures: c.failures.map((f) => ({
          field: f.field,
          ...f.pos,
          expected: f.expected,
          actual: f.actual,
        })),
      })),
    )
    const found = findings(report)
    const doc = {
      ok: passed(report),
      summary: {
        files: report.testFiles.length,
        ...report.counts,
        errors: found.filter((d) => d.severity === 'error').length,
        warnings: found.filter((d) => d.severity === 'warning').length,
      },
      cases,
      diagnostics,
    }
    return `${JSON.stringify(doc, null, 2)}\n`
  }
  const lines = caseLines(report)
  let out = lines.length > 0 ? `${lines.join('\n')}\n` : ''
  if (format === 'github') out += formatDiagnostics(failureDiagnostics(report), 'github')
  out += formatDiagnostics(findings(report), format)
  return out + summary(report, targets)
}
