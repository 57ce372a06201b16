/**
 * The hit path over HTTP: bare Koa vs Koa + cachet (memory store) vs Koa + cachet (Redis store),
 * measured in one run, on 127.0.0.1 only, in short interleaved rounds so that drift (thermal,
 * GC, a noisy neighbour) touches every variant alike.
 *
 * - The origin handler serves a pre-serialised ~1 KB JSON product document with a few headers, so
 *   the bare server is as cheap as an application can be: the ratios are the cache's overhead on
 *   its hit path, not the benefit of skipping real application work. It sends `Vary:
 *   Accept-Encoding` as real APIs do, so a hit follows cachet's Vary index (two store reads).
 * - autocannon runs in its own worker thread (`workers: 1`), so the load generator does not share
 *   the servers' event loop. It still shares the machine's 2 cores with the servers (and, for the
 *   Redis variant, with redis-server): read the figures as relative, not absolute.
 * - Every measured round of a cache variant is checked: a probe just before it must answer
 *   `Cache-Status: cachet; hit; …`, and the cache's counters must show no miss during the round.
 *
 * Run it through `npm run bench` (bench/run.ts); `BENCH_QUICK=1` makes it a smoke run.
 */

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type EventLoopUtilization,
  PerformanceObserver,
  constants as perfConstants,
  performance,
} from 'node:perf_hooks'
import autocannon from 'autocannon'
import Koa from 'koa'
import { type Cache, createCache, type StoreOption } from '../src/index.js'
import { type RedisProc, startRedis } from '../test/helpers/redis-server.js'

export type VariantName = 'bare' | 'memory' | 'redis' | 'redis-near'

export interface HttpBenchOptions {
  /** seconds per measured round. @default 3 (1 with BENCH_QUICK=1) */
  roundSeconds?: number
  /** measured rounds per variant. @default 5 (2 with BENCH_QUICK=1) */
  rounds?: number
  /** seconds of unmeasured warm-up per variant (JIT, connection pools). @default 1 (0.5 quick) */
  warmupSeconds?: number
  /** concurrent keep-alive connections. @default 50 */
  connections?: number
  /** false: skip the Redis variant. @default true */
  redis?: boolean
  /** print progress and the table. @default true */
  print?: boolean
}

export interface HttpRound {
  round: number
  /** completed requests / measured seconds */
  rps: number
  p50Ms: number
  p99Ms: number
  requests: number
  /** requests that ended in an error, timeout or non-2xx status (the bench fails if any) */
  bad: number
  /** event-loop utilisation of the server thread during the round (1 = saturated) */
  elu: number
  /** CPU time of the servers' thread per request, µs (Linux /proc; null elsewhere) */
  cpuUsPerReq: number | null
  /** CPU time of the redis-server process per request, µs (Redis variant on Linux only) */
  redisCpuUsPerReq: number | null
  /** minor (scavenge) and major GCs of the server isolate during the round */
  minorGc: number
  majorGc: number
  gcMs: number
}

export interface HttpVariantResult {
  name: VariantName
  label: string
  rounds: HttpRound[]
  /** median of the rounds' req/s */
  medianRps: number
  /** median of the rounds' p50 and p99 latency, ms */
  p50Ms: number
  p99Ms: number
  /** median of the rounds' server-thread CPU µs per request; null where /proc is missing */
  cpuUsPerReq: number | null
  /** median redis-server CPU µs per request (Redis variant) */
  redisCpuUsPerReq: number | null
  /** spread of the rounds' req/s: (max - min) / median */
  spread: number
  /** over all rounds: GCs and GC pause per 10,000 requests (server isolate only) */
  minorGcPer10k: number
  gcMsPer10k: number
  /** median event-loop utilisation of the server thread */
  elu: number
}

export interface HttpBenchResult {
  variants: HttpVariantResult[]
  ratios: {
    /** memory medianRps / bare medianRps; aim >= 0.95 */
    memoryOverBare: number
    /** redis medianRps / bare medianRps; aim >= 0.9; null when the Redis variant was skipped */
    redisOverBare: number | null
    /**
     * bare CPU µs/req ÷ variant CPU µs/req (server thread only): the throughput ratio to expect
     * when the server is CPU-bound. Steadier than req/s on a busy machine; null without /proc.
     */
    memoryCostRatio: number | null
    redisCostRatio: number | null
  }
  config: {
    roundSeconds: number
    rounds: number
    warmupSeconds: number
    connections: number
    pipelining: 1
    bodyBytes: number
    url: string
  }
  machine: { node: string; cpus: number; cpuModel: string; platform: string; loadAvgAtStart: number }
  notes: string[]
}

/** A product document of about 1 KB, serialised once: the origin does no per-request work. */
function productBody(): string {
  const doc = {
    id: 42,
    sku: 'CHT-0042-BLU-M',
    name: 'Cachet field jacket, blue, medium',
    brand: 'Cachet Outdoor',
    price: { amount: 12900, currency: 'EUR', vatIncluded: true },
    availability: { status: 'in_stock', quantity: 17, warehouse: 'AMS-2' },
    categories: ['outerwear', 'jackets', 'rain'],
    attributes: {
      colour: 'blue',
      size: 'M',
      material: '3-layer recycled nylon',
      weightGrams: 540,
      waterproofMm: 20000,
    },
    description:
      'A light, fully taped three-layer shell for wet city commutes and long days on the trail: ' +
      'pit zips, a helmet-compatible hood and two chest pockets that stay reachable under a hip belt.',
    images: [
      { url: '/img/products/42/front.jpg', width: 1200, height: 1600, alt: 'front' },
      { url: '/img/products/42/back.jpg', width: 1200, height: 1600, alt: 'back' },
      { url: '/img/products/42/detail.jpg', width: 1200, height: 1200, alt: 'hood detail' },
    ],
    rating: { average: 4.6, count: 318 },
    related: [17, 23, 108, 311],
    updatedAt: '2025-01-15T09:30:00.000Z',
  }
  return JSON.stringify(doc)
}

const PATH = '/products/42'
const POLICY = `version: 1
rules:
  - id: product
    match: /products/*
    ttl: 5m
`

/** The application every variant wraps: a fixed body and the headers a real product API sends. */
function originApp(body: string, cache?: Cache): Koa {
  const app = new Koa()
  // A 500 must fail the bench with its cause, not print a stack per request.
  app.silent = true
  app.on('error', (err: unknown) => {
    appErrors.push(err)
  })
  if (cache !== undefined) app.use(cache.middleware())
  app.use(async function origin(ctx) {
    if (ctx.path !== PATH) {
      ctx.status = 404
      return
    }
    ctx.set('Cache-Control', 'public, max-age=300')
    ctx.set('ETag', '"p42-v7"')
    ctx.set('Last-Modified', 'Wed, 15 Jan 2025 09:30:00 GMT')
    ctx.set('Vary', 'Accept-Encoding')
    ctx.set('X-Product-Id', '42')
    ctx.type = 'application/json; charset=utf-8'
    ctx.body = body
  })
  return app
}

const appErrors: unknown[] = []

function lastAppError(): string {
  const err = appErrors.at(-1)
  if (err === undefined) return ''
  return `: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`
}

interface Variant {
  name: VariantName
  label: string
  server: http.Server
  url: string
  cache: Cache | undefined
}

function listen(app: Koa): Promise<{ server: http.Server; url: string }> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app.callback())
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({ server, url: `http://127.0.0.1:${port}${PATH}` })
    })
  })
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    // keep-alive sockets left by autocannon would hold close() open
    server.closeAllConnections()
  })
}

/** One request on a fresh connection; resolves status, Cache-Status and body length. */
function probe(url: string): Promise<{ status: number; cacheStatus: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => {
        bytes += c.length
      })
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          cacheStatus: String(res.headers['cache-status'] ?? ''),
          bytes,
        }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error(`probe of ${url} timed out`)))
  })
}

function writePolicy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-bench-'))
  writeFileSync(join(dir, 'product.yaml'), POLICY)
  return dir
}

const quietLogger = {
  error: (m: string) => {
    process.stderr.write(`cachet: error: ${m}\n`)
  },
  warn: (m: string) => {
    process.stderr.write(`cachet: warning: ${m}\n`)
  },
  info: () => {},
  debug: () => {},
}

async function cachedVariant(
  name: 'memory' | 'redis' | 'redis-near',
  label: string,
  body: string,
  policies: string,
  store: StoreOption,
): Promise<Variant> {
  const cache = await createCache({ policies, store, logger: quietLogger })
  let server: http.Server | undefined
  try {
    const listening = await listen(originApp(body, cache))
    server = listening.server
    const url = listening.url
    // Warm the entry: the first request is a miss that stores it, the second must be a hit.
    const first = await probe(url)
    if (first.status !== 200)
      throw new Error(`${name}: warming request got status ${first.status}${lastAppError()}`)
    await settle(cache)
    const second = await probe(url)
    if (!isHit(second.cacheStatus)) {
      throw new Error(
        `${name}: after warming, expected "Cache-Status: cachet; hit; …", got ${JSON.stringify(second.cacheStatus)} (first: ${JSON.stringify(first.cacheStatus)})`,
      )
    }
    return { name, label, server, url, cache }
  } catch (err) {
    if (server !== undefined) await closeServer(server)
    await cache.close()
    throw err
  }
}

/** The entry is written after the response (fire and forget): give the store a moment. */
async function settle(cache: Cache): Promise<void> {
  for (let i = 0; i < 50 && cache.metrics().stores === 0; i++) await delay(10)
  await delay(20)
}

function isHit(cacheStatus: string): boolean {
  return /^cachet; hit(;|$)/.test(cacheStatus)
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/**
 * CPU time of one thread (or, without tid, one process) from /proc, in ms. The servers share this
 * process with autocannon's worker thread, so process.cpuUsage() would count the client too; the
 * main thread's own counters count only the servers (V8's GC helper threads are left out).
 */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

function cpuMs(pid: number, tid?: number): number | null {
  try {
    const stat = readFileSync(
      tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
      'utf8',
    )
    // fields after "pid (comm) ": state is [0], utime [11], stime [12] (proc(5))
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
  } catch {
    return null
  }
}

function medianOrNull(xs: readonly (number | null)[]): number | null {
  return xs.some((x) => x === null) || xs.length === 0 ? null : median(xs as number[])
}

/** Server-isolate GC counts: PerformanceObserver sees this thread's isolate, not autocannon's worker. */
class GcCounter {
  minor = 0
  major = 0
  ms = 0
  #obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) this.minor++
      else this.major++
      this.ms += e.duration
    }
  })

  start(): void {
    this.#obs.observe({ entryTypes: ['gc'] })
  }
  stop(): void {
    this.#obs.disconnect()
  }
  snapshot(): { minor: number; major: number; ms: number } {
    return { minor: this.minor, major: this.major, ms: this.ms }
  }
}

function cannon(url: string, seconds: number, connections: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    // workers: 1 puts the load generator on its own thread, off the servers' event loop
    const opts = { url, connections, pipelining: 1, duration: seconds, workers: 1 } as autocannon.Options
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)))
  })
}

async function measure(
  v: Variant,
  round: number,
  seconds: number,
  connections: number,
  gc: GcCounter,
  redisPid: number | undefined,
): Promise<HttpRound> {
  let before = v.cache?.metrics()
  if (v.cache !== undefined) {
    const p = await probe(v.url)
    if (!isHit(p.cacheStatus))
      throw new Error(
        `${v.name} round ${round}: the first response was not a hit: Cache-Status ${JSON.stringify(p.cacheStatus)}`,
      )
    before = v.cache.metrics()
  }
  const rpid = v.name === 'redis' || v.name === 'redis-near' ? redisPid : undefined
  const g0 = gc.snapshot()
  const c0 = cpuMs(process.pid, process.pid)
  const rc0 = rpid === undefined ? null : cpuMs(rpid)
  const elu0: EventLoopUtilization = performance.eventLoopUtilization()
  const r = await cannon(v.url, seconds, connections)
  const elu = performance.eventLoopUtilization(elu0).utilization
  const c1 = cpuMs(process.pid, process.pid)
  const rc1 = rpid === undefined ? null : cpuMs(rpid)
  const g1 = gc.snapshot()
  const requests = r.requests.total
  const bad = r.errors + r.timeouts + r.non2xx
  if (bad > 0)
    throw new Error(
      `${v.name} round ${round}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx responses${lastAppError()}`,
    )
  if (v.cache !== undefined && before !== undefined) {
    const after = v.cache.metrics()
    const misses = after.misses - before.misses
    const hits = after.hits - before.hits
    if (misses !== 0 || hits < requests) {
      throw new Error(
        `${v.name} round ${round}: not every request was a hit (${hits} hits, ${misses} misses for ${requests} requests, ${after.storeErrors - before.storeErrors} store errors)`,
      )
    }
  }
  return {
    round,
    rps: requests / (r.duration > 0 ? r.duration : seconds),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests,
    bad,
    elu,
    cpuUsPerReq: c0 === null || c1 === null || requests === 0 ? null : ((c1 - c0) * 1000) / requests,
    redisCpuUsPerReq: rc0 === null || rc1 === null || requests === 0 ? null : ((rc1 - rc0) * 1000) / requests,
    minorGc: g1.minor - g0.minor,
    majorGc: g1.major - g0.major,
    gcMs: g1.ms - g0.ms,
  }
}

function summarise(v: Variant, rounds: HttpRound[]): HttpVariantResult {
  const rps = rounds.map((r) => r.rps)
  const med = median(rps)
  const total = rounds.reduce((n, r) => n + r.requests, 0)
  const per10k = (x: number) => (total > 0 ? (x * 10_000) / total : NaN)
  return {
    name: v.name,
    label: v.label,
    rounds,
    medianRps: med,
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuUsPerReq: medianOrNull(rounds.map((r) => r.cpuUsPerReq)),
    redisCpuUsPerReq: medianOrNull(rounds.map((r) => r.redisCpuUsPerReq)),
    spread: (Math.max(...rps) - Math.min(...rps)) / med,
    minorGcPer10k: per10k(rounds.reduce((n, r) => n + r.minorGc, 0)),
    gcMsPer10k: per10k(rounds.reduce((n, r) => n + r.gcMs, 0)),
    elu: median(rounds.map((r) => r.elu)),
  }
}

function costRatio(bare: HttpVariantResult | undefined, v: HttpVariantResult | undefined): number | null {
  if (bare?.cpuUsPerReq == null || v?.cpuUsPerReq == null || v.cpuUsPerReq === 0) return null
  return bare.cpuUsPerReq / v.cpuUsPerReq
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

function fmtRatio(x: number | null): string {
  return x === null ? '-' : x.toFixed(3)
}

export function formatHttpTable(res: HttpBenchResult): string {
  const bare = res.variants.find((v) => v.name === 'bare')
  const head = [
    'variant',
    'req/s (median)',
    'vs bare',
    'p50 ms',
    'p99 ms',
    'spread',
    'CPU µs/req',
    'cost vs bare',
    'ELU',
    'minor GC/10k',
    'GC ms/10k',
  ]
  const us = (x: number | null) => (x === null ? '-' : x.toFixed(1))
  const rows = res.variants.map((v) => [
    v.label,
    Math.round(v.medianRps).toLocaleString('en-US'),
    bare ? (v.medianRps / bare.medianRps).toFixed(3) : '-',
    v.p50Ms.toFixed(0),
    v.p99Ms.toFixed(0),
    `${(v.spread * 100).toFixed(1)}%`,
    us(v.cpuUsPerReq) + (v.redisCpuUsPerReq === null ? '' : ` (+${us(v.redisCpuUsPerReq)} redis)`),
    bare?.cpuUsPerReq != null && v.cpuUsPerReq !== null ? (bare.cpuUsPerReq / v.cpuUsPerReq).toFixed(3) : '-',
    v.elu.toFixed(2),
    v.minorGcPer10k.toFixed(1),
    v.gcMsPer10k.toFixed(1),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => pad(c, widths[i] as number, i > 0)).join(' | ')} |`
  const sep = `|${widths.map((w, i) => (i > 0 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`
  const c = res.config
  const out = [
    `HTTP hit path: ${c.rounds} interleaved rounds x ${c.roundSeconds} s per variant (after ${c.warmupSeconds} s warm-up), ` +
      `${c.connections} connections, pipelining 1, GET ${new URL(c.url).pathname}, ${c.bodyBytes} B JSON body`,
    `machine: ${res.machine.cpus} x ${res.machine.cpuModel}, node ${res.machine.node}, load average ${res.machine.loadAvgAtStart.toFixed(2)} at start; ` +
      'servers, autocannon (own thread) and redis-server share these cores',
    '',
    line(head),
    sep,
    ...rows.map(line),
    '',
    `memory/bare = ${res.ratios.memoryOverBare.toFixed(3)} (aim >= 0.95: ${res.ratios.memoryOverBare >= 0.95 ? 'met' : 'NOT met'})` +
      (res.ratios.redisOverBare === null
        ? '; redis: skipped'
        : `, redis/bare = ${res.ratios.redisOverBare.toFixed(3)} (aim >= 0.90: ${res.ratios.redisOverBare >= 0.9 ? 'met' : 'NOT met'})`),
    `server-thread CPU cost ratios (bare µs/req ÷ variant µs/req): memory ${fmtRatio(res.ratios.memoryCostRatio)}, redis ${fmtRatio(res.ratios.redisCostRatio)}`,
    ...res.notes.map((n) => `note: ${n}`),
  ]
  return out.join('\n')
}

/** Runs the three variants side by side and returns (and prints) the figures. Everything it starts, it stops. */
export async function benchHttp(opts: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const quick = process.env.BENCH_QUICK === '1'
  const roundSeconds = opts.roundSeconds ?? (quick ? 1 : 3)
  const rounds = opts.rounds ?? (quick ? 2 : 5)
  const warmupSeconds = opts.warmupSeconds ?? (quick ? 0.5 : 1)
  const connections = opts.connections ?? 50
  const print = opts.print ?? true
  const log = (m: string) => {
    if (print) process.stdout.write(`${m}\n`)
  }
  const notes: string[] = [
    'peers: none installed (no other Koa cache middleware in node_modules), so none measured',
    'the origin serves a pre-serialised body: the ratios are the cost of a hit, not the saving of skipping real work',
  ]

  const loadAvgAtStart = loadavg()[0] ?? 0
  const cores = cpus().length
  if (loadAvgAtStart > cores / 2) {
    notes.push(
      `load average was ${loadAvgAtStart.toFixed(2)} on ${cores} cores at start: other processes compete for the CPU, so req/s is noisy; the CPU µs/req columns are steadier`,
    )
  }
  const body = productBody()
  const policies = writePolicy()
  const variants: Variant[] = []
  let redis: RedisProc | undefined
  const gc = new GcCounter()
  try {
    const bare = await listen(originApp(body))
    variants.push({ name: 'bare', label: 'bare Koa', ...bare, cache: undefined })
    variants.push(await cachedVariant('memory', 'Koa + cachet (memory)', body, policies, 'memory'))
    if (opts.redis !== false) {
      try {
        // a bound and an LRU policy, as the README's Redis setup asks (and no eviction warning)
        redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
      } catch (err) {
        notes.push(
          `redis variant skipped: could not start redis-server (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
        )
      }
      if (redis !== undefined) {
        variants.push(await cachedVariant('redis', 'Koa + cachet (redis)', body, policies, redis.url))
        // the near cache in front of the same server (README "Near cache")
        variants.push(
          await cachedVariant('redis-near', 'Koa + cachet (redis+near)', body, policies, {
            redis: redis.url,
            near: true,
          }),
        )
      }
    }

    const check = await probe(variants[0]!.url)
    if (check.status !== 200 || check.bytes !== Buffer.byteLength(body))
      throw new Error(`bare server answered ${check.status} with ${check.bytes} bytes`)

    log(`warming up (${warmupSeconds} s per variant)…`)
    for (const v of variants) await cannon(v.url, warmupSeconds, connections)

    gc.start()
    const perVariant = new Map<VariantName, HttpRound[]>(variants.map((v) => [v.name, []]))
    for (let round = 1; round <= rounds; round++) {
      // Interleave, and rotate who goes first, so no variant always follows the same one.
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(round - 1 + k) % variants.length]!
        const r = await measure(v, round, roundSeconds, connections, gc, redis?.pid)
        perVariant.get(v.name)!.push(r)
        log(
          `  round ${round}/${rounds} ${pad(v.label, 22)} ${pad(Math.round(r.rps).toLocaleString('en-US'), 8, true)} req/s  p99 ${r.p99Ms} ms`,
        )
      }
    }
    gc.stop()

    const summary = variants.map((v) => summarise(v, perVariant.get(v.name)!))
    const byName = (n: VariantName) => summary.find((s) => s.name === n)
    const bareRps = byName('bare')!.medianRps
    const redisRes = byName('redis')
    const result: HttpBenchResult = {
      variants: summary,
      ratios: {
        memoryOverBare: byName('memory')!.medianRps / bareRps,
        redisOverBare: redisRes === undefined ? null : redisRes.medianRps / bareRps,
        memoryCostRatio: costRatio(byName('bare'), byName('memory')),
        redisCostRatio: costRatio(byName('bare'), redisRes),
      },
      config: {
        roundSeconds,
        rounds,
        warmupSeconds,
        connections,
        pipelining: 1,
        bodyBytes: Buffer.byteLength(body),
        url: variants[0]!.url,
      },
      machine: {
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
        platform: `${process.platform}/${process.arch}`,
        loadAvgAtStart,
      },
      notes,
    }
    log('')
    log(formatHttpTable(result))
    return result
  } finally {
    gc.stop()
    for (const v of variants) await closeServer(v.server)
    for (const v of variants) await v.cache?.close()
    await redis?.stop()
    rmSync(policies, { recursive: true, force: true })
  }
}
