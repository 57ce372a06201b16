/**
 * `validate-policies [paths...] [--format text|json|github]`: validates and lints policy
 * files, for editors, pre-commit hooks and CI. Exit 0 when valid (warnings allowed), 1 when
 * any error, 2 on a usage error (README "validate-policies").
 *
 * Output goes to stdout: text lines `path:line:col: error|warning: message` and a summary line;
 * json: the diagnostics array only, so `| jq` works; github: annotations plus the summary.
 */
import { parseArgs } from 'node:util'
import { DIAGNOSTIC_FORMATS, type DiagnosticFormat, formatDiagnostics } from '../policy/diagnostic.js'
import { loadPolicySet } from '../policy/load.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from './io.js'

export { EXIT_INVALID, EXIT_OK, EXIT_USAGE }

export const VALIDATE_USAGE = `usage: validate-policies [paths...] [--format text|json|github]

Validates and lints cachet policy files: each path is a folder (every *.yaml and *.yml in it)
or a file. Default path: policies.

options:
  -f, --format <text|json|github>   output format (default text)
  -h, --help                        show this help

exit status: 0 valid (warnings allowed), 1 errors found, 2 usage error
`

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export async function validatePolicies(argv: string[], io: CliIO): Promise<number> {
  let values: { format?: string; help?: boolean }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: argv,
      options: {
        format: { type: 'string', short: 'f' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }))
  } catch (err) {
    io.stderr.write(
      `validate-policies: ${err instanceof Error ? err.message : String(err)}\n\n${VALIDATE_USAGE}`,
    )
    return EXIT_USAGE
  }
  if (values.help) {
    io.stdout.write(VALIDATE_USAGE)
    return EXIT_OK
  }
  const format = (values.format ?? 'text') as DiagnosticFormat
  if (!DIAGNOSTIC_FORMATS.includes(format)) {
    io.stderr.write(
      `validate-policies: unknown format ${JSON.stringify(values.format)}: expected text, json or github\n\n${VALIDATE_USAGE}`,
    )
    return EXIT_USAGE
  }
  const paths = positionals.length > 0 ? positionals : ['policies']

  const { result, files, ruleCount } = await loadPolicySet(paths, { cwd: io.cwd })
  const diags = result.ok ? result.warnings : [...result.errors, ...result.warnings]
  const errors = result.ok ? 0 : result.errors.length
  io.stdout.write(formatDiagnostics(diags, format))
  if (format !== 'json') {
    const rules = result.ok ? result.rules.length : ruleCount
    io.stdout.write(
      `${paths.join(', ')}: ${plural(files.length, 'file')}, ${plural(rules, 'rule')}, ${plural(errors, 'error')}, ${plural(result.warnings.length, 'warning')}\n`,
    )
  }
  return result.ok ? EXIT_OK : EXIT_INVALID
}
