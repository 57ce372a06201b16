/**
 * The HTTP bench's figures as data (the types bench/http.ts returns), issue 11's aims checked
 * against them, and the table `npm run bench` prints.
 */

/** In the table's order. */
export const VARIANT_NAMES = [
  'floor',
  'bare',
  'memory',
  'redis',
  'redis-near',
  'serve',
  'serve-redis',
  'nginx',
  'varnish',
] as const

export type VariantName = (typeof VARIANT_NAMES)[number]

export interface HttpRound {
  round: number
  /** completed requests / measured seconds */
  rps: number
  p50Ms: number
  p99Ms: number
  requests: number
  /**
   * CPU time of the server per request, µs: the bench process's every thread (node variants)
   * or nginx's / varnishd's every process. null without /proc.
   */
  cpuUsPerReq: number | null
  /** of it, the bench process's main thread (node variants; null for nginx and Varnish) */
  mainCpuUsPerReq: number | null
  /** CPU time of the redis-server process per request, µs (variants on Redis) */
  redisCpuUsPerReq: number | null
  /** event-loop utilisation of the main thread during the round (node variants) */
  elu: number | null
  /** minor (scavenge) and major GCs of the bench isolate during the round (node variants) */
  minorGc: number | null
  majorGc: number | null
  gcMs: number | null
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
  /** medians of the rounds' CPU µs per request (see HttpRound) */
  cpuUsPerReq: number | null
  mainCpuUsPerReq: number | null
  redisCpuUsPerReq: number | null
  /**
   * the lowest round's CPU µs per request, redis-server's included: other load only ever adds
   * to a round's CPU, so on a busy machine this is the steadier estimate of the cost itself
   */
  bestCpuUsPerReq: number | null
  /** (cpuUsPerReq + redisCpuUsPerReq) ÷ the floor's cpuUsPerReq: what a request costs next to node:http's */
  costVsFloor: number | null
  /** spread of the rounds' req/s: (max - min) / median */
  spread: number
  /** over all rounds: GCs and GC pause per 10,000 requests (node variants) */
  minorGcPer10k: number | null
  gcMsPer10k: number | null
  /** median event-loop utilisation of the main thread (node variants) */
  elu: number | null
}

export interface HttpBenchResult {
  variants: HttpVariantResult[]
  /** issue 11's aims, each met, not met, or not measured (null) */
  targets: Target[]
  ratios: {
    /** memory medianRps / bare medianRps (null when either did not run) */
    memoryOverBare: number | null
    /** redis medianRps / bare medianRps */
    redisOverBare: number | null
  }
  config: {
    roundSeconds: number
    rounds: number
    warmupSeconds: number
    connections: number
    pipelining: 1
    /** requests per second asked of every variant; null: as fast as each answers */
    rate: number | null
    bodyBytes: number
    path: string
  }
  machine: {
    node: string
    cpus: number
    cpuModel: string
    platform: string
    loadAvgAtStart: number
    loadAvgAtEnd: number
  }
  notes: string[]
}

/** One of issue 11's aims: a CPU-per-request ratio under a limit. */
export interface Target {
  aim: string
  /** the variant's CPU µs/req ÷ the reference's; null when either did not run */
  ratio: number | null
  limit: number
  /** ratio below the limit (strict) or at most the limit; null: not measured */
  met: boolean | null
  /** the figures behind the ratio, or why it was not measured */
  detail: string
}

/** A request's whole CPU: the server's, plus redis-server's for the variants on Redis. */
export function totalCpu(v: HttpVariantResult): number | null {
  if (v.cpuUsPerReq === null) return null
  return v.cpuUsPerReq + (v.redisCpuUsPerReq ?? 0)
}

const us = (x: number | null) => (x === null ? '-' : x.toFixed(1))

function target(
  variants: readonly HttpVariantResult[],
  aim: string,
  name: VariantName,
  ref: VariantName,
  limit: number,
  strict: boolean,
): Target {
  const v = variants.find((x) => x.name === name)
  const r = variants.find((x) => x.name === ref)
  if (v === undefined || r === undefined) {
    const missing = [v === undefined ? name : '', r === undefined ? ref : ''].filter(Boolean).join(' and ')
    return { aim, ratio: null, limit, met: null, detail: `not measured (${missing} did not run)` }
  }
  const a = totalCpu(v)
  const b = totalCpu(r)
  if (a === null || b === null || b === 0)
    return { aim, ratio: null, limit, met: null, detail: 'not measured (no /proc CPU figures)' }
  const ratio = a / b
  const best =
    v.bestCpuUsPerReq === null || r.bestCpuUsPerReq === null || r.bestCpuUsPerReq === 0
      ? ''
      : `; best rounds ${us(v.bestCpuUsPerReq)} ÷ ${us(r.bestCpuUsPerReq)} = ${(v.bestCpuUsPerReq / r.bestCpuUsPerReq).toFixed(3)}x`
  const show = (x: HttpVariantResult) =>
    x.redisCpuUsPerReq === null
      ? us(x.cpuUsPerReq)
      : `(${us(x.cpuUsPerReq)} + ${us(x.redisCpuUsPerReq)} redis)`
  return {
    aim,
    ratio,
    limit,
    met: strict ? ratio < limit : ratio <= limit,
    detail: `${show(v)} ÷ ${show(r)} µs = ${ratio.toFixed(3)}x${best}`,
  }
}

/** Issue 11's "What it must show", on CPU per request (medians of the interleaved rounds). */
export function targets(variants: readonly HttpVariantResult[]): Target[] {
  return [
    target(
      variants,
      'cachet serve (memory) within 1.15x of the node:http floor',
      'serve',
      'floor',
      1.15,
      false,
    ),
    target(variants, 'cachet serve (memory) below Varnish', 'serve', 'varnish', 1, true),
    target(variants, 'Koa + cachet (memory) within 1.05x of bare Koa', 'memory', 'bare', 1.05, false),
    target(
      variants,
      'cachet serve (redis+near) within 1.1x of cachet serve (memory), redis-server included',
      'serve-redis',
      'serve',
      1.1,
      false,
    ),
  ]
}

function verdict(t: Target): string {
  return t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'
}

export function formatHttpTable(res: HttpBenchResult): string {
  const head = [
    'variant',
    'req/s (median)',
    'p50 ms',
    'p99 ms',
    'spread',
    'CPU µs/req',
    'main thread',
    '+ redis-server',
    'best round',
    'cost vs floor',
    'ELU',
    'minor GC/10k',
    'GC ms/10k',
  ]
  const f1 = (x: number | null) => (x === null ? '-' : x.toFixed(1))
  const rows = res.variants.map((v) => [
    v.label,
    Math.round(v.medianRps).toLocaleString('en-US'),
    v.p50Ms.toFixed(0),
    v.p99Ms.toFixed(0),
    `${(v.spread * 100).toFixed(1)}%`,
    f1(v.cpuUsPerReq),
    f1(v.mainCpuUsPerReq),
    f1(v.redisCpuUsPerReq),
    f1(v.bestCpuUsPerReq),
    v.costVsFloor === null ? '-' : `${v.costVsFloor.toFixed(2)}x`,
    v.elu === null ? '-' : v.elu.toFixed(2),
    f1(v.minorGcPer10k),
    f1(v.gcMsPer10k),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`
  const sep = `|${widths.map((w, i) => (i > 0 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`
  const c = res.config
  const m = res.machine
  const tw = Math.max(...res.targets.map((t) => t.aim.length))
  const ratio = (x: number | null) => (x === null ? '-' : x.toFixed(3))
  const out = [
    `HTTP hit path: ${c.rounds} interleaved rounds x ${c.roundSeconds} s per variant (after ${c.warmupSeconds} s warm-up), ` +
      `${c.connections} connections, pipelining 1, ${c.rate === null ? 'as fast as each answers' : `${c.rate} req/s asked of each`}, GET ${c.path}, ${c.bodyBytes} B JSON body`,
    `machine: ${m.cpus} x ${m.cpuModel}, node ${m.node}, load average ${m.loadAvgAtStart.toFixed(2)} at start, ` +
      `${m.loadAvgAtEnd.toFixed(2)} at end; the servers, autocannon (own process) and redis-server share these cores`,
    'CPU µs/req: the node variants: this process, every thread; nginx and Varnish: every process of theirs. ' +
      'best round: the lowest round (+ redis-server); cost vs floor: (CPU + redis-server) ÷ the floor, medians; targets on medians',
    '',
    line(head),
    sep,
    ...rows.map(line),
    '',
    'targets (issue 11; CPU per request, medians):',
    ...res.targets.map((t) => `  ${t.aim.padEnd(tw)}  ${verdict(t).padEnd(12)}  ${t.detail}`),
    ...(res.ratios.memoryOverBare === null && res.ratios.redisOverBare === null
      ? []
      : [
          `req/s ratios (noisy on a shared machine): memory/bare ${ratio(res.ratios.memoryOverBare)}, redis/bare ${ratio(res.ratios.redisOverBare)}`,
        ]),
    ...res.notes.map((n) => `note: ${n}`),
  ]
  return out.join('\n')
}
