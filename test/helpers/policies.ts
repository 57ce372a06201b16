/**
 * Policy folders for the tests: YAML text written into a fresh temp dir, removed at exit.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dirs: string[] = []
process.once('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Strips the common indentation, so a test can indent its YAML with the code. */
export function yaml(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n')
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length))
  return lines.map((l) => l.slice(indent)).join('\n')
}

/**
 * A fresh folder holding `files` (name → YAML text), or one `policy.yaml` when given a string.
 * Returns the folder's path.
 */
export function policyDir(files: string | Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-policies-'))
  dirs.push(dir)
  const all = typeof files === 'string' ? { 'policy.yaml': files } : files
  for (const [name, text] of Object.entries(all)) writeFileSync(join(dir, name), text)
  return dir
}

/**
 * Replaces a policy file the way editors save: write a temp file, then rename it over the
 * old one (one complete change for a watcher, never a torn file).
 */
export function writePolicy(dir: string, text: string, name = 'policy.yaml'): string {
  const file = join(dir, name)
  const tmp = join(dir, `.${name}.${process.pid}.tmp`)
  writeFileSync(tmp, text)
  renameSync(tmp, file)
  return file
}
