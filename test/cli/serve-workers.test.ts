/**
 * `cachet serve --workers N` (issue 11 item 4): the real command spawned with two workers in
 * front of a real origin, over loopback. Which worker answered is read from behaviour: each
 * worker has its own memory store, so the same URL fetched on new connections (the primary
 * hands them out round robin) costs the origin one request per worker before both hit.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { EXIT_USAGE } from '../../src/cli/io.js'
import { serveCommand } from '../../src/cli/serve.js'
import { runCli } from '../helpers/cli.js'
import { eventually, request } from '../helpers/http.js'
import { policyDir, writePolicy, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const TOKEN = 'workers-test-token-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }
// `key.query: all` draws the QUERY_UNBOUNDED lint warning at start (and at each reload)
const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 1m
      key: { query: all }
`)

const s = suite('cachet serve --workers: a node:cluster fleet')
const children: ChildProcess[] = []
const servers: Server[] = []
let redis: RedisProc | undefined
s.after.each(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null) continue
    for (const pid of workerPids(c)) signal(pid, 'SIGCONT')
    for (const pid of workerPids(c)) signal(pid, 'SIGKILL')
    c.kill('SIGKILL')
  }
  for (const srv of servers.splice(0)) await new Promise((r) => srv.close(r))
})
s.after(async () => {
  await redis?.stop()
})

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    /* gone */
  }
}

/** The primary's child processes: its workers (Linux /proc). */
function workerPids(c: ChildProcess): number[] {
  const f = `/proc/${c.pid}/task/${c.pid}/children`
  if (!existsSync(f)) return []
  return readFileSync(f, 'utf8')
    .split(' ')
    .filter((x) => x !== '')
    .map(Number)
}

/** An origin whose answers carry a count per path: `<path> v<n>`; `/slow/…` answers after 1 s. */
async function origin(): Promise<{ url: string; count(path: string): number }> {
  const counts = new Map<string, number>()
  const srv = createServer((req, res) => {
    const path = (req.url ?? '/').replace(/\?.*/, '')
    const n = (counts.get(path) ?? 0) + 1
    counts.set(path, n)
    res.setHeader('content-type', 'text/plain')
    res.setHeader('cache-control', 'max-age=60')
    const send = () => res.end(`${path} v${n}`)
    if (path.startsWith('/slow/')) setTimeout(send, 1000)
    else send()
  })
  servers.push(srv)
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    count: (path) => counts.get(path) ?? 0,
  }
}

interface Fleet {
  child: ChildProcess
  url: string
  admin: string
  out(): string
  err(): string
  lines(): Record<string, unknown>[]
  exited: Promise<number | null>
}

async function serve(args: string[], text = false): Promise<Fleet> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/bin-cachet.ts',
      'serve',
      '--port',
      '0',
      '--admin-port',
      '0',
      '--workers',
      '2',
      ...(text ? ['--log-format', 'text'] : []),
      ...args,
    ],
    {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CACHET_ADMIN_TOKEN: TOKEN },
    },
  )
  children.push(child)
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  await eventually(
    () =>
      (text ? /admin console /.test(out) : lines().some((r) => r.event === 'admin-listening')) ||
      child.exitCode !== null,
    'cachet serve --workers 2 started',
    60_000,
  )
  assert.is(child.exitCode, null, err)
  const url = text
    ? /^cachet serve: (http:\/\/\S+) →/m.exec(out)![1]!
    : String(lines().find((r) => r.event === 'listening')!.url)
  const admin = text
    ? /^cachet serve: admin console (http:\/\/\S+)\/_cachet\/$/m.exec(out)![1]!
    : String(lines().find((r) => r.event === 'admin-listening')!.url).replace(/\/_cachet\/$/, '')
  return { child, url, admin, out: () => out, err: () => err, lines, exited }
}

/** Requests `path` on new connections until the origin has answered it `n` times (one miss per worker). */
async function fill(f: Fleet, o: { count(path: string): number }, path: string, n = 2): Promise<string[]> {
  const bodies: string[] = []
  for (let i = 0; i < 40 && o.count(path) < n; i++) bodies.push((await request(`${f.url}${path}`)).body)
  assert.is(o.count(path), n, `${path}: one origin request per worker`)
  return bodies
}

s('requests reach both workers; one listening line for the fleet; each worker logs as itself', async () => {
  const o = await origin()
  const dir = policyDir(POLICY)
  const f = await serve(['--upstream', o.url, '--policies', dir])
  const listening = f.lines().filter((r) => r.event === 'listening')
  assert.is(listening.length, 1, 'the listening line once')
  assert.equal(
    { ...listening[0], time: 0, version: 0 },
    {
      time: 0,
      level: 'info',
      event: 'listening',
      url: f.url,
      upstream: o.url,
      policies: dir,
      store: 'memory',
      version: 0,
      workers: 2,
      msg: `cachet serve: ${f.url} → ${o.url} (policies ${dir}, memory store, 2 workers)`,
    },
  )
  // the lint warning: once for the fleet (worker 1 writes it), not once per worker
  const warned = f
    .lines()
    .filter((r) => r.code === 'QUERY_UNBOUNDED')
    .map((r) => r.worker)
  assert.equal(warned, [1])

  // two stores: the first two requests are misses, each answered by the origin
  const bodies = await fill(f, o, '/pages/a')
  assert.ok(bodies.includes('/pages/a v1') && bodies.includes('/pages/a v2'), bodies.join())
  for (let i = 0; i < 6; i++) {
    const r = await request(`${f.url}/pages/a`)
    assert.match(r.headers['cache-status'] ?? '', /^cachet; hit; ttl=\d+$/)
    assert.ok(['/pages/a v1', '/pages/a v2'].includes(r.body), r.body)
  }
  assert.is(o.count('/pages/a'), 2)
  // the access log: each line says which worker answered, and both did
  await eventually(
    () => f.lines().filter((r) => r.event === 'access').length === bodies.length + 6,
    'the access lines written',
  )
  const answeredBy = new Set(f.lines().flatMap((r) => (r.event === 'access' ? [r.worker] : [])))
  assert.equal([...answeredBy].sort(), [1, 2])

  // /stats and /metrics: the sum over both workers, not one worker's counters
  const stats = JSON.parse((await request(`${f.admin}/_cachet/stats`, { headers: AUTH })).body) as {
    rules: { id: string; outcomes: Record<string, number>; stored: number }[]
  }
  const pages = stats.rules.find((r) => r.id === 'pages')!
  assert.is(pages.outcomes.miss, 2)
  assert.is(pages.outcomes.hit, bodies.length - 2 + 6)
  assert.is(pages.stored, 2)
  const metrics = (await request(`${f.admin}/_cachet/metrics`, { headers: AUTH })).body
  assert.match(metrics, /\ncachet_requests_total\{cache="cachet",rule="pages",outcome="miss"\} 2\n/)
  assert.match(metrics, /\ncachet_workers\{cache="cachet"\} 2\n/)
  f.child.kill('SIGTERM')
  assert.is(await f.exited, 0)
  assert.is(f.err(), '')
})

s('--log-format text: the startup warnings once on stderr; each access line names its worker', async () => {
  const o = await origin()
  const f = await serve(['--upstream', o.url, '--policies', policyDir(POLICY)], true)
  const bodies = await fill(f, o, '/pages/t')
  const access = () =>
    f
      .out()
      .split('\n')
      .filter((l) => l.includes('"GET /pages/t HTTP/1.1"'))
  await eventually(() => access().length === bodies.length, 'the access lines written')
  for (const l of access())
    assert.match(
      l,
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/pages\/t HTTP\/1\.1" 200 \d+ (miss|hit) rule=pages worker=[12] [\d.]+ms$/,
    )
  const workers = new Set(access().map((l) => /worker=(\d)/.exec(l)![1]))
  assert.equal([...workers].sort(), ['1', '2'])
  // the lint warning, once for the fleet
  assert.is(f.err().match(/key\.query: all keys every parameter/g)?.length, 1, f.err())
  f.child.kill('SIGTERM')
  assert.is(await f.exited, 0)
})

s('a purge through the admin port empties every worker before it answers', async () => {
  const o = await origin()
  const f = await serve(['--upstream', o.url, '--policies', policyDir(POLICY)])
  const before = await fill(f, o, '/pages/p')
  assert.ok(before.includes('/pages/p v1') && before.includes('/pages/p v2'), before.join())
  const purged = await request(`${f.admin}/_cachet/purge`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ urls: ['/pages/p'] }),
  })
  assert.is(purged.status, 200, purged.body)
  assert.equal(JSON.parse(purged.body), { ok: true, tags: 0, urls: 1, rules: 0, all: false, generations: 1 })
  // no worker answers from before the purge: each one fetches again, once
  for (let i = 0; i < 8; i++) {
    const r = await request(`${f.url}/pages/p`)
    assert.ok(r.body === '/pages/p v3' || r.body === '/pages/p v4', `served after the purge: ${r.body}`)
  }
  assert.is(o.count('/pages/p'), 4, 'each worker fetched again, once')
  const stats = JSON.parse((await request(`${f.admin}/_cachet/stats`, { headers: AUTH })).body) as {
    purges: number
  }
  assert.is(stats.purges, 1, 'one purge, not one per worker')
})

s('a worker that does not acknowledge a purge makes it fail (503), not succeed', async () => {
  const o = await origin()
  const f = await serve(['--upstream', o.url, '--policies', policyDir(POLICY)])
  await fill(f, o, '/pages/q')
  const pids = workerPids(f.child)
  assert.is(pids.length, 2)
  signal(pids[1]!, 'SIGSTOP')
  const purge = () =>
    request(`${f.admin}/_cachet/purge`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ urls: ['/pages/q'] }),
    })
  const failed = await purge()
  assert.is(failed.status, 503, failed.body)
  assert.is((JSON.parse(failed.body) as { ok: boolean }).ok, false)
  signal(pids[1]!, 'SIGCONT')
  const retried = await purge()
  assert.is(retried.status, 200, retried.body)
  for (let i = 0; i < 6; i++) {
    const r = await request(`${f.url}/pages/q`)
    assert.ok(!['/pages/q v1', '/pages/q v2'].includes(r.body), `served after the purge: ${r.body}`)
  }
})

s(
  'SIGHUP reloads every worker, logged once; a bad edit is one error line and the last good set stays',
  async () => {
    const o = await origin()
    const dir = policyDir(POLICY)
    const f = await serve(['--upstream', o.url, '--policies', dir])
    // not cached before the reload: no rule matches /more/
    assert.is((await request(`${f.url}/more/x`)).headers['cache-status'], undefined)
    writePolicy(
      dir,
      yaml(`
      version: 1
      rules:
        - id: pages
          match: /pages/**
          ttl: 1m
          key: { query: all }
        - id: more
          match: /more/**
          ttl: 1m
          key: { query: none }
    `),
    )
    f.child.kill('SIGHUP')
    await eventually(() => f.lines().some((r) => r.event === 'reload'), 'the reload logged')
    const reload = f.lines().filter((r) => r.event === 'reload')
    assert.is(reload.length, 1, 'one line for the fleet')
    // the lint warning about `pages`: once at start, once at the reload (not once per worker)
    await new Promise((r) => setTimeout(r, 300))
    assert.is(f.lines().filter((r) => r.code === 'QUERY_UNBOUNDED').length, 2)
    assert.equal(
      { ...reload[0], time: 0, version: 0 },
      {
        time: 0,
        level: 'info',
        cache: 'cachet',
        event: 'reload',
        outcome: 'applied',
        version: 0,
        rules: 2,
        files: 1,
        workers: 2,
        msg: `policies reloaded: version ${reload[0]!.version}, 2 rules`,
      },
    )
    // both workers serve the new rule: one origin request each, then hits
    const before = o.count('/more/x')
    for (let i = 0; i < 40 && o.count('/more/x') < before + 2; i++) {
      const r = await request(`${f.url}/more/x`)
      assert.match(r.headers['cache-status'] ?? '', /^cachet; /)
    }
    assert.is(o.count('/more/x'), before + 2)

    writePolicy(dir, 'version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: five minutes\n')
    f.child.kill('SIGHUP')
    await eventually(() => f.lines().filter((r) => r.event === 'reload').length === 2, 'the failure logged')
    await new Promise((r) => setTimeout(r, 300))
    const failed = f.lines().filter((r) => r.event === 'reload')
    assert.is(failed.length, 2, 'the failure: one line')
    assert.is(failed[1]!.level, 'error')
    assert.is(failed[1]!.outcome, 'failed')
    assert.is(failed[1]!.workers, 2)
    assert.is((failed[1]!.errors as { code: string }[])[0]!.code, 'DURATION_FORMAT')
    for (let i = 0; i < 6; i++)
      assert.match((await request(`${f.url}/more/x`)).headers['cache-status'] ?? '', /^cachet; hit/)
    f.child.kill('SIGTERM')
    assert.is(await f.exited, 0)
  },
)

s('SIGTERM: every worker drains its requests, then the command exits 0', async () => {
  const o = await origin()
  const f = await serve(['--upstream', o.url, '--policies', policyDir(POLICY)])
  const pids = workerPids(f.child)
  assert.is(pids.length, 2)
  // one slow request on each worker (new connections alternate), in flight when SIGTERM comes
  const slow = [request(`${f.url}/slow/1`), request(`${f.url}/slow/2`)]
  await eventually(() => o.count('/slow/1') + o.count('/slow/2') === 2, 'both slow requests at the origin')
  f.child.kill('SIGTERM')
  const answers = await Promise.all(slow)
  assert.equal(
    answers.map((r) => [r.status, r.body]),
    [
      [200, '/slow/1 v1'],
      [200, '/slow/2 v1'],
    ],
  )
  assert.is(await f.exited, 0)
  for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}`), `worker ${pid} exited`)
  assert.is(f.lines().filter((r) => r.event === 'draining').length, 1)
})

interface Counts {
  miss: number
  hit: number
  stored: number
  metricsMiss: number
  metricsHit: number
}

/** The fleet's counters for rule `pages`, from /stats and /metrics. */
async function counts(f: Fleet): Promise<Counts> {
  const stats = JSON.parse((await request(`${f.admin}/_cachet/stats`, { headers: AUTH })).body) as {
    rules: { id: string; outcomes: Record<string, number>; stored: number }[]
  }
  const pages = stats.rules.find((r) => r.id === 'pages')!
  const metrics = (await request(`${f.admin}/_cachet/metrics`, { headers: AUTH })).body
  const metric = (outcome: string) =>
    Number(
      new RegExp(`\ncachet_requests_total{cache="cachet",rule="pages",outcome="${outcome}"} (\\d+)\n`).exec(
        metrics,
      )?.[1] ?? 0,
    )
  return {
    miss: pages.outcomes.miss ?? 0,
    hit: pages.outcomes.hit ?? 0,
    stored: pages.stored,
    metricsMiss: metric('miss'),
    metricsHit: metric('hit'),
  }
}

s('a worker killed is logged and replaced; the fleet serves on, its counters never going back', async () => {
  const o = await origin()
  const f = await serve(['--upstream', o.url, '--policies', policyDir(POLICY)])
  const bodies = await fill(f, o, '/pages/c')
  const before = await counts(f)
  assert.equal(before, {
    miss: 2,
    hit: bodies.length - 2,
    stored: 2,
    metricsMiss: 2,
    metricsHit: bodies.length - 2,
  })
  const [victim] = workerPids(f.child)
  signal(victim!, 'SIGKILL')
  await eventually(
    () => f.lines().some((r) => r.event === 'worker-listening'),
    'the replacement listening',
    60_000,
  )
  const exit = f.lines().find((r) => r.event === 'worker-exit')!
  assert.is(exit.level, 'error')
  assert.is(exit.pid, victim)
  assert.is(exit.signal, 'SIGKILL')
  assert.is(exit.restartInMs, 100)
  const back = f.lines().find((r) => r.event === 'worker-listening')!
  assert.is(back.worker, exit.worker)
  assert.is.not(back.pid, victim)
  const pids = workerPids(f.child)
  assert.is(pids.length, 2)
  assert.ok(pids.includes(back.pid as number))
  // the dead worker's counts stay in the sum (what it held is gone: one entry stored now)
  assert.equal(await counts(f), { ...before, stored: 1 })
  const more = await fill(f, o, '/pages/k')
  const after = await counts(f)
  assert.equal(after, {
    miss: before.miss + 2,
    hit: before.hit + more.length - 2,
    stored: 3,
    metricsMiss: before.miss + 2,
    metricsHit: before.hit + more.length - 2,
  })
  f.child.kill('SIGTERM')
  assert.is(await f.exited, 0)
})

/** Kills one worker and waits for its replacement's `worker-listening` line (the `n`th one). */
async function replaceOne(f: Fleet, n: number): Promise<void> {
  const [victim] = workerPids(f.child)
  signal(victim!, 'SIGKILL')
  await eventually(
    () =>
      f.lines().filter((r) => r.event === 'worker-listening').length === n ||
      f.lines().some((r) => r.event === 'worker-failed'),
    'the replacement listening',
    60_000,
  )
  assert.equal(
    f.lines().flatMap((r) => (r.event === 'worker-failed' ? [r.error] : [])),
    [],
    'the replacement started',
  )
  await eventually(() => workerPids(f.child).length === 2, 'two workers again')
}

const MORE = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 1m
      key: { query: all }
    - id: more
      match: /more/**
      ttl: 1m
`)

s(
  'a replacement worker runs the policies the fleet runs, not an edit on disk the fleet refused or never reloaded',
  async () => {
    const o = await origin()
    const dir = policyDir(POLICY)
    const f = await serve(['--upstream', o.url, '--policies', dir])
    const version = f.lines().find((r) => r.event === 'listening')!.version
    // a bad edit, refused at the reload: the fleet keeps its set
    writePolicy(dir, 'version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: five minutes\n')
    f.child.kill('SIGHUP')
    await eventually(() => f.lines().some((r) => r.event === 'reload'), 'the failed reload logged')
    assert.is(f.lines().find((r) => r.event === 'reload')!.outcome, 'failed')
    // the replacement starts (from the fleet's set: the files would not load) and serves it
    await replaceOne(f, 1)
    await fill(f, o, '/pages/b')
    for (let i = 0; i < 4; i++)
      assert.match((await request(`${f.url}/pages/b`)).headers['cache-status'] ?? '', /^cachet; hit/)

    // a good edit not reloaded (no SIGHUP): a replacement does not run it while the others do not
    writePolicy(dir, MORE)
    await replaceOne(f, 2)
    for (let i = 0; i < 6; i++)
      assert.is((await request(`${f.url}/more/x`)).headers['cache-status'], undefined, 'no rule for /more/')
    assert.is(o.count('/more/x'), 6)
    const stats = JSON.parse((await request(`${f.admin}/_cachet/stats`, { headers: AUTH })).body) as {
      policy: { version: string }
    }
    assert.is(stats.policy.version, version)

    // SIGHUP: every worker, the replacements too, reads the files again
    f.child.kill('SIGHUP')
    await eventually(() => f.lines().filter((r) => r.event === 'reload').length === 2, 'the reload logged')
    const applied = f.lines().filter((r) => r.event === 'reload')[1]!
    assert.is(applied.outcome, 'applied')
    assert.is(applied.workers, 2, 'the workers agree')
    await fill(f, o, '/more/y')
    f.child.kill('SIGTERM')
    assert.is(await f.exited, 0)
  },
)

s('--redis: one shared store; a purge is seen by every worker', async () => {
  redis ??= await startRedis()
  const o = await origin()
  const f = await serve(['--upstream', o.url, '--policies', policyDir(POLICY), '--redis', redis.url])
  assert.is(f.lines().find((r) => r.event === 'listening')!.store, 'redis')
  // the test's redis-server has no maxmemory: the fleet warns once, as one process does (each
  // worker's store checks its own connection)
  await eventually(() => f.err().includes('CACHET_REDIS_NO_EVICTION'), 'the eviction warning')
  assert.is(f.err().split('CACHET_REDIS_NO_EVICTION').length - 1, 1, f.err())
  // one store: the first worker's miss fills it for both
  assert.is((await request(`${f.url}/pages/r`)).body, '/pages/r v1')
  await eventually(async () => {
    for (let i = 0; i < 4; i++)
      if (!/hit/.test((await request(`${f.url}/pages/r`)).headers['cache-status'] ?? '')) return false
    return true
  }, 'hits on both workers')
  assert.is(o.count('/pages/r'), 1)
  const purged = await request(`${f.admin}/_cachet/purge`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ urls: ['/pages/r'] }),
  })
  assert.is(purged.status, 200, purged.body)
  for (let i = 0; i < 6; i++) assert.is.not((await request(`${f.url}/pages/r`)).body, '/pages/r v1')
  f.child.kill('SIGTERM')
  assert.is(await f.exited, 0)
})

s(
  'a fleet that cannot start says why once and exits 1 (in process: the primary is this process)',
  async () => {
    const dir = policyDir('version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: five minutes\n')
    const run = (workers: string) =>
      runCli(serveCommand, [
        '--workers',
        workers,
        '--upstream',
        'http://127.0.0.1:9',
        '--port',
        '0',
        '--policies',
        dir,
      ])
    const one = await run('1')
    const two = await run('2')
    assert.is(two.code, 1)
    assert.match(
      two.err,
      /^cachet serve: invalid cache policies:\n.*policy\.yaml:5:10: error: rule "a": ttl: expected a duration/,
    )
    assert.is(two.err, one.err, 'the message one process gives, once')
    assert.is(two.out, '')
  },
)

s('--workers takes a positive integer; --help lists it', async () => {
  for (const bad of ['0', '1.5', 'two', '']) {
    const r = await runCli(serveCommand, ['--upstream', 'http://127.0.0.1:9', '--workers', bad])
    assert.is(r.code, EXIT_USAGE, bad)
    assert.match(r.err, /--workers must be a positive integer/)
  }
  const help = await runCli(serveCommand, ['--help'])
  assert.match(
    help.out,
    /--workers <n> {15}processes serving the port \(node:cluster; default: the number of/,
  )
  assert.match(help.out, /each worker has its own memory store/)
})

s.run()
