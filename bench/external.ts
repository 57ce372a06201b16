/**
 * nginx (`proxy_cache`) and Varnish in front of the HTTP bench's origin, each started from its
 * config in bench/ (nginx.conf, default.vcl) on a free loopback port with a temporary directory,
 * and stopped (directory removed) at the end. When the binary is not installed the start function
 * returns the note the bench prints instead of the row. `BENCH_NGINX` / `BENCH_VARNISHD` name
 * another binary.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../test/helpers/redis-server.js'

export interface ExternalServer {
  /** `http://127.0.0.1:port` */
  origin: string
  /** the process whose tree the bench counts (nginx's master, varnishd's manager) */
  pid: number
  /** e.g. "nginx/1.22.1" */
  version: string
  /** the response header whose value is "HIT" on a cache hit */
  hitHeader: string
  stop(): Promise<void>
}

const here = fileURLToPath(new URL('.', import.meta.url))

/**
 * The binary on the PATH, else in the sbin directories Debian installs daemons to (not on a
 * non-root user's PATH), else null.
 */
function findBinary(name: string, override: string | undefined): string | null {
  if (override !== undefined && override !== '') return override
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']
  for (const d of dirs) {
    if (d === '') continue
    try {
      accessSync(join(d, name), constants.X_OK)
      return join(d, name)
    } catch {
      /* not here */
    }
  }
  return null
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => values[k] ?? m)
}

/** GET path on a fresh connection; resolves the status, or 0 when nothing answers. */
function statusOf(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    req.once('error', () => resolve(0))
    req.setTimeout(2000, () => req.destroy())
  })
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

/**
 * Spawns a server in the foreground, waits until it answers HTTP on `port` (any status), and
 * returns a stop() that sends SIGTERM (SIGKILL after 5 s) and removes `dir`.
 */
async function run(
  label: string,
  bin: string,
  args: string[],
  port: number,
  dir: string,
): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let output = ''
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // a binary that cannot be spawned emits 'error' and maybe never 'exit'
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', (err) => {
      keep(Buffer.from(String(err)))
      resolve()
    })
  })
  let gone = false
  void exited.then(() => {
    gone = true
    live.delete(child)
  })
  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 30_000
  while (!gone && (await statusOf(port, '/_bench_ready')) === 0) {
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${label} did not answer on port ${port} within 30 s:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  if (gone) {
    await stop()
    throw new Error(`${label} exited at start (${bin} ${args.join(' ')}):\n${output}`)
  }
  return { child, stop }
}

/** The first match of `re` in what `bin args` prints (nginx -v and varnishd -V print on stderr). */
function versionOf(bin: string, args: string[], re: RegExp): string {
  const r = spawnSync(bin, args, { encoding: 'utf8' })
  return re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[0] ?? 'unknown'
}

/** nginx with bench/nginx.conf in front of `originPort`, or a note saying why not. */
export async function startNginx(originPort: number): Promise<ExternalServer | string> {
  const bin = findBinary('nginx', process.env.BENCH_NGINX)
  if (bin === null) return 'nginx variant skipped: no nginx on the PATH (or in /usr/sbin)'
  const dir = mkdtempSync(join(tmpdir(), 'cachet-bench-nginx-'))
  // run as root, nginx's workers drop to "nobody", which must reach the cache under dir
  chmodSync(dir, 0o755)
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    fill(readFileSync(join(here, 'nginx.conf'), 'utf8'), {
      DIR: dir,
      PORT: String(port),
      ORIGIN_PORT: String(originPort),
    }),
  )
  // -e: the error log before the config is read (else the compiled-in /var/log/nginx/error.log)
  const { child, stop } = await run(
    'nginx',
    bin,
    ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')],
    port,
    dir,
  )
  return {
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    version: versionOf(bin, ['-v'], /nginx\/[\d.]+/),
    hitHeader: 'x-cache',
    stop,
  }
}

/** varnishd with bench/default.vcl in front of `originPort`, or a note saying why not. */
export async function startVarnish(originPort: number): Promise<ExternalServer | string> {
  const bin = findBinary('varnishd', process.env.BENCH_VARNISHD)
  if (bin === null) return 'varnish variant skipped: no varnishd on the PATH (or in /usr/sbin)'
  const dir = mkdtempSync(join(tmpdir(), 'cachet-bench-varnish-'))
  const port = await freePort()
  const vcl = join(dir, 'default.vcl')
  writeFileSync(
    vcl,
    fill(readFileSync(join(here, 'default.vcl'), 'utf8'), { ORIGIN_PORT: String(originPort) }),
  )
  const args = [
    '-F', // foreground: the bench's child, stopped by SIGTERM
    '-j',
    'none', // no privilege separation jail: no varnish/vcache users needed, nothing outside dir
    '-a',
    `127.0.0.1:${port}`,
    '-T',
    'none', // no management port
    '-f',
    vcl,
    '-n',
    join(dir, 'work'),
    '-s',
    'malloc,64m',
  ]
  const { child, stop } = await run('varnishd', bin, args, port, dir)
  return {
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    version: versionOf(bin, ['-V'], /varnish-[\d.]+/),
    hitHeader: 'x-cache',
    stop,
  }
}
