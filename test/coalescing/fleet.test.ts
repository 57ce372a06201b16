/**
 * Request coalescing (docs/threats.md: cache stampede): one origin call per key in a
 * process (the in-flight map), and across a fleet through the Redis lock `<key>~lock`
 * (`SET NX PX`), while the others wait for the leader's entry. The fleet is 4 real Node processes
 * (test/coalescing/fleet-server.ts) on one real redis-server, in front of one slow origin in this
 * process that counts its calls (300 ms per answer).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { type HttpResponse, request } from '../helpers/http.js'
import { siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: items
      match: /items/**
      ttl: 1m
`)
const ORIGIN_DELAY_MS = 300
const PROCESSES = 4
const PER_PROCESS = 50
const H = { host: 'fleet.test' } // one site: every member must build the same key
const SCRIPT = fileURLToPath(new URL('./fleet-server.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const s = suite('request coalescing')
const sites = siteTracker()
const dir = policyDir(POLICY)
let r: RedisProc
let origin: { server: Server; url: string; calls: Map<string, number> }
const children: ChildProcess[] = []
const closers: (() => Promise<void>)[] = []

/** The slow origin: `origin #<n> <url>` after 300 ms, n counted per URL. */
function startOrigin(): Promise<typeof origin> {
  const calls = new Map<string, number>()
  const server = createServer((req, res) => {
    const n = (calls.get(req.url!) ?? 0) + 1
    calls.set(req.url!, n)
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`origin #${n} ${req.url}`)
    }, ORIGIN_DELAY_MS)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls })
    })
  })
}

/** One fleet member; resolves its base URL once it listens. */
function startMember(): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, CACHET_REDIS: r.url, CACHET_ORIGIN: origin.url, CACHET_POLICIES: dir },
  })
  children.push(child)
  let err = ''
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000)
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`fleet member did not start within 60 s:\n${err}`)),
      60_000,
    )
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening (\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(`http://127.0.0.1:${m[1]}`)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`fleet member exited (${code}):\n${err}`))
    })
  })
}

function stopMember(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.stdin!.end()
  })
}

s.before(async () => {
  r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  origin = await startOrigin()
})
s.after.each(async () => {
  await sites.closeAll()
  for (const close of closers.splice(0)) await close()
})
s.after(async () => {
  await Promise.all(children.map(stopMember))
  await new Promise<void>((resolve) => {
    origin.server.close(() => resolve())
    origin.server.closeAllConnections()
  })
  await r.stop()
})

const HIT = /^cachet; hit; ttl=\d+$/
const STORED_MISS = /^cachet; fwd=uri-miss; stored$/
const COLLAPSED = /^cachet; fwd=uri-miss; collapsed$/

/** Cache-Status + body → count, for failure messages */
function tally(responses: HttpResponse[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const res of responses) {
    const k = `${res.headers['cache-status']} | ${res.body}`
    out[k] = (out[k] ?? 0) + 1
  }
  return out
}

/** Every answer is the one origin answer, and says how it was obtained. */
function checkAll(responses: HttpResponse[], path: string): Record<string, number> {
  const kinds: Record<string, number> = { stored: 0, collapsed: 0, hit: 0 }
  for (const res of responses) {
    assert.is(res.status, 200)
    assert.is(res.body, `origin #1 ${path}`)
    const cs = res.headers['cache-status'] ?? ''
    if (STORED_MISS.test(cs)) kinds.stored!++
    else if (COLLAPSED.test(cs)) kinds.collapsed!++
    else if (HIT.test(cs)) kinds.hit!++
    else assert.unreachable(`unexpected Cache-Status ${cs}`)
  }
  return kinds
}

s(
  `fleet of ${PROCESSES} processes x ${PER_PROCESS} concurrent requests for one cold key: at most ${PROCESSES} origin calls ` +
    '(each process admits one leader per key at a time and the Redis lock <key>~lock makes the other members wait for its entry, ' +
    'so one call is the rule; the bound leaves each member one call of its own should its lock wait or store read lose a race on a loaded host)',
  async () => {
    const members = await Promise.all(Array.from({ length: PROCESSES }, startMember))
    for (const path of ['/items/cold-1', '/items/cold-2']) {
      const all = await Promise.all(
        members.flatMap((base) =>
          Array.from({ length: PER_PROCESS }, () => request(`${base}${path}`, { headers: H })),
        ),
      )
      assert.is(all.length, PROCESSES * PER_PROCESS)
      const calls = origin.calls.get(path) ?? 0
      const seen = tally(all)
      assert.ok(
        calls >= 1 && calls <= PROCESSES,
        `origin called ${calls} times for ${path}; answers: ${JSON.stringify(seen)}`,
      )
      // every origin call is exactly one leader's answer; every other answer is shared (collapsed) or a hit
      let leaders = 0
      for (const res of all) {
        assert.is(res.status, 200)
        assert.match(res.body, new RegExp(`^origin #[1-${calls}] ${path}$`))
        const cs = res.headers['cache-status'] ?? ''
        if (/collapsed/.test(cs) || HIT.test(cs)) continue
        assert.match(cs, /^cachet; fwd=(?:uri-)?miss/, cs)
        leaders++
      }
      assert.is(leaders, calls, `one leader per origin call; answers: ${JSON.stringify(seen)}`)
      process.stdout.write(`  [fleet] ${path}: ${calls} origin call(s) for ${all.length} requests\n`)
    }
  },
)

for (const store of ['redis', 'memory'] as const) {
  s(
    `one process (${store} store), 200 concurrent requests for one cold key: exactly 1 origin call`,
    async () => {
      // a generous read deadline: this test is about coalescing, not about a loaded host's 250 ms
      // reads turning into store-down misses (each of which may lead a flight of its own)
      const cache = await createCache({
        policies: dir,
        store: store === 'redis' ? r.url : 'memory',
        readDeadlineMs: 5000,
      })
      closers.push(() => cache.close())
      const site = await sites.start({ policies: dir, cache })
      let calls = 0
      site.origin.route('/items/one', async (ctx) => {
        calls++
        await new Promise((res) => setTimeout(res, ORIGIN_DELAY_MS))
        ctx.type = 'text/plain'
        ctx.body = `origin #${calls} /items/one`
      })
      const all = await Promise.all(Array.from({ length: 200 }, () => site.get('/items/one', { headers: H })))
      assert.is(calls, 1, `origin calls; answers: ${JSON.stringify(tally(all))}`)
      const kinds = checkAll(all, '/items/one')
      assert.is(kinds.stored, 1)
      assert.is(kinds.stored! + kinds.collapsed! + kinds.hit!, 200)
      assert.is(site.cache.metrics().collapsed, kinds.collapsed)
    },
  )
}

s.run()
