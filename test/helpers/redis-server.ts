/**
 * A real `redis-server` per test file, on a free port, in a throw-away directory: the store tests
 * fault-inject the way Redis' own Tcl suite does (SIGSTOP/SIGCONT for "hung but connected", SIGKILL
 * for a crash, `CONFIG SET maxmemory` for OOM), which no mock can reproduce faithfully.
 * The system Redis on 6379 is never touched.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RedisProc {
  readonly port: number
  readonly url: string
  /** pid of the current process (changes after `restart()`) */
  readonly pid: number
  /** SIGTERM (after SIGCONT, in case it is paused), wait for exit, remove the temp dir; idempotent */
  stop(): Promise<void>
  /** SIGKILL and wait for exit; the temp dir stays so `restart()` can reuse it */
  kill(): Promise<void>
  /** SIGSTOP: the socket stays open but nothing answers */
  pause(): void
  /** SIGCONT */
  resume(): void
  /** start again on the same port and dir (stopping the current process first if it runs) */
  restart(): Promise<void>
  /** `redis-cli -p PORT ...args`, resolves its stdout (trailing newline removed) */
  cli(...args: string[]): Promise<string>
}

export interface StartRedisOptions {
  /** extra redis-server arguments, e.g. `['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru']` */
  args?: string[]
}

const live = new Set<ChildProcess>()
// A test file that crashes must not leave servers behind: kill them synchronously on exit.
process.once('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {
      /* already gone */
    }
  }
})

/** A port nobody listens on right now: bind port 0 and close (a race we absorb by retrying). */
/** `redis-cli -p PORT args…`: its stdout without the final newline. */
export function redisCli(port: number, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile('redis-cli', ['-p', String(port), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${err.message}\n${stderr}`))
      else resolve(stdout.replace(/\n$/, ''))
    })
  })
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** One raw `PING` over TCP: cheaper than spawning redis-cli in a poll loop. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(500, () => done(false))
    sock.once('error', () => done(false))
    sock.on('data', (d) => {
      buf += d.toString()
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'))
    })
    sock.once('connect', () => sock.write('PING\r\n'))
  })
}

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      // Escalate rather than hang the test file.
      try {
        child.kill('SIGKILL')
      } catch {
        /* gone */
      }
    }, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

interface Spawned {
  child: ChildProcess
  output: () => string
}

function spawnServer(port: number, dir: string, extra: readonly string[]): Spawned {
  const args = [
    '--save',
    '',
    '--appendonly',
    'no',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    ...extra,
  ]
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  // Drain both pipes (a full pipe would block the server) and keep the tail for error messages.
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  live.add(child)
  child.once('exit', () => live.delete(child))
  return { child, output: () => out }
}

async function waitUp(sp: Spawned, port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (sp.child.exitCode !== null || sp.child.signalCode !== null) {
      throw new Error(
        `redis-server on port ${port} exited (${sp.child.exitCode ?? sp.child.signalCode}):\n${sp.output()}`,
      )
    }
    if (await ping(port)) return
    await delay(20)
  }
  sp.child.kill('SIGKILL')
  throw new Error(`redis-server on port ${port} did not answer PING within ${ms} ms:\n${sp.output()}`)
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisProc> {
  const extra = opts.args ?? []
  const dir = mkdtempSync(join(tmpdir(), 'cachet-redis-'))
  let port = 0
  let sp: Spawned | undefined
  // The free-port probe races with every other process on the machine: retry on a lost race.
  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    sp = spawnServer(port, dir, extra)
    try {
      await waitUp(sp, port)
      break
    } catch (err) {
      await waitExit(sp.child, 2000)
      if (attempt >= 4 || !/in use|bind/i.test(sp.output())) {
        rmSync(dir, { recursive: true, force: true })
        throw err
      }
    }
  }
  let current: Spawned = sp
  let removed = false
  const running = () => current.child.exitCode === null && current.child.signalCode === null

  const proc: RedisProc = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return current.child.pid ?? -1
    },
    async stop() {
      if (running()) {
        current.child.kill('SIGCONT')
        current.child.kill('SIGTERM')
        await waitExit(current.child, 5000)
      }
      if (!removed) {
        removed = true
        rmSync(dir, { recursive: true, force: true })
      }
    },
    async kill() {
      if (!running()) return
      current.child.kill('SIGKILL')
      await waitExit(current.child, 5000)
    },
    pause() {
      if (running()) current.child.kill('SIGSTOP')
    },
    resume() {
      if (running()) current.child.kill('SIGCONT')
    },
    async restart() {
      if (running()) {
        current.child.kill('SIGCONT')
        current.child.kill('SIGTERM')
        await waitExit(current.child, 5000)
      }
      current = spawnServer(port, dir, extra)
      await waitUp(current, port)
    },
    cli(...args: string[]) {
      return redisCli(port, args)
    },
  }
  return proc
}
