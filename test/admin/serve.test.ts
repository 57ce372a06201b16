/**
 * `cachet serve --admin-port`: the admin routes on a listener of their own (loopback unless
 * --admin-host says otherwise), never on the proxy's port; the token from --admin-token or
 * CACHET_ADMIN_TOKEN; usage errors before anything listens. Real processes, real HTTP.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import Koa from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { EXIT_USAGE } from '../../src/cli/io.js'
import { type Serving, serveCommand, startServe } from '../../src/cli/serve.js'
import { eventually, type Listening, listen, request } from '../helpers/http.js'
import { policyDir, yaml } from '../helpers/policies.js'

const TOKEN = 'serve-admin-token-0123456789'
const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/*
      ttl: 1m
      origin: override
      tags: [pages]
    - id: everything
      match: /**
      ttl: 1m
      origin: override
`)

const s = suite('cachet serve --admin-port: the console on its own listener')
const serving: Serving[] = []
const upstreams: Listening[] = []
const children: ChildProcess[] = []
s.after.each(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await Promise.all(serving.splice(0).map((x) => x.stop(100)))
  await Promise.all(upstreams.splice(0).map((u) => u.close()))
})

async function upstream(): Promise<{ url: string; calls: Map<string, number> }> {
  const calls = new Map<string, number>()
  const app = new Koa()
  app.use((ctx) => {
    const n = (calls.get(ctx.path) ?? 0) + 1
    calls.set(ctx.path, n)
    ctx.body = `upstream #${n} ${ctx.path}`
  })
  const u = await listen(app)
  upstreams.push(u)
  return { url: u.url, calls }
}

s(
  'the admin listener serves the console and purges what the proxy cached; the proxy port does not',
  async () => {
    const up = await upstream()
    const x = await startServe({
      upstream: up.url,
      port: 0,
      policies: policyDir(POLICY),
      admin: { port: 0, token: TOKEN },
    })
    serving.push(x)
    assert.ok(x.adminUrl !== undefined && x.adminServer !== undefined)
    assert.match(x.adminUrl!, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback by default')
    assert.is.not(x.adminUrl, x.url)

    const root = await request(`${x.adminUrl}/`)
    assert.is(root.status, 302)
    assert.is(root.headers.location, '/_cachet/')
    const page = await request(`${x.adminUrl}/_cachet/`)
    assert.is(page.status, 200)
    assert.match(page.headers['content-type'] ?? '', /^text\/html/)
    assert.match(page.headers['content-security-policy'] ?? '', /^default-src 'none'/)
    assert.is((await request(`${x.adminUrl}/elsewhere`)).status, 404)

    // the proxy's port hands /_cachet/ to the upstream like any other path
    const proxied = await request(`${x.url}/_cachet/`)
    assert.is(proxied.body, 'upstream #1 /_cachet/')

    await request(`${x.url}/pages/a`)
    const hit = await request(`${x.url}/pages/a`)
    assert.match(hit.headers['cache-status'] ?? '', /^cachet; hit/)
    const purge = await request(`${x.adminUrl}/_cachet/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"tags":["pages"]}',
    })
    assert.is(purge.status, 200)
    assert.is(JSON.parse(purge.body).ok, true)
    const after = await request(`${x.url}/pages/a`)
    assert.match(after.headers['cache-status'] ?? '', /^cachet; fwd=uri-miss/)
    assert.is(after.body, 'upstream #2 /pages/a')
    const wrong = await request(`${x.adminUrl}/_cachet/purge`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token-at-all' },
      body: '{"tags":["pages"]}',
    })
    assert.is(wrong.status, 403)
  },
)

s('--admin-host chooses the address (another loopback one here)', async () => {
  const up = await upstream()
  const x = await startServe({
    upstream: up.url,
    port: 0,
    admin: { port: 0, host: '127.0.0.2', token: TOKEN },
  })
  serving.push(x)
  assert.match(x.adminUrl!, /^http:\/\/127\.0\.0\.2:\d+$/)
  assert.is((await request(`${x.adminUrl}/_cachet/`)).status, 200)
})

async function serveCli(
  argv: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await serveCommand(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    cwd: process.cwd(),
    env,
  })
  return { code, stdout, stderr }
}

s(
  'usage errors, before anything listens: a stray admin flag, no token, a bad port, a short token',
  async () => {
    const up = ['--upstream', 'http://127.0.0.1:9', '--port', '0']
    for (const [argv, env, message] of [
      [['--admin-token', TOKEN], {}, '--admin-token needs --admin-port'],
      [['--admin-host', '0.0.0.0'], {}, '--admin-host needs --admin-port'],
      [['--admin-public-metrics'], {}, '--admin-public-metrics needs --admin-port'],
      [
        ['--admin-port', '0'],
        {},
        '--admin-port needs a token: --admin-token <token> or the CACHET_ADMIN_TOKEN',
      ],
      [['--admin-port', '0'], { CACHET_ADMIN_TOKEN: '' }, '--admin-port needs a token'],
      [['--admin-port', 'x', '--admin-token', TOKEN], {}, '--admin-port must be 0-65535, got "x"'],
      [['--admin-port', '70000', '--admin-token', TOKEN], {}, '--admin-port must be 0-65535'],
      [
        ['--admin-port', '0', '--admin-token', 'short'],
        {},
        'admin token option must be a string of at least 16',
      ],
      [
        ['--admin-port', '0'],
        { CACHET_ADMIN_TOKEN: 'short' },
        'admin token option must be a string of at least 16',
      ],
    ] as const) {
      const r = await serveCli([...up, ...argv], env)
      assert.is(r.code, EXIT_USAGE, argv.join(' '))
      assert.match(r.stderr, message, argv.join(' '))
      assert.is(r.stdout, '', 'nothing started')
    }
  },
)

s(
  'the token from CACHET_ADMIN_TOKEN; the command prints the console URL; SIGTERM stops both listeners',
  async () => {
    const up = await upstream()
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
        up.url,
        '--port',
        '0',
        '--admin-port',
        '0',
      ],
      {
        cwd: new URL('../..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CACHET_ADMIN_TOKEN: TOKEN },
      },
    )
    children.push(child)
    let out = ''
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    await eventually(
      () => /admin console (\S+)/.test(out) || child.exitCode !== null,
      'cachet serve printed the console URL',
      20_000,
    )
    // the command logs JSON lines: the message ends at the closing quote
    const console = /cachet serve: admin console (http:\/\/127\.0\.0\.1:\d+\/_cachet\/)"/.exec(out)?.[1]
    assert.ok(console, out)
    assert.is((await request(console!)).status, 200)
    const explained = await request(`${console}explain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: '{"url":"/x"}',
    })
    assert.is(explained.status, 200, 'the token came from the environment')
    assert.is(JSON.parse(explained.body).rule, 'default')
    child.kill('SIGTERM')
    assert.is(await exited, 0)
    const late = await request(console!).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    )
    assert.is(late, 'ECONNREFUSED', 'the admin listener is closed too')
  },
)

s.run()
