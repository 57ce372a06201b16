/**
 * Runs a CLI command (cli, serveCommand, validatePolicies…) in process with its output captured,
 * as the bin shims would run it with the process's stdio.
 */
import type { CliIO } from '../../src/cli/io.js'

export interface CliRun {
  readonly code: number
  readonly out: string
  readonly err: string
}

export async function runCli(
  command: (argv: string[], io: CliIO) => Promise<number>,
  argv: string[],
  o: { cwd?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<CliRun> {
  let out = ''
  let err = ''
  const code = await command(argv, {
    stdout: {
      write: (s: string) => {
        out += s
        return true
      },
    },
    stderr: {
      write: (s: string) => {
        err += s
        return true
      },
    },
    cwd: o.cwd ?? process.cwd(),
    ...(o.env !== undefined ? { env: o.env } : {}),
  })
  return { code, out, err }
}
