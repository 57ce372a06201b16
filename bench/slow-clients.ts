/**
 * Slow clients against `cachet serve` (issue 12 item 11): while an attacker holds N connections
 * open that never finish their request headers (Slowloris), how do ordinary visitors fare?
 *
 * Three processes, so that no one's file descriptors are another's: this one (an upstream that
 * answers `200 ok` with `Cache-Control: no-store`, so every visitor's request goes through to it,
 * and the visitors: one new connection per request, every VISIT_MS), `cachet serve` (the real
 * command, `node --import tsx src/cli/bin-cachet.ts serve`), and the attacker (this file again,
 * forked), which opens N connections as fast as it can, sends a partial request head on each and
 * then one more header line every DRIBBLE_MS, and reopens every connection the server closes.
 *
 *   npx tsx bench/slow-clients.ts                                  # 19,000 connections, 30 s attack
 *   SLOW_N=5000 SLOW_ATTACK_S=20 npx tsx bench/slow-clients.ts
 *   SLOW_SERVE_ARGS="--headers-timeout 5000" npx tsx bench/slow-clients.ts
 *   SLOW_MODE=idle npx tsx bench/slow-clients.ts                   # connect, send nothing
 *   SLOW_SERVE_NOFILE=10000 SLOW_N=12000 npx tsx bench/slow-clients.ts   # more than serve's fd limit
 *   SLOW_UPSTREAM_CLOSE=1 npx tsx bench/slow-clients.ts            # no keep-alive to the upstream
 *   SLOW_VISIT_KEEPALIVE=1 npx tsx bench/slow-clients.ts           # visitors on kept-alive connections
 *   SLOW_JSON=out.json npx tsx bench/slow-clients.ts
 *
 * Each process has the shell's `ulimit -n` (raise it first for a larger N). Figures are for one
 * machine: read them as "did visitors get through, and how long did they wait".
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

const env = (name: string, d: number) => (process.env[name] === undefined ? d : Number(process.env[name]))

interface Visit {
  t: number
  ms: number
  status: number | string
}

async function attacker(): Promise<void> {
  const port = Number(process.env.SLOW_PORT)
  const n = env('SLOW_N', 19_000)
  const dribbleMs = env('SLOW_DRIBBLE_MS', 5_000)
  const idle = process.env.SLOW_MODE === 'idle'
  const open = new Set<net.Socket>()
  let opened = 0
  let closedByServer = 0
  let failed = 0
  let stopping = false
  let pending = 0
  const one = () => {
    pending++
    const s = net.connect({ port, host: '127.0.0.1' })
    s.setNoDelay(true)
    s.once('connect', () => {
      pending--
      opened++
      open.add(s)
      if (!idle) s.write(`GET /slow/${opened} HTTP/1.1\r\nHost: shop.example\r\n`)
    })
    s.on('data', () => {})
    s.once('error', () => {})
    s.once('close', (hadError) => {
      if (open.delete(s)) closedByServer++
      else {
        pending--
        failed++
      }
      void hadError
      if (!stopping) setTimeout(one, 50)
    })
  }
  // open in waves, so the accept queue (somaxconn) is not the thing measured
  const wave = async () => {
    while (!stopping && open.size + pending < n) {
      const room = Math.min(500, n - open.size - pending)
      for (let i = 0; i < room; i++) one()
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  void wave()
  const dribble = setInterval(() => {
    if (idle) return
    for (const s of open) s.write(`X-Slow-${Math.random().toString(36).slice(2, 6)}: 1\r\n`)
  }, dribbleMs)
  const report = setInterval(() => process.send!({ open: open.size, opened, closedByServer, failed }), 1000)
  process.on('message', (m) => {
    if (m !== 'stop') return
    stopping = true
    clearInterval(dribble)
    clearInterval(report)
    for (const s of open) s.destroy()
    process.send!({ open: 0, opened, closedByServer, failed, done: true })
    setTimeout(() => process.exit(0), 200)
  })
}

// SLOW_VISIT_KEEPALIVE=1: visitors reuse 4 kept-alive connections, opened before the attack
const keepAlive =
  process.env.SLOW_VISIT_KEEPALIVE === '1' ? new http.Agent({ keepAlive: true, maxSockets: 4 }) : false

function visit(url: string, i: number): Promise<Visit> {
  const t0 = performance.now()
  return new Promise((resolve) => {
    const req = http.get(
      `${url}/visit/${i}`,
      { agent: keepAlive, timeout: 5000, headers: { host: 'shop.example' } },
      (res) => {
        res.resume()
        res.once('end', () => resolve({ t: t0, ms: performance.now() - t0, status: res.statusCode ?? 0 }))
      },
    )
    req.once('timeout', () => req.destroy(new Error('timeout')))
    req.once('error', (e: NodeJS.ErrnoException) =>
      resolve({ t: t0, ms: performance.now() - t0, status: e.code ?? e.message }),
    )
  })
}

function summary(vs: Visit[]) {
  const ok = vs.filter((v) => v.status === 200)
  const ms = ok.map((v) => v.ms).sort((a, b) => a - b)
  const q = (p: number) =>
    ms.length ? Number(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(1)) : null
  const kinds: Record<string, number> = {}
  for (const v of vs) kinds[String(v.status)] = (kinds[String(v.status)] ?? 0) + 1
  return {
    requests: vs.length,
    ok: ok.length,
    successRate: vs.length ? Number((ok.length / vs.length).toFixed(3)) : null,
    p50: q(0.5),
    p99: q(0.99),
    max: q(1),
    outcomes: kinds,
  }
}

async function main(): Promise<void> {
  const attackS = env('SLOW_ATTACK_S', 30)
  const visitMs = env('VISIT_MS', 100)
  // SLOW_UPSTREAM_CLOSE=1: the upstream closes every connection, so each visit needs a new one
  const close = process.env.SLOW_UPSTREAM_CLOSE === '1' ? { connection: 'close' } : {}
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain', ...close })
    res.end('ok')
  })
  upstream.keepAliveTimeout = 60_000
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const root = fileURLToPath(new URL('..', import.meta.url))
  const extra = (process.env.SLOW_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean)
  const args = [
    '--import',
    'tsx',
    'src/cli/bin-cachet.ts',
    'serve',
    // one process: the descriptor limit and the connection cap under test are per process
    '--workers',
    '1',
    '--upstream',
    up,
    '--port',
    '0',
    ...extra,
  ]
  // SLOW_SERVE_NOFILE: cachet serve's own descriptor limit, lower than the attacker's
  const nofile = process.env.SLOW_SERVE_NOFILE
  const serve =
    nofile === undefined
      ? spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `ulimit -n ${Number(nofile)} && exec "$0" "$@"`, process.execPath, ...args], {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
  let serveErr = ''
  serve.stderr!.on('data', (c: Buffer) => {
    serveErr += c.toString()
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    serve.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /cachet serve: (http:\/\/[^ ]+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    serve.once('exit', (code) => reject(new Error(`cachet serve exited ${code}: ${serveErr}`)))
  })
  const fds = () => {
    try {
      return readdirSync(`/proc/${serve.pid}/fd`).length
    } catch {
      return -1
    }
  }

  const visits: Visit[] = []
  const phases: { name: string; from: number; to: number }[] = []
  let i = 0
  let inflight = 0
  const visitor = setInterval(() => {
    inflight++
    void visit(url, ++i).then((v) => {
      inflight--
      visits.push(v)
    })
  }, visitMs)
  const samples: { t: number; open: number; fds: number }[] = []
  let last = { open: 0, opened: 0, closedByServer: 0, failed: 0 }
  const t0 = performance.now()
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

  await sleep(3000)
  phases.push({ name: 'before', from: t0, to: performance.now() })
  const att: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, SLOW_ROLE: 'attacker', SLOW_PORT: new URL(url).port },
    execArgv: ['--import', 'tsx'],
  })
  att.on('message', (m) => {
    last = m as typeof last
    samples.push({ t: (performance.now() - t0) / 1000, open: last.open, fds: fds() })
  })
  const a0 = performance.now()
  await sleep(attackS * 1000)
  phases.push({ name: 'under attack', from: a0, to: performance.now() })
  att.send('stop')
  await new Promise((r) => att.once('exit', r))
  const b0 = performance.now()
  await sleep(8000)
  clearInterval(visitor)
  while (inflight > 0) await sleep(50)
  phases.push({ name: 'after', from: b0, to: performance.now() })

  const peak = samples.reduce((m, s) => Math.max(m, s.open), 0)
  const result = {
    serveArgs: extra,
    serveNofile: nofile ?? null,
    upstreamClose: process.env.SLOW_UPSTREAM_CLOSE === '1',
    visitKeepAlive: keepAlive !== false,
    attackMode: process.env.SLOW_MODE ?? 'partial',
    attackConnections: env('SLOW_N', 19_000),
    attackSeconds: attackS,
    attackerPeakOpen: peak,
    attacker: last,
    servePeakFds: samples.reduce((m, s) => Math.max(m, s.fds), 0),
    phases: Object.fromEntries(
      phases.map((p) => [p.name, summary(visits.filter((v) => v.t >= p.from && v.t < p.to))]),
    ),
    timeline: samples
      .filter((_, k) => k % 3 === 0)
      .map((s) => `${s.t.toFixed(0)}s open=${s.open} fds=${s.fds}`),
  }
  console.log(JSON.stringify(result, null, 2))
  if (process.env.SLOW_JSON) writeFileSync(process.env.SLOW_JSON, JSON.stringify(result, null, 2))
  if (serveErr) console.error(`cachet serve stderr:\n${serveErr.slice(0, 2000)}`)
  serve.kill('SIGTERM')
  upstream.closeAllConnections()
  upstream.close()
}

if (process.env.SLOW_ROLE === 'attacker') await attacker()
else await main()
