/**
 * Finding and reading policy files: which files a target names, in which order, and reading
 * each through a bounded buffer. Problems become whole-file diagnostics (line 0), never throws.
 */
import { open, readdir, stat } from 'node:fs/promises'
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { Diagnostic } from './types.js'

/** A policy test file (`cachet test`, src/policy-test/): `*.test.yaml` / `*.test.yml`, not hidden. */
export const isPolicyTestName = (name: string) => !name.startsWith('.') && /\.test\.ya?ml$/.test(name)

/**
 * What the loader reads from a folder (and the watcher follows): `*.yaml` / `*.yml`, not hidden,
 * and not a policy test file (those sit next to the policies they test, and are no policy).
 */
export const isPolicyName = (name: string) =>
  !name.startsWith('.') && /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name)

export function wholeFile(
  code: string,
  file: string,
  message: string,
  severity: 'error' | 'warning' = 'error',
): Diagnostic {
  return { code, severity, file, line: 0, col: 0, message }
}

export function sizeText(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

export function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOENT') return 'no such file or directory'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory'
  return err instanceof Error ? err.message : String(err)
}

/** Reads at most `limit + 1` bytes: enough to know a file is too large without holding it. */
export async function readBounded(
  path: string,
  limit: number,
): Promise<{ bytes: Buffer; size: number } | { tooLarge: number }> {
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    if (size > limit) return { tooLarge: size }
    const buf = Buffer.alloc(limit + 1)
    let n = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n)
      if (bytesRead === 0) break
      n += bytesRead
      // The file grew between stat and read (an editor mid-save): still refuse it.
      if (n > limit) return { tooLarge: n }
    }
    return { bytes: buf.subarray(0, n), size: n }
  } finally {
    await fh.close()
  }
}

export interface Found {
  abs: string
  file: string
}

export async function listFiles(
  targets: readonly string[],
  cwd: string,
  diags: Diagnostic[],
): Promise<Found[]> {
  const display = (abs: string) => {
    const rel = relative(cwd, abs)
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : abs
  }
  const out: Found[] = []
  const seen = new Set<string>()
  const add = (abs: string) => {
    if (!seen.has(abs)) {
      seen.add(abs)
      out.push({ abs, file: display(abs) })
    }
  }
  for (const target of targets) {
    const abs = resolve(cwd, target)
    let st
    try {
      st = await stat(abs)
    } catch (err) {
      diags.push(wholeFile('POLICY_READ', display(abs) || target, `cannot read: ${reason(err)}`))
      continue
    }
    if (st.isDirectory()) {
      let names: string[]
      try {
        names = (await readdir(abs)).filter(isPolicyName).sort()
      } catch (err) {
        diags.push(wholeFile('POLICY_READ', display(abs) || target, `cannot read: ${reason(err)}`))
        continue
      }
      // Symlinks (Kubernetes ConfigMaps mount files that way) count when they lead to a file.
      const files: string[] = []
      for (const name of names) {
        const st2 = await stat(join(abs, name)).catch(() => undefined)
        if (st2?.isFile()) files.push(join(abs, name))
      }
      if (files.length === 0)
        diags.push(
          wholeFile(
            'POLICY_EMPTY',
            display(abs) || target,
            'no *.yaml or *.yml files in this folder: no requests will be cached',
            'warning',
          ),
        )
      files.forEach(add)
    } else if (st.isFile()) {
      if (isPolicyTestName(basename(abs))) {
        diags.push(
          wholeFile(
            'POLICY_TEST_FILE',
            display(abs),
            'a policy test file (*.test.yaml) is not a policy: `cachet test` and `validate-policies` run it',
          ),
        )
        continue
      }
      add(abs)
    } else {
      diags.push(wholeFile('POLICY_READ', display(abs) || target, 'cannot read: not a file or a folder'))
    }
  }
  return out
}
