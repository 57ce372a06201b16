/**
 * `cachet serve` as a reverse proxy (RFC 9110 §7.6, §9; the README "Command line"): every method with
 * its body, an upstream that fails (closed mid-response, refused, too slow), 1xx relayed,
 * concurrency, and the process itself: SIGTERM drains in-flight requests then exits 0, SIGHUP
 * reloads policies.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { EXIT_OK, EXIT_USAGE } from '../../src/cli/io.js'
import { SERVE_USAGE, serveCommand } from '../../src/cli/serve.js'
import { type ScriptedOrigin, startScriptedOrigin } from '../helpers/scripted-origin.js'
import { envs, eventually, gate, send } from './harness.js'

const test = suite('conformance: reverse proxy (RFC 9110 §7.6, §9)')
const pool = envs()
const children: ChildProcess[] = []
const origins: ScriptedOrigin[] = []
const dirs: string[] = []
test.after.each(async () => {
  await pool.closeAll()
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await Promise.all(origins.splice(0).map((o) => o.close()))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
  test(`RFC 9110 §9.3: ${method} is forwarded with its body, and its response comes back whatever the status`, async () => {
    const env = await pool.start()
    env.origin.script('/m', (req) => ({
      status: 299,
      headers: { 'x-echo-method': req.method },
      body: `got ${req.body.toString()}`,
    }))
    const r = await env.send('/m?x=1', {
      method,
      body: `payload for ${method}`,
      headers: { 'content-type': 'application/x-test' },
    })
    const got = env.origin.requests[0]!
    assert.is(got.method, method)
    assert.is(got.url, '/m?x=1')
    assert.is(got.body.toString(), `payload for ${method}`)
    assert.is(got.headers['content-type'], 'application/x-test')
    assert.is(r.status, 299)
    assert.is(r.headers['x-echo-method'], method)
    assert.is(r.body, `got payload for ${method}`)
  })
}

test('RFC 9112 §7.1: a chunked request body and a 1 MiB body reach the origin byte for byte', async () => {
  const env = await pool.start()
  env.origin.fallback((req) => ({ body: `len=${req.body.length}` }))
  const big = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
  const a = await env.send('/big', { method: 'PUT', body: big })
  assert.is(a.body, `len=${big.length}`)
  assert.ok(env.origin.requests[0]!.body.equals(big))
  const b = await env.send('/chunk', {
    method: 'POST',
    body: 'abc'.repeat(1000),
    headers: { 'transfer-encoding': 'chunked' },
  })
  assert.is(b.body, 'len=3000')
  assert.is(env.origin.requests[1]!.body.toString(), 'abc'.repeat(1000))
})

test('RFC 9111 §3.3: an upstream that closes mid-response gives the client a cut response and stores nothing', async () => {
  const env = await pool.start()
  const body = 'x'.repeat(10_000)
  env.origin.script(
    '/cut',
    { headers: { 'cache-control': 'max-age=60' }, body, cutAfter: 1000 },
    { headers: { 'cache-control': 'max-age=60' } },
  )
  const a = await env.send('/cut')
  assert.is(a.status, 200)
  assert.is(a.complete, false, 'the client can tell the response is incomplete')
  assert.ok(a.bytes.length < body.length)
  const b = await env.send('/cut')
  assert.is(b.body, 'response #2')
  assert.is(b.headers['cache-status'], 'cachet; fwd=uri-miss')
})

test('RFC 9111 §3.3: the same for a chunked upstream response cut short', async () => {
  const env = await pool.start()
  env.origin.script(
    '/cutc',
    { headers: { 'cache-control': 'max-age=60' }, body: 'y'.repeat(10_000), cutAfter: 1000, chunked: true },
    { headers: { 'cache-control': 'max-age=60' } },
  )
  const a = await env.send('/cutc')
  assert.is(a.complete, false)
  const b = await env.send('/cutc')
  assert.is(b.body, 'response #2')
})

test('RFC 9110 §15.6.3: an upstream that refuses the connection gives 502', async () => {
  const env = await pool.start()
  await env.origin.close()
  const r = await env.send('/down')
  assert.is(r.status, 502)
})

test('RFC 9110 §15.6.5: an upstream that does not answer within timeoutMs gives 504', async () => {
  const env = await pool.start({ timeoutMs: 200 })
  const never = gate()
  env.origin.script('/slow', { gate: never.promise })
  const r = await env.send('/slow')
  assert.is(r.status, 504)
  never.open()
})

test('RFC 8297: a 103 Early Hints from the origin reaches the client before the final response', async () => {
  const env = await pool.start()
  env.origin.script('/hints', {
    hints: { link: '</style.css>; rel=preload; as=style' },
    headers: { 'cache-control': 'max-age=60' },
  })
  const r = await env.send('/hints')
  assert.is(r.status, 200)
  assert.is(r.body, 'response #1')
  assert.is(r.informational.length, 1)
  assert.is(r.informational[0]!.status, 103)
  assert.is(r.informational[0]!.headers.link, '</style.css>; rel=preload; as=style')
})

test('concurrency: 30 requests in flight at once at the origin, each answered with its own response', async () => {
  const env = await pool.start()
  const all = gate()
  env.origin.fallback((req) => ({
    gate: all.promise,
    body: `body of ${req.url}`,
    headers: { 'cache-control': 'no-store' },
  }))
  const pending = Array.from({ length: 30 }, (_, i) => env.send(`/c/${i}?q=${i}`))
  await env.origin.waitForRequests(30, 'all 30 requests held at the origin at once')
  all.open()
  const answers = await Promise.all(pending)
  answers.forEach((a, i) => {
    assert.is(a.status, 200)
    assert.is(a.body, `body of /c/${i}?q=${i}`)
  })
  assert.is(env.origin.count, 30)
})

/** Runs `cachet serve` as its own process; resolves with its URL once it listens. */
async function spawnServe(
  upstream: string,
  extra: string[] = [],
): Promise<{ child: ChildProcess; url: string; out: () => string; exited: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/bin-cachet.ts',
      'serve',
      '--workers',
      '1',
      '--upstream',
      upstream,
      '--port',
      '0',
      ...extra,
    ],
    {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.push(child)
  let out = ''
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  await eventually(
    () => /cachet serve: (http:\/\/\S+)/.test(out) || child.exitCode !== null,
    'cachet serve started',
    20_000,
  )
  const m = /cachet serve: (http:\/\/\S+)/.exec(out)
  if (!m) throw new Error(`cachet serve did not start:\n${out}`)
  return { child, url: m[1]!, out: () => out, exited }
}

test('the README: SIGTERM lets an in-flight request finish, refuses new connections, then exits 0', async () => {
  const origin = await startScriptedOrigin()
  origins.push(origin)
  const held = gate()
  origin.script('/slow', { gate: held.promise, body: 'slow but complete' })
  const s = await spawnServe(origin.url)
  const inflight = send(s.url, '/slow')
  inflight.catch(() => {}) // awaited below; never an unhandled rejection if the test fails first
  await origin.waitForRequests(1, 'the slow request reached the origin')
  s.child.kill('SIGTERM')
  await eventually(() => /draining/.test(s.out()), 'cachet serve announced draining')
  const late = await send(s.url, '/late').then(
    () => 'answered',
    (err: NodeJS.ErrnoException) => err.code,
  )
  assert.is(late, 'ECONNREFUSED', 'a new connection after SIGTERM is refused')
  held.open()
  const r = await inflight
  assert.is(r.status, 200)
  assert.is(r.body, 'slow but complete')
  assert.is(r.complete, true)
  assert.is(await s.exited, 0)
})

test('the README: SIGHUP reloads the policies; a bad edit keeps the last good set', async () => {
  const origin = await startScriptedOrigin()
  origins.push(origin)
  const dir = mkdtempSync(join(tmpdir(), 'cachet-sighup-'))
  dirs.push(dir)
  const file = join(dir, 'p.yaml')
  writeFileSync(file, 'version: 1\nrules:\n  - id: all\n    match: /**\n    ttl: 60s\n    origin: override\n')
  const s = await spawnServe(origin.url, ['--policies', dir])
  const a = await send(s.url, '/page')
  assert.is(a.body, 'response #1')
  await eventually(
    async () => /^cachet; hit; ttl=\d+$/.test(String((await send(s.url, '/page')).headers['cache-status'])),
    'the entry is stored and hit',
  )
  const hits = origin.count

  writeFileSync(file, 'version: 1\nrules:\n  - id: all\n    match: /**\n    cache: false\n')
  s.child.kill('SIGHUP')
  await eventually(() => /policies reloaded/.test(s.out()), 'reload announced')
  const b = await send(s.url, '/page')
  assert.is(b.headers['cache-status'], 'cachet; fwd=bypass; detail=rule')
  assert.is(b.body, `response #${hits + 1}`)

  writeFileSync(file, 'version: 1\nrules:\n  - id: all\n    match: /**\n    ttl: five minutes\n')
  s.child.kill('SIGHUP')
  await eventually(() => /reload failed/.test(s.out()), 'reload failure reported')
  const c = await send(s.url, '/page')
  assert.is(c.headers['cache-status'], 'cachet; fwd=bypass; detail=rule', 'the last good set stays')
  s.child.kill('SIGTERM')
  assert.is(await s.exited, 0)
})

/** `cachet serve` driven in-process with captured output (only for runs that exit at once). */
async function serveCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await serveCommand(argv, {
    stdout: {
      write: (t: string) => {
        stdout += t
      },
    },
    stderr: {
      write: (t: string) => {
        stderr += t
      },
    },
    cwd: process.cwd(),
  })
  return { code, stdout, stderr }
}

test('--help lists every flag, the limits on slow clients and their defaults included', async () => {
  const r = await serveCli(['--help'])
  assert.is(r.code, EXIT_OK)
  assert.is(r.stdout, `${SERVE_USAGE}\n`)
  for (const flag of [
    '--upstream',
    '--port',
    '--host',
    '--policies',
    '--redis',
    '--name',
    '--timeout',
    '--headers-timeout',
    '--request-timeout',
    '--keep-alive-timeout',
    '--max-connections',
    '--upstream-sockets',
  ]) {
    assert.match(r.stdout, new RegExp(`\\n  ${flag} `), flag)
  }
})

test('numeric flags: anything but a whole number is a usage error naming the flag, before anything starts', async () => {
  const up = ['--upstream', 'http://127.0.0.1:9', '--port', '0']
  for (const [flag, value] of [
    ['--headers-timeout', '10s'],
    ['--max-connections', '0'],
    ['--upstream-sockets', '-1'],
    ['--keep-alive-timeout', '1e3'],
    ['--request-timeout', 'none'],
    ['--timeout', ''],
  ] as const) {
    const r = await serveCli([...up, `${flag}=${value}`])
    assert.is(r.code, EXIT_USAGE, `${flag} ${value}`)
    assert.match(r.stderr, `${flag} must be a`)
  }
  const r = await serveCli([...up, '--headers-timeout', '5000', '--request-timeout', '1000'])
  assert.is(r.code, EXIT_USAGE)
  assert.match(r.stderr, 'requestTimeoutMs (1000) must be 0 or at least headersTimeoutMs (5000)')
})

test.run()
