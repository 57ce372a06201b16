/**
 * `validate-policies [paths...] [--format text|json|github]`: validates and lints policy
 * files, for editors, pre-commit hooks and CI. Exit 0 when valid (warnings allowed), 1 when
 * any error, 2 on a usage error (README "validate-policies").
 *
 * Output goes to stdout: text lines `path:line:col: error|warning: message` and a summary line;
 * json: the diagnostics array only, so `| jq` works; github: annotations plus the summary.
 */
import { formatDiagnostics } from '../policy/diagnostic.js'
import { failureDiagnostics } from '../policy-test/report.js'
import { runSuite } from '../policy-test/suite.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, EXIT_USAGE, pathsAndFormat } from './io.js'

export { EXIT_INVALID, EXIT_OK, EXIT_USAGE }

export const VALIDATE_USAGE = `usage: validate-policies [paths...] [--format text|json|github]

Validates and lints cachet policy files: each path is a folder (every *.yaml and *.yml in it)
or a file. Default path: policies. Policy test files among them (*.test.yaml, *.test.yml) are
run too, as \`cachet test\` runs them: a failed case is an error at its line.

options:
  -f, --format <text|json|github>   output format (default text)
  -h, --help                        show this help

exit status: 0 valid (warnings allowed), 1 errors found, 2 usage error
`

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export async function validatePolicies(argv: string[], io: CliIO): Promise<number> {
  const args = pathsAndFormat(argv, io, 'validate-policies', VALIDATE_USAGE)
  if (typeof args === 'number') return args
  const { paths, format } = args

  // the policies, and the policy test files among the targets when there are any (policy-test/)
  const suite = await runSuite(paths, { cwd: io.cwd, requireTests: false })
  const { result, files, ruleCount } = suite.load
  const diags = [
    ...(result.ok ? [] : result.errors),
    ...result.warnings,
    ...suite.diagnostics,
    ...failureDiagnostics(suite),
  ]
  const errors = diags.filter((d) => d.severity === 'error').length
  io.stdout.write(formatDiagnostics(diags, format))
  if (format !== 'json') {
    const rules = result.ok ? result.rules.length : ruleCount
    const tests =
      suite.testFiles.length === 0
        ? ''
        : `, ${plural(suite.testFiles.length, 'test file')} (${plural(suite.counts.cases, 'case')}, ${suite.counts.failed} failed)`
    io.stdout.write(
      `${paths.join(', ')}: ${plural(files.length, 'file')}, ${plural(rules, 'rule')}${tests}, ${plural(errors, 'error')}, ${plural(diags.length - errors, 'warning')}\n`,
    )
  }
  return errors === 0 ? EXIT_OK : EXIT_INVALID
}
