/**
 * `cachet test [paths...] [--format text|json|github]`: runs the policy test files
 * (`*.test.yaml` next to the policies) against the policies, with the code the middleware runs
 * (src/policy-test/). Exit 0 when every case passed (warnings allowed), 1 when a case failed or a
 * file is in error (or no test file was found), 2 on a usage error.
 */
import { formatReport, passed } from '../policy-test/report.js'
import { runSuite } from '../policy-test/suite.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, pathsAndFormat } from './io.js'

export const TEST_USAGE = `usage: cachet test [paths...] [--format text|json|github]

Runs cachet policy tests: each path is a folder (its *.yaml / *.yml policies and its
*.test.yaml / *.test.yml test files) or a file. Every case runs against the whole policy set.
Default path: policies.

options:
  -f, --format <text|json|github>   output format (default text)
  -h, --help                        show this help

exit status: 0 every case passed, 1 a case failed or a file is in error, 2 usage error
`

export async function testCommand(argv: string[], io: CliIO): Promise<number> {
  const args = pathsAndFormat(argv, io, 'cachet test', TEST_USAGE)
  if (typeof args === 'number') return args
  const { paths, format } = args
  const report = await runSuite(paths, { cwd: io.cwd, requireTests: true })
  io.stdout.write(formatReport(report, format, paths))
  return passed(report) ? EXIT_OK : EXIT_INVALID
}
