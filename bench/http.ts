/**
 * The hit path over HTTP, every variant answering the same `GET /products/42` (a pre-serialised
 * ~1 KB JSON document and its headers) on 127.0.0.1, measured in one run in short interleaved
 * rounds so that drift (thermal, GC, a noisy neighbour) touches every variant alike:
 *
 * - the floor: node:http answering the preallocated body and headers, nothing else;
 * - bare Koa serving them, and Koa + the cachet middleware on the memory store, on Redis, and on
 *   Redis with the near cache;
 * - `cachet serve` (the library's startServe) on the memory store and on Redis with its near
 *   cache, in front of an origin serving the same document;
 * - nginx `proxy_cache` and Varnish in front of that origin, with bench/nginx.conf and
 *   bench/default.vcl, when their binaries are installed (else a note says they were skipped).
 *
 * The figure to read is CPU per request: the servers' CPU time (the bench process's every thread,
 * from getrusage, for the node variants; every thread of every process of nginx's or varnishd's
 * tree, from /proc), divided by the responses. autocannon runs in a process of its own (bench/cannon.ts), so it is not
 * counted, but it shares the machine's cores: req/s moves with whatever else runs, CPU per
 * request much less.
 *
 * Every measured round of a caching variant is checked to be all hits: a probe just before it
 * must be a hit, the cache's counters must show no miss during it, and the origin behind the
 * proxies must see no request during it.
 *
 * Run it through `npm run bench` (bench/run.ts); `BENCH_QUICK=1` makes it a smoke run.
 */

import { rmSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import {
  type EventLoopUtilization,
  PerformanceObserver,
  constants as perfConstants,
  performance,
} from 'node:perf_hooks'
import { startServe } from '../src/cli/serve.js'
import { type Cache, createCache, type StoreOption } from '../src/index.js'
import { type RedisProc, startRedis } from '../test/helpers/redis-server.js'
import { type Cannon, startCannon } from './cannon.js'
import { type ExternalServer, startNginx, startVarnish } from './external.js'
import {
  formatHttpTable,
  type HttpBenchResult,
  type HttpRound,
  type HttpVariantResult,
  targets,
  totalCpu,
  VARIANT_NAMES,
  type VariantName,
} from './http-report.js'
import {
  cacheStatusOf,
  closeServer,
  isHit,
  listen,
  originApp,
  PATH,
  probe,
  productBody,
  quietLogger,
  rawHandler,
  writePolicy,
} from './http-servers.js'
import { processCpuMs, threadCpuMs, treeCpuDeltaMs, treeCpuMs } from './proc-cpu.js'

export type { HttpBenchResult, HttpRound, HttpVariantResult, Target, VariantName } from './http-report.js'
export { formatHttpTable, VARIANT_NAMES }

/** Names `BENCH_VARIANTS` takes besides the variants' own. */
const GROUPS: Record<string, readonly VariantName[]> = {
  all: VARIANT_NAMES,
  koa: ['bare', 'memory', 'redis', 'redis-near'],
  proxies: ['serve', 'serve-redis', 'nginx', 'varnish'],
}

/**
 * `floor,koa,nginx` → the variants, in the table's order; the floor is always in (every ratio
 * is to it). Throws a TypeError naming the unknown word.
 */
export function parseVariants(spec: string): VariantName[] {
  const want = new Set<VariantName>(['floor'])
  for (const word of spec.split(',').map((w) => w.trim())) {
    if (word === '') continue
    const group = GROUPS[word]
    if (group !== undefined) for (const n of group) want.add(n)
    else if ((VARIANT_NAMES as readonly string[]).includes(word)) want.add(word as VariantName)
    else
      throw new TypeError(
        `unknown variant ${JSON.stringify(word)}: expected ${[...VARIANT_NAMES, ...Object.keys(GROUPS)].join(', ')}`,
      )
  }
  return VARIANT_NAMES.filter((n) => want.has(n))
}

export interface HttpBenchOptions {
  /** seconds per measured round. @default 3 (1 with BENCH_QUICK=1) */
  roundSeconds?: number
  /** measured rounds per variant. @default 5 (2 with BENCH_QUICK=1) */
  rounds?: number
  /** seconds of unmeasured warm-up per variant (JIT, connection pools). @default 1 (0.5 quick) */
  warmupSeconds?: number
  /** concurrent keep-alive connections. @default 50 */
  connections?: number
  /**
   * requests per second for every variant (autocannon's overallRate), so that each is measured
   * at the same load; undefined: as fast as each answers. @default BENCH_RATE, else undefined
   */
  rate?: number
  /** the variants to run (the floor always runs). @default all of them */
  variants?: readonly VariantName[]
  /** false: skip the variants that need Redis. @default true */
  redis?: boolean
  /** print progress and the table. @default true */
  print?: boolean
}

/** Starts a CPU reading; calling what it returns ends it, in ms (null without /proc). */
type Meter = () => () => { ms: number | null; mainMs: number | null }

/**
 * This process, every thread (autocannon is in another process), from getrusage (µs, ended
 * threads included), and its main thread apart.
 */
const thisProcess: Meter = () => {
  const t0 = process.cpuUsage()
  const m0 = threadCpuMs(process.pid, process.pid)
  return () => {
    const t = process.cpuUsage(t0)
    const m1 = threadCpuMs(process.pid, process.pid)
    return { ms: (t.user + t.system) / 1000, mainMs: m0 === null || m1 === null ? null : m1 - m0 }
  }
}

function processTree(pid: number): Meter {
  return () => {
    const s0 = treeCpuMs(pid)
    return () => {
      const s1 = treeCpuMs(pid)
      return { ms: s0 === null || s1 === null ? null : treeCpuDeltaMs(s0, s1), mainMs: null }
    }
  }
}

function oneProcess(pid: number): Meter {
  return () => {
    const t0 = processCpuMs(pid)
    return () => {
      const t1 = processCpuMs(pid)
      return { ms: t0 === null || t1 === null ? null : t1 - t0, mainMs: null }
    }
  }
}

interface Variant {
  name: VariantName
  label: string
  url: string
  /** true: a server in this process (ELU and GC are its) */
  inProcess: boolean
  meter: Meter
  /** redis-server's CPU, for the variants on Redis */
  sideMeter?: Meter
  /**
   * Before a round: throws unless the next response is a hit, and returns the check to run after
   * it (throws unless every one of `requests` was a hit).
   */
  hitCheck?: (round: number) => Promise<(requests: number) => void>
}

/** Counts what reaches the origin behind the proxies. */
interface Origin {
  url: string
  port: number
  counter: { requests: number }
}

/** The checks of a variant whose responses carry cachet's Cache-Status and whose cache we hold. */
function cacheHits(name: string, url: string, cache: Cache, origin?: Origin) {
  return async (round: number) => {
    const p = await probe(url)
    if (!isHit(cacheStatusOf(p)))
      throw new Error(
        `${name} round ${round}: the first response was not a hit: Cache-Status ${JSON.stringify(cacheStatusOf(p))}`,
      )
    const before = cache.metrics()
    const upstream0 = origin?.counter.requests ?? 0
    return (requests: number) => {
      const after = cache.metrics()
      const misses = after.misses - before.misses
      const hits = after.hits - before.hits
      if (misses !== 0 || hits < requests) {
        throw new Error(
          `${name} round ${round}: not every request was a hit (${hits} hits, ${misses} misses for ${requests} requests, ${after.storeErrors - before.storeErrors} store errors)`,
        )
      }
      const upstream = (origin?.counter.requests ?? 0) - upstream0
      if (upstream !== 0)
        throw new Error(
          `${name} round ${round}: the origin was asked ${upstream} times during a round of hits`,
        )
    }
  }
}

/** The checks of nginx and Varnish: their hit header on a probe, and an origin that saw nothing. */
function externalHits(name: string, url: string, header: string, origin: Origin) {
  return async (round: number) => {
    const p = await probe(url)
    if (p.headers[header] !== 'HIT')
      throw new Error(
        `${name} round ${round}: the first response was not a hit: ${header} ${JSON.stringify(p.headers[header])}`,
      )
    const upstream0 = origin.counter.requests
    return () => {
      const upstream = origin.counter.requests - upstream0
      if (upstream !== 0)
        throw new Error(
          `${name} round ${round}: the origin was asked ${upstream} times during a round of hits`,
        )
    }
  }
}

/** Warms a cache in front of `url`: the first request is a miss that stores, the second must hit. */
async function warm(name: string, url: string, cache: Cache, lastError: () => string): Promise<void> {
  const first = await probe(url)
  if (first.status !== 200)
    throw new Error(`${name}: warming request got status ${first.status}${lastError()}`)
  // the entry is written after the response (fire and forget): give the store a moment
  for (let i = 0; i < 50 && cache.metrics().stores === 0; i++) await delay(10)
  await delay(20)
  const second = await probe(url)
  if (!isHit(cacheStatusOf(second))) {
    throw new Error(
      `${name}: after warming, expected "Cache-Status: cachet; hit; …", got ${JSON.stringify(cacheStatusOf(second))} (first: ${JSON.stringify(cacheStatusOf(first))})`,
    )
  }
}

/** Warms nginx or Varnish: probes until the hit header says HIT (a store may land a moment later). */
async function warmExternal(name: string, url: string, header: string): Promise<void> {
  let last: unknown
  for (let i = 0; i < 20; i++) {
    const p = await probe(url)
    if (p.status !== 200) throw new Error(`${name}: warming request got status ${p.status}`)
    last = p.headers[header]
    if (last === 'HIT') return
    await delay(50)
  }
  throw new Error(`${name}: after warming, expected "${header}: HIT", got ${JSON.stringify(last)}`)
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

function medianOrNull(xs: readonly (number | null)[]): number | null {
  return xs.some((x) => x === null) || xs.length === 0 ? null : median(xs as number[])
}

function minOrNull(xs: readonly (number | null)[]): number | null {
  return xs.some((x) => x === null) || xs.length === 0 ? null : Math.min(...(xs as number[]))
}

function sumOrNull(xs: readonly (number | null)[]): number | null {
  return xs.some((x) => x === null) ? null : (xs as number[]).reduce((a, b) => a + b, 0)
}

/** Bench-isolate GC counts (autocannon's process is not this isolate). */
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

async function measure(
  v: Variant,
  round: number,
  seconds: number,
  connections: number,
  gc: GcCounter,
  cannon: Cannon,
  rate: number | undefined,
  lastError: () => string,
): Promise<HttpRound> {
  const verify = v.hitCheck === undefined ? undefined : await v.hitCheck(round)
  const g0 = gc.snapshot()
  const endSide = v.sideMeter?.()
  const end = v.meter()
  const elu0: EventLoopUtilization = performance.eventLoopUtilization()
  const r = await cannon.run({ url: v.url, seconds, connections, ...(rate !== undefined ? { rate } : {}) })
  const elu = performance.eventLoopUtilization(elu0).utilization
  const cpu = end()
  const side = endSide?.()
  const g1 = gc.snapshot()
  const requests = r.requests
  if (r.errors + r.timeouts + r.non2xx > 0)
    throw new Error(
      `${v.name} round ${round}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx responses${lastError()}`,
    )
  verify?.(requests)
  const perReq = (ms: number | null | undefined) =>
    ms === null || ms === undefined || requests === 0 ? null : (ms * 1000) / requests
  return {
    round,
    rps: requests / (r.duration > 0 ? r.duration : seconds),
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    requests,
    cpuUsPerReq: perReq(cpu.ms),
    mainCpuUsPerReq: perReq(cpu.mainMs),
    redisCpuUsPerReq: perReq(side?.ms),
    elu: v.inProcess ? elu : null,
    minorGc: v.inProcess ? g1.minor - g0.minor : null,
    majorGc: v.inProcess ? g1.major - g0.major : null,
    gcMs: v.inProcess ? g1.ms - g0.ms : null,
  }
}

function summarise(v: Variant, rounds: HttpRound[]): HttpVariantResult {
  const rps = rounds.map((r) => r.rps)
  const med = median(rps)
  const total = rounds.reduce((n, r) => n + r.requests, 0)
  const per10k = (x: number | null) => (x === null ? null : total > 0 ? (x * 10_000) / total : NaN)
  return {
    name: v.name,
    label: v.label,
    rounds,
    medianRps: med,
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuUsPerReq: medianOrNull(rounds.map((r) => r.cpuUsPerReq)),
    mainCpuUsPerReq: medianOrNull(rounds.map((r) => r.mainCpuUsPerReq)),
    redisCpuUsPerReq: v.sideMeter === undefined ? null : medianOrNull(rounds.map((r) => r.redisCpuUsPerReq)),
    bestCpuUsPerReq: minOrNull(
      rounds.map((r) =>
        r.cpuUsPerReq === null
          ? null
          : r.cpuUsPerReq + (v.sideMeter === undefined ? 0 : (r.redisCpuUsPerReq ?? 0)),
      ),
    ),
    costVsFloor: null,
    spread: (Math.max(...rps) - Math.min(...rps)) / med,
    minorGcPer10k: per10k(sumOrNull(rounds.map((r) => r.minorGc))),
    gcMsPer10k: per10k(sumOrNull(rounds.map((r) => r.gcMs))),
    elu: medianOrNull(rounds.map((r) => r.elu)),
  }
}

/** Runs the variants side by side and returns (and prints) the figures. Everything it starts, it stops. */
export async function benchHttp(opts: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const quick = process.env.BENCH_QUICK === '1'
  const roundSeconds = opts.roundSeconds ?? (quick ? 1 : 3)
  const rounds = opts.rounds ?? (quick ? 2 : 5)
  const warmupSeconds = opts.warmupSeconds ?? (quick ? 0.5 : 1)
  const connections = opts.connections ?? 50
  const envRate = Number(process.env.BENCH_RATE)
  const rate = opts.rate ?? (Number.isFinite(envRate) && envRate > 0 ? envRate : undefined)
  const print = opts.print ?? true
  const wanted = new Set<VariantName>(['floor', ...(opts.variants ?? VARIANT_NAMES)])
  const log = (m: string) => {
    if (print) process.stdout.write(`${m}\n`)
  }
  const notes: string[] = [
    'the origins serve a pre-serialised body: the figures are the cost of a hit, not the saving of skipping real work',
  ]
  const loadAvgAtStart = loadavg()[0] ?? 0
  const cores = cpus().length
  if (loadAvgAtStart > cores / 2) {
    notes.push(
      `load average was ${loadAvgAtStart.toFixed(2)} on ${cores} cores at start: other processes compete for the CPU, so req/s is noisy, and CPU per request rises too (caches and cores are shared): compare the variants of one run, not runs`,
    )
  }

  const body = productBody()
  const policies = writePolicy()
  const appErrors: unknown[] = []
  const lastError = () => {
    const err = appErrors.at(-1)
    return err === undefined ? '' : `: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`
  }
  const variants: Variant[] = []
  const closers: (() => Promise<void>)[] = []
  let redis: RedisProc | undefined
  let cannon: Cannon | undefined
  const gc = new GcCounter()
  try {
    const add = (v: Variant) => variants.push(v)
    const floor = await listen(rawHandler(body))
    closers.push(() => closeServer(floor.server))
    add({
      name: 'floor',
      label: 'node:http floor',
      url: `http://127.0.0.1:${floor.port}${PATH}`,
      inProcess: true,
      meter: thisProcess,
    })

    // the origin behind cachet serve, nginx and Varnish: the floor's handler, counting
    const counter = { requests: 0 }
    const originServer = await listen(rawHandler(body, counter))
    closers.push(() => closeServer(originServer.server))
    const origin: Origin = { url: `http://127.0.0.1:${originServer.port}`, port: originServer.port, counter }

    const koa = async (name: VariantName, label: string, store?: StoreOption) => {
      const cache =
        store === undefined ? undefined : await createCache({ policies, store, logger: quietLogger })
      if (cache !== undefined) closers.push(() => cache.close())
      const s = await listen(originApp(body, appErrors, cache).callback())
      closers.push(() => closeServer(s.server))
      const url = `http://127.0.0.1:${s.port}${PATH}`
      if (cache !== undefined) await warm(name, url, cache, lastError)
      add({
        name,
        label,
        url,
        inProcess: true,
        meter: thisProcess,
        ...(store !== undefined && store !== 'memory' && redis !== undefined
          ? { sideMeter: oneProcess(redis.pid) }
          : {}),
        ...(cache !== undefined ? { hitCheck: cacheHits(name, url, cache) } : {}),
      })
    }
    const serve = async (name: VariantName, label: string, store?: string) => {
      const s = await startServe({
        upstream: origin.url,
        port: 0,
        host: '127.0.0.1',
        policies,
        ...(store !== undefined ? { store } : {}),
        logger: quietLogger,
        // no access log (the command's --quiet): the bench measures the hit, not the log line
        accessLog: undefined,
        warn: (m) => process.stderr.write(`cachet serve: ${m}\n`),
      })
      closers.push(() => s.stop(0))
      const url = `${s.url}${PATH}`
      await warm(name, url, s.cache, lastError)
      add({
        name,
        label,
        url,
        inProcess: true,
        meter: thisProcess,
        ...(store !== undefined && redis !== undefined ? { sideMeter: oneProcess(redis.pid) } : {}),
        hitCheck: cacheHits(name, url, s.cache, origin),
      })
    }
    const external = async (
      name: VariantName,
      label: (x: ExternalServer) => string,
      start: (originPort: number) => Promise<ExternalServer | string>,
    ) => {
      let x: ExternalServer | string
      try {
        x = await start(origin.port)
      } catch (err) {
        // installed but broken (a config the version refuses, a port taken): the other rows stand
        const why = (err instanceof Error ? err.message : String(err)).split('\n').slice(0, 4).join(' / ')
        x = `${name} variant skipped: it did not start: ${why}`
      }
      if (typeof x === 'string') {
        notes.push(x)
        return
      }
      closers.push(() => x.stop())
      const url = `${x.origin}${PATH}`
      await warmExternal(name, url, x.hitHeader)
      add({
        name,
        label: label(x),
        url,
        inProcess: false,
        meter: processTree(x.pid),
        hitCheck: externalHits(name, url, x.hitHeader, origin),
      })
    }

    const needsRedis = (['redis', 'redis-near', 'serve-redis'] as const).filter((n) => wanted.has(n))
    if (needsRedis.length > 0 && opts.redis !== false) {
      try {
        // a bound and an LRU policy, as the README's Redis setup asks (and no eviction warning)
        redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
      } catch (err) {
        notes.push(
          `${needsRedis.join(', ')} skipped: could not start redis-server (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
        )
      }
    } else if (needsRedis.length > 0) {
      notes.push(`${needsRedis.join(', ')} skipped: redis: false`)
    }

    if (wanted.has('bare')) await koa('bare', 'bare Koa')
    if (wanted.has('memory')) await koa('memory', 'Koa + cachet (memory)', 'memory')
    if (redis !== undefined) {
      if (wanted.has('redis')) await koa('redis', 'Koa + cachet (redis)', redis.url)
      // the near cache in front of the same server (README "Near cache")
      if (wanted.has('redis-near'))
        await koa('redis-near', 'Koa + cachet (redis+near)', { redis: redis.url, near: true })
    }
    if (wanted.has('serve')) await serve('serve', 'cachet serve (memory)')
    // cachet serve --redis: the near cache is on by default
    if (wanted.has('serve-redis') && redis !== undefined)
      await serve('serve-redis', 'cachet serve (redis+near)', redis.url)
    if (wanted.has('nginx')) await external('nginx', (x) => `${x.version} proxy_cache`, startNginx)
    if (wanted.has('varnish')) await external('varnish', (x) => x.version, startVarnish)

    const check = await probe(variants[0]!.url)
    if (check.status !== 200 || check.bytes !== Buffer.byteLength(body))
      throw new Error(`the floor answered ${check.status} with ${check.bytes} bytes`)

    cannon = await startCannon()
    log(`warming up (${warmupSeconds} s per variant)…`)
    for (const v of variants) await cannon.run({ url: v.url, seconds: warmupSeconds, connections })

    gc.start()
    const perVariant = new Map<VariantName, HttpRound[]>(variants.map((v) => [v.name, []]))
    const width = Math.max(...variants.map((v) => v.label.length))
    for (let round = 1; round <= rounds; round++) {
      // Interleave, and rotate who goes first, so no variant always follows the same one.
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(round - 1 + k) % variants.length]!
        const r = await measure(v, round, roundSeconds, connections, gc, cannon, rate, lastError)
        perVariant.get(v.name)!.push(r)
        const cpu = r.cpuUsPerReq === null ? '' : `  ${r.cpuUsPerReq.toFixed(1)} µs/req`
        log(
          `  round ${round}/${rounds} ${v.label.padEnd(width)} ${Math.round(r.rps).toLocaleString('en-US').padStart(8)} req/s${cpu}`,
        )
      }
    }
    gc.stop()

    const summary = variants.map((v) => summarise(v, perVariant.get(v.name)!))
    const byName = (n: VariantName) => summary.find((s) => s.name === n)
    const floorCpu = byName('floor')?.cpuUsPerReq ?? null
    for (const s of summary) {
      const t = totalCpu(s)
      s.costVsFloor = t === null || floorCpu === null || floorCpu === 0 ? null : t / floorCpu
    }
    const idle: string[] = []
    for (const s of summary) {
      if (rate !== undefined && s.medianRps < rate * 0.95)
        notes.push(
          `${s.label} answered ${Math.round(s.medianRps)} req/s, below the ${rate} asked: it was saturated, the others were not`,
        )
      else if (rate === undefined && s.elu !== null && s.elu < 0.85)
        idle.push(`${s.label} ${Math.round(s.elu * 100)}%`)
    }
    if (idle.length > 0)
      notes.push(
        `event loop below 85% busy: ${idle.join(', ')}: something else set their pace (the client, Redis, other processes), ` +
          'and a server that waits between requests spends a little more per request; BENCH_RATE=N asks every variant for the same N req/s',
      )
    const rpsRatio = (a: VariantName, b: VariantName) => {
      const x = byName(a)
      const y = byName(b)
      return x === undefined || y === undefined ? null : x.medianRps / y.medianRps
    }
    const result: HttpBenchResult = {
      variants: summary,
      targets: targets(summary),
      ratios: { memoryOverBare: rpsRatio('memory', 'bare'), redisOverBare: rpsRatio('redis', 'bare') },
      config: {
        roundSeconds,
        rounds,
        warmupSeconds,
        connections,
        pipelining: 1,
        rate: rate ?? null,
        bodyBytes: Buffer.byteLength(body),
        path: PATH,
      },
      machine: {
        node: process.version,
        cpus: cores,
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
        platform: `${process.platform}/${process.arch}`,
        loadAvgAtStart,
        loadAvgAtEnd: loadavg()[0] ?? 0,
      },
      notes,
    }
    log('')
    log(formatHttpTable(result))
    return result
  } finally {
    gc.stop()
    await cannon?.close()
    // servers first (their keep-alive sockets), then the caches behind them, then Redis
    for (const close of closers.reverse()) await close()
    await redis?.stop()
    rmSync(policies, { recursive: true, force: true })
  }
}
