/**
 * `cachet serve` logs JSON lines on stdout (issue 9 item 4), the cache's own events included,
 * with one access line per request unless `--quiet`; read from a spawned `cachet serve`'s stdout, in
 * front of a real origin. `--log-format text` keeps the plain lines.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { EXIT_USAGE } from '../../src/cli/io.js'
import { serveCommand } from '../../src/cli/serve.js'
import { runCli } from '../helpers/cli.js'
import { eventually, request } from '../helpers/http.js'
import { policyDir, writePolicy, yaml } from '../helpers/policies.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 1m
      key: { query: none }
`)

const s = suite('cachet serve: JSON log lines and the access log')
const children: ChildProcess[] = []
const servers: Server[] = []
s.after.each(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
  for (const srv of servers.splice(0)) await new Promise((r) => srv.close(r))
})

async function origin(): Promise<string> {
  const srv = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain')
    res.end(`origin ${req.url}`)
  })
  servers.push(srv)
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
}

async function serve(
  args: string[],
): Promise<{ child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/bin-cachet.ts', 'serve', '--workers', '1', '--port', '0', ...args],
    {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.push(child)
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  await eventually(
    () => /cachet serve: http:\/\//.test(out) || child.exitCode !== null,
    'cachet serve started',
    20_000,
  )
  return { child, out: () => out, err: () => err, exited }
}

/** every stdout line parsed: each one must be a JSON object */
function records(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const r = JSON.parse(l) as Record<string, unknown>
      assert.type(r.time, 'string')
      assert.ok(!Number.isNaN(Date.parse(String(r.time))), l)
      assert.type(r.msg, 'string')
      return r
    })
}

s(
  'every stdout line is a JSON object; access lines for a miss, a hit and a bypass; a reload at info',
  async () => {
    const up = await origin()
    const dir = policyDir(POLICY)
    const p = await serve(['--upstream', up, '--policies', dir])
    const listening = records(p.out()).find((r) => r.event === 'listening')!
    const url = String(listening.url)
    assert.equal(
      { ...listening, time: 0 },
      {
        time: 0,
        level: 'info',
        event: 'listening',
        url,
        upstream: up,
        policies: dir,
        store: 'memory',
        version: listening.version,
        msg: `cachet serve: ${url} → ${up} (policies ${dir}, memory store)`,
      },
    )

    const first = await request(`${url}/pages/a?token=secret`)
    assert.is(first.headers['cache-status'], 'cachet; fwd=uri-miss')
    await eventually(
      async () => /^cachet; hit/.test((await request(`${url}/pages/a`)).headers['cache-status'] ?? ''),
      'a hit',
    )
    await request(`${url}/pages/a`, { headers: { cookie: 'a=1' } })
    await request(`${url}/elsewhere`)
    await eventually(
      () => records(p.out()).filter((r) => r.event === 'access' && r.path === '/elsewhere').length === 1,
      'the access lines written',
    )
    const access = records(p.out()).filter((r) => r.event === 'access')
    for (const a of access) {
      assert.is(a.level, 'info')
      assert.type(a.durationMs, 'number')
      assert.ok((a.durationMs as number) >= 0)
    }
    const strip = (a: Record<string, unknown>) => {
      const { time: _t, durationMs: _d, ...rest } = a
      return rest
    }
    const hitLine = access.find((a) => a.outcome === 'hit')!
    assert.equal(strip(access[0]!), {
      level: 'info',
      event: 'access',
      method: 'GET',
      path: '/pages/a',
      httpVersion: '1.1',
      remoteAddress: '127.0.0.1',
      status: 200,
      bytes: 15,
      outcome: 'miss',
      reason: null,
      rule: 'pages',
      cacheStatus: 'cachet; fwd=uri-miss',
      completed: true,
      msg: 'GET /pages/a 200',
    })
    assert.ok(!p.out().includes('secret'), 'the query is not logged')
    assert.equal(
      { ...strip(hitLine), cacheStatus: /^cachet; hit; ttl=\d+$/.test(String(hitLine.cacheStatus)) },
      {
        level: 'info',
        event: 'access',
        method: 'GET',
        path: '/pages/a',
        httpVersion: '1.1',
        remoteAddress: '127.0.0.1',
        status: 200,
        bytes: 15,
        outcome: 'hit',
        reason: null,
        rule: 'pages',
        cacheStatus: true,
        completed: true,
        msg: 'GET /pages/a 200',
      },
    )
    assert.equal(strip(access.at(-2)!), {
      level: 'info',
      event: 'access',
      method: 'GET',
      path: '/pages/a',
      httpVersion: '1.1',
      remoteAddress: '127.0.0.1',
      status: 200,
      bytes: 15,
      outcome: 'bypass',
      reason: 'cookie',
      rule: 'pages',
      cacheStatus: 'cachet; fwd=bypass; detail=cookie',
      completed: true,
      msg: 'GET /pages/a 200',
    })
    assert.equal(strip(access.at(-1)!), {
      level: 'info',
      event: 'access',
      method: 'GET',
      path: '/elsewhere',
      httpVersion: '1.1',
      remoteAddress: '127.0.0.1',
      status: 200,
      bytes: 17,
      outcome: null,
      reason: null,
      rule: null,
      cacheStatus: null,
      completed: true,
      msg: 'GET /elsewhere 200',
    })

    writePolicy(dir, POLICY.replace('ttl: 1m', 'ttl: 2m'))
    p.child.kill('SIGHUP')
    await eventually(() => records(p.out()).some((r) => r.event === 'reload'), 'the reload logged')
    const reload = records(p.out()).find((r) => r.event === 'reload')!
    assert.equal(
      { ...reload, time: 0 },
      {
        time: 0,
        level: 'info',
        event: 'reload',
        cache: 'cachet',
        outcome: 'applied',
        version: reload.version,
        rules: 1,
        files: 1,
        msg: `policies reloaded: version ${reload.version}, 1 rules`,
      },
    )
    assert.is.not(reload.version, listening.version)
    p.child.kill('SIGTERM')
    assert.is(await p.exited, 0)
    assert.is(records(p.out()).at(-1)!.event, 'draining')
    assert.is(p.err(), '', 'nothing on stderr')
  },
)

s('with --quiet there is no access line; a failed reload is one error line', async () => {
  const up = await origin()
  const dir = policyDir(POLICY)
  const p = await serve(['--upstream', up, '--policies', dir, '--quiet'])
  const url = String(records(p.out())[0]!.url)
  await request(`${url}/pages/a`)
  writePolicy(dir, 'version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: five minutes\n')
  p.child.kill('SIGHUP')
  await eventually(() => records(p.out()).some((r) => r.event === 'reload'), 'the failure logged')
  const lines = records(p.out())
  assert.equal(
    lines.map((r) => r.event),
    ['listening', 'reload'],
  )
  assert.is(lines[1]!.level, 'error')
  assert.is(lines[1]!.outcome, 'failed')
  assert.is((lines[1]!.errors as { code: string }[])[0]!.code, 'DURATION_FORMAT')
  p.child.kill('SIGTERM')
  assert.is(await p.exited, 0)
})

s('--log-format text: the plain lines, and access lines in Common Log Format', async () => {
  const up = await origin()
  const p = await serve(['--upstream', up, '--log-format', 'text'])
  const url = /cachet serve: (http:\/\/\S+)/.exec(p.out())![1]!
  await request(`${url}/x?q=1`)
  await eventually(() => /GET \/x /.test(p.out()), 'the access line')
  assert.match(p.out(), /^cachet serve: http:\/\/\S+ → \S+ \(plain RFC 9111 shared cache, memory store\)\n/)
  assert.match(
    p.out(),
    /\n127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/x HTTP\/1\.1" 200 13 miss rule=default \d+(\.\d+)?ms\n/,
  )
  p.child.kill('SIGTERM')
  assert.is(await p.exited, 0)
  assert.match(p.out(), /cachet serve: draining\n$/)
})

s('a bad --log-format or --log-level is a usage error, before anything starts', async () => {
  for (const argv of [
    ['--log-format', 'xml'],
    ['--log-level', 'verbose'],
  ]) {
    const r = await runCli(serveCommand, ['--upstream', 'http://127.0.0.1:9', ...argv])
    assert.is(r.code, EXIT_USAGE, argv.join(' '))
    assert.match(r.err, /--log-format must be json or text, --log-level error, warn, info or debug/)
    assert.is(r.out, '')
  }
})

s.run()
