/**
 * Policy folders for the tests: YAML text written into a fresh temp dir, removed at exit.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
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

let tsSeq = 0

/**
 * A Kubernetes ConfigMap volume, laid out as the kubelet's AtomicWriter does it
 * (kubernetes pkg/volume/util/atomic_writer.go): the files in a timestamped folder
 * `..2026_12_02_17_00_00.123456789`, a symlink `..data` to it, and for each file a symlink
 * `name -> ..data/name`. Returns the folder's path.
 */
export function configMapDir(files: string | Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-configmap-'))
  dirs.push(dir)
  configMapUpdate(dir, files)
  return dir
}

/**
 * A ConfigMap update, in the kubelet's order: write a new timestamped folder, create
 * `..data_tmp -> new`, rename it over `..data` (the one atomic step), add the symlinks of new
 * names and remove those of names gone, then delete the old timestamped folder.
 */
export function configMapUpdate(dir: string, files: string | Record<string, string>): void {
  const all = typeof files === 'string' ? { 'policy.yaml': files } : files
  const now = new Date()
  const stamp = now.toISOString().replace(/[-T:]/g, '_').replace(/\..*$/, '')
  const ts = `..${stamp}.${String(process.pid * 1000 + ++tsSeq).padStart(9, '0')}`
  mkdirSync(join(dir, ts))
  for (const [name, text] of Object.entries(all)) writeFileSync(join(dir, ts, name), text)
  let old: string | undefined
  try {
    old = readlinkSync(join(dir, '..data'))
  } catch {
    old = undefined
  }
  const oldNames = old === undefined ? [] : readdirSync(join(dir, old))
  symlinkSync(ts, join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const name of Object.keys(all)) {
    if (!oldNames.includes(name)) symlinkSync(join('..data', name), join(dir, name))
  }
  for (const name of oldNames) {
    if (!(name in all)) rmSync(join(dir, name), { force: true })
  }
  if (old !== undefined) rmSync(join(dir, old), { recursive: true, force: true })
}

/**
 * Replaces the whole folder by rename, as a deploy script does (`mv dir dir.old; mv dir.new dir`):
 * the watched folder's inode changes under the same path. The old folder is removed.
 */
export function swapFolder(dir: string, files: string | Record<string, string>): void {
  const all = typeof files === 'string' ? { 'policy.yaml': files } : files
  const next = `${dir}.new`
  const old = `${dir}.old`
  mkdirSync(next)
  for (const [name, text] of Object.entries(all)) writeFileSync(join(next, name), text)
  renameSync(dir, old)
  renameSync(next, dir)
  rmSync(old, { recursive: true, force: true })
}
