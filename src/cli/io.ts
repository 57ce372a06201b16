/** The CLI takes its I/O as arguments so tests drive it without a subprocess. */
export interface CliIO {
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
  cwd: string
  /** the environment (tests); the process's own when absent */
  env?: Readonly<Record<string, string | undefined>>
}

export const EXIT_OK = 0
export const EXIT_INVALID = 1
export const EXIT_USAGE = 2
