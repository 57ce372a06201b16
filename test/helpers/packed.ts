/**
 * The package as a user gets it: `npm pack` of a copy of the repository (so the build that
 * `prepare` runs never touches this tree's dist/), installed into an application folder the way
 * `npm install cachet koa` would lay it out, offline: the tarball extracted as
 * node_modules/cachet, its dependencies and the other named packages linked from the
 * repository's own node_modules (already installed by `npm ci`), the bin links made. Only the
 * files the package ships are there: a README link or an example that needs another one fails.
 * Then apps started as child processes (`node app.js`) and shell commands, for the README and
 * examples tests.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './redis-server.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')

const dirs: string[] = []
process.once('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A fresh temp folder, removed at exit. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

export interface Packed {
  /** the .tgz */
  readonly tarball: string
  /** every path the package holds (`package/` stripped), as `npm pack` lists them */
  readonly files: readonly string[]
}

/** npm without the network: no registry look-up may happen here, nor in CI. */
const NPM_ENV = {
  npm_config_offline: 'true',
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  npm_config_loglevel: 'error',
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...NPM_ENV, ...env }, timeout: 180_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}): ${err.message}\n${stdout}\n${stderr}`))
        else resolve(stdout)
      },
    )
  })
}

const NOT_COPIED = new Set(['node_modules', '.git', 'dist', 'coverage', '.tmp', 'tmp'])

/** `npm pack` of a copy of the repository; the tarball and its file list. */
export async function packCachet(): Promise<Packed> {
  const stage = tempDir('cachet-stage-')
  cpSync(ROOT, stage, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src)
      const parts = rel.split('/')
      return rel === '' || !(NOT_COPIED.has(parts[0] as string) || parts.includes('node_modules'))
    },
  })
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'))
  const out = tempDir('cachet-tgz-')
  const stdout = await run('npm', ['pack', '--json', '--pack-destination', out], stage)
  // lifecycle scripts (prepare: the build) may print before the JSON
  const json = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as {
    filename: string
    files: { path: string }[]
  }[]
  const info = json[0]
  if (!info) throw new Error(`npm pack printed no package:\n${stdout}`)
  return { tarball: join(out, info.filename), files: info.files.map((f) => f.path) }
}

/**
 * What `npm install <names>` leaves in `appDir`, offline: `cachet` from the tarball, every other
 * name, and cachet's dependencies, linked from the repository's node_modules; node_modules/.bin
 * links for cachet's bins. package.json is left as it is (the examples list their dependencies;
 * the README's setup does not need them listed to run).
 */
export async function installPacked(appDir: string, packed: Packed, names: readonly string[]): Promise<void> {
  const nm = join(appDir, 'node_modules')
  const pkgDir = join(nm, 'cachet')
  mkdirSync(pkgDir, { recursive: true })
  if (names.includes('cachet') || !existsSync(join(pkgDir, 'package.json')))
    await run('tar', ['-xzf', packed.tarball, '--strip-components', '1', '-C', pkgDir], appDir)
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>
    bin?: Record<string, string>
  }
  const links = new Set([...Object.keys(pkg.dependencies ?? {}), ...names.filter((n) => n !== 'cachet')])
  for (const name of links) {
    const from = join(ROOT, 'node_modules', name)
    if (!existsSync(from)) throw new Error(`${name} is not installed in the repository's node_modules`)
    const to = join(nm, name)
    if (existsSync(to)) continue
    mkdirSync(dirname(to), { recursive: true })
    symlinkSync(from, to)
  }
  const bin = join(nm, '.bin')
  mkdirSync(bin, { recursive: true })
  for (const [name, file] of Object.entries(pkg.bin ?? {})) {
    if (!existsSync(join(bin, name))) symlinkSync(join('..', 'cachet', file), join(bin, name))
  }
}

export interface Started {
  readonly port: number
  readonly child: ChildProcess
  /** what it printed so far, stdout and stderr */
  output(): string
  stop(): Promise<void>
}

/** Waits until something accepts connections on the port, or the child exits first. */
async function accepting(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const until = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening:\n${output()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`not listening on ${port} after 30 s:\n${output()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * `node <args>` in `cwd` with PORT set to a free port (and REDIS_URL unset unless `env` gives it),
 * resolved once it accepts connections on that port.
 */
export async function startNode(
  cwd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  port?: number,
): Promise<Started> {
  const p = port ?? (await freePort())
  const base: NodeJS.ProcessEnv = { ...process.env }
  delete base.REDIS_URL
  delete base.NODE_DEBUG
  delete base.NODE_OPTIONS
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...base, PORT: String(p), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const output = () => out
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
  }
  try {
    await accepting(p, child, output)
  } catch (err) {
    await stop()
    throw err
  }
  return { port: p, child, output, stop }
}

/** `bash -c script` in `cwd`: stdout, stderr and the exit code, never a rejection. */
export function shell(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const base: NodeJS.ProcessEnv = { ...process.env }
    delete base.NODE_OPTIONS
    execFile(
      'bash',
      ['-c', script],
      { cwd, env: { ...base, ...NPM_ENV, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/**
 * A copy of `examples/<name>` in a fresh folder with the packed package and the example's own
 * dependencies installed (offline, as above); returns the folder.
 */
export async function installExample(name: string, packed: Packed): Promise<string> {
  const dir = join(tempDir(`cachet-example-${name}-`), name)
  cpSync(join(ROOT, 'examples', name), dir, {
    recursive: true,
    filter: (src) => !src.includes('/node_modules'),
  })
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>
  }
  await installPacked(dir, packed, Object.keys(pkg.dependencies ?? {}))
  return dir
}
