import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { DIAGNOSTIC_FORMATS, type DiagnosticFormat } from '../policy/diagnostic.js'

/** The CLI takes its I/O as arguments so tests drive it without a subprocess. */
export interface CliIO {
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
  cwd: string
  /** the environment (tests); the process's own when absent */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * the default of `cachet serve --workers`: the bin passes the number of cores, at most the
   * cgroup's CPU quota (cpu-quota.ts); absent (in
   * process: tests, an application calling the command), 1, one process and no node:cluster
   */
  cores?: number
}

/** `cachet <version>`, read from the package's own package.json (the same from src/ and dist/). */
export function versionLine(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return `cachet ${pkg.version}\n`
}

export const EXIT_OK = 0
export const EXIT_INVALID = 1
export const EXIT_USAGE = 2

/**
 * The arguments of the commands that read policy paths (`validate-policies`, `cachet test`):
 * `[paths...] [-f|--format text|json|github] [-h|--help]`. Answers what to run, or the exit
 * status when there is nothing to run (help printed, or a usage error reported as `command: …`).
 */
export function pathsAndFormat(
  argv: string[],
  io: CliIO,
  command: string,
  usage: string,
): { readonly paths: string[]; readonly format: DiagnosticFormat } | number {
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
    io.stderr.write(`${command}: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`)
    return EXIT_USAGE
  }
  if (values.help) {
    io.stdout.write(usage)
    return EXIT_OK
  }
  const format = (values.format ?? 'text') as DiagnosticFormat
  if (!DIAGNOSTIC_FORMATS.includes(format)) {
    io.stderr.write(
      `${command}: unknown format ${JSON.stringify(values.format)}: expected text, json or github\n\n${usage}`,
    )
    return EXIT_USAGE
  }
  return { paths: positionals.length > 0 ? positionals : ['policies'], format }
}
