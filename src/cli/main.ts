/**
 * `cachet <command>`: validate | test | explain | serve. Takes its I/O as arguments (tests drive it);
 * the bin shims only set the exit code.
 */

import { explainCommand } from './explain.js'
import { type CliIO, EXIT_OK, EXIT_USAGE, versionLine } from './io.js'
import { testCommand } from './test.js'
import { validatePolicies } from './validate.js'

export const USAGE = `usage: cachet <command> [options]
       cachet --version

commands:
  validate [paths...] [--format text|json|github]   validate and lint policies (same as validate-policies)
  test [paths...] [--format text|json|github]       run the policy test files (*.test.yaml)
  explain [--policies dir] <METHOD> <url> [-H "Name: value"]...
                                                    which rule, which key, and why
  serve --upstream <url> [--port 3000] [--host 127.0.0.1] [--policies dir] [--redis url]
        [--admin-port <n> [--admin-host 127.0.0.1] [--admin-token <token>|CACHET_ADMIN_TOKEN]]
                                                    a caching reverse proxy in front of any HTTP origin,
                                                    the status console on the admin port
                                                    (cachet serve --help: every option and signal)
`

export async function cli(argv: string[], io: CliIO): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'validate':
      return validatePolicies(rest, io)
    case 'test':
      return testCommand(rest, io)
    case 'explain':
      return explainCommand(rest, io)
    case 'serve': {
      const { serveCommand } = await import('./serve.js')
      return serveCommand(rest, io)
    }
    case '-v':
    case '--version':
      io.stdout.write(versionLine())
      return EXIT_OK
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.stdout.write(USAGE)
      return cmd === undefined ? EXIT_USAGE : EXIT_OK
    default:
      io.stderr.write(`cachet: unknown command ${JSON.stringify(cmd)}\n${USAGE}`)
      return EXIT_USAGE
  }
}
