/**
 * The hit path without the network: the JavaScript a request costs inside Koa, measured side by
 * side in one process, interleaved rounds, median of the rounds. Three loops over fresh Koa
 * contexts (real IncomingMessage/ServerResponse objects, no socket):
 *   - context only (the floor both others pay),
 *   - the trivial origin handler bare Koa runs (5 headers + a 945 B Buffer body),
 *   - the cachet middleware answering the same response from the memory store (a hit),
 *   - the same hit with a `cachet:request` diagnostics_channel subscriber (tracing on).
 * Beside wall time per request it reports the process's CPU time per request
 * (process.cpuUsage: every thread, GC helpers included) and the hit loop's requests per second.
 * The HTTP bench (bench/http.ts) adds sockets, parsing and writes, which dominate on this
 * machine and make its ratios noisy; this one isolates what cachet itself adds.
 *
 *   npx tsx bench/hit-path.ts
 */

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import Koa, { type Context } from 'koa'
import { createCache } from '../src/index.js'

export interface HitPathResult {
  /** µs per request above the bare context, median of rounds */
  bareHandlerUs: number
  cachetHitUs: number
  contextUs: number
  /** process CPU µs per request of the hit loop, context included (median of rounds) */
  cachetHitCpuUs: number
  /** hit loop requests per second, context included (median of rounds) */
  cachetHitReqPerSec: number
  /** the hit with a cachet:request subscriber: µs above the bare context, and CPU µs per request */
  tracedHitUs: number
  tracedHitCpuUs: number
  /** 1-minute load average at the start, and the machine's cores: figures taken above cores/2 are not quotable */
  load1: number
  cores: number
}

export async function benchHitPath(opts: { n?: number; rounds?: number } = {}): Promise<HitPathResult> {
  const n = opts.n ?? 200_000
  const rounds = opts.rounds ?? 5
  const dir = mkdtempSync(join(tmpdir(), 'cachet-bench-'))
  writeFileSync(
    join(dir, 'bench.yaml'),
    'version: 1\nrules:\n  - id: product\n    match: /products/*\n    ttl: 5m\n',
  )
  const body = Buffer.from(JSON.stringify({ id: 42, name: 'Product 42', description: 'x'.repeat(880) }))
  const app = new Koa()
  const cache = await createCache({ policies: dir, store: 'memory' })
  try {
    const mw = cache.middleware()
    const origin = async (ctx: Context) => {
      ctx.set('Cache-Control', 'public, max-age=300')
      ctx.set('ETag', '"p42-v1"')
      ctx.set('Last-Modified', 'Wed, 21 Oct 2015 07:28:00 GMT')
      ctx.set('Vary', 'Accept-Encoding')
      ctx.set('X-Product-Id', '42')
      ctx.type = 'json'
      ctx.body = body
    }
    const socket = new Socket()
    const mkctx = (): Context => {
      const req = new IncomingMessage(socket)
      req.method = 'GET'
      req.url = '/products/42'
      req.headers = {
        host: '127.0.0.1:3000',
        'accept-encoding': 'gzip, deflate',
        'user-agent': 'bench',
        accept: '*/*',
      }
      return app.createContext(req, new ServerResponse(req)) as unknown as Context
    }
    const miss = mkctx()
    await mw(miss, () => origin(miss))
    // cachet writes an entry once the response has gone out (outer middleware may still add
    // Set-Cookie): with no socket, say it has
    miss.res.emit('close')
    for (let i = 0; i < 100; i++) {
      const c = mkctx()
      await mw(c, async () => {
        throw new Error('the bench expects every request to be a hit')
      })
      if (i === 99 && !/^cachet; hit/.test(String(c.response.get('Cache-Status'))))
        throw new Error('not a hit')
      await new Promise((r) => setImmediate(r))
    }
    const fail = async () => {
      throw new Error('not a hit')
    }
    const ctxOnly: number[] = []
    const bare: number[] = []
    const hit: number[] = []
    const hitCpu: number[] = []
    const hitRps: number[] = []
    const traced: number[] = []
    const tracedCpu: number[] = []
    const subscriber = () => {}
    const cpuUs = (from: NodeJS.CpuUsage) => {
      const d = process.cpuUsage(from)
      return (d.user + d.system) / n
    }
    const load1 = loadavg()[0]!
    for (let r = 0; r < rounds; r++) {
      let t = process.hrtime.bigint()
      for (let i = 0; i < n; i++) mkctx()
      const base = Number(process.hrtime.bigint() - t) / n / 1000
      t = process.hrtime.bigint()
      for (let i = 0; i < n; i++) await origin(mkctx())
      bare.push(Number(process.hrtime.bigint() - t) / n / 1000 - base)
      let cpu = process.cpuUsage()
      t = process.hrtime.bigint()
      for (let i = 0; i < n; i++) await mw(mkctx(), fail)
      const hitTotal = Number(process.hrtime.bigint() - t) / n / 1000
      hitCpu.push(cpuUs(cpu))
      hit.push(hitTotal - base)
      hitRps.push(1e6 / hitTotal)
      subscribe('cachet:request', subscriber)
      cpu = process.cpuUsage()
      t = process.hrtime.bigint()
      for (let i = 0; i < n; i++) await mw(mkctx(), fail)
      traced.push(Number(process.hrtime.bigint() - t) / n / 1000 - base)
      tracedCpu.push(cpuUs(cpu))
      unsubscribe('cachet:request', subscriber)
      ctxOnly.push(base)
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    return {
      bareHandlerUs: median(bare),
      cachetHitUs: median(hit),
      contextUs: median(ctxOnly),
      cachetHitCpuUs: median(hitCpu),
      cachetHitReqPerSec: median(hitRps),
      tracedHitUs: median(traced),
      tracedHitCpuUs: median(tracedCpu),
      load1,
      cores: availableParallelism(),
    }
  } finally {
    await cache.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function formatHitPath(r: HitPathResult): string {
  return [
    'hit path without the network (JS per request, median of interleaved rounds, memory store):',
    `  Koa context alone            ${r.contextUs.toFixed(2)} µs`,
    `  bare handler (the origin)    ${r.bareHandlerUs.toFixed(2)} µs above it`,
    `  cachet hit (origin skipped)  ${r.cachetHitUs.toFixed(2)} µs above it`,
    `  cachet hit / bare handler    ${(r.cachetHitUs / r.bareHandlerUs).toFixed(2)}x`,
    `  cachet hit, whole loop       ${Math.round(r.cachetHitReqPerSec).toLocaleString('en')} req/s, ${r.cachetHitCpuUs.toFixed(2)} CPU µs/req (process)`,
    `  hit, cachet:request traced   ${r.tracedHitUs.toFixed(2)} µs above the context, ${r.tracedHitCpuUs.toFixed(2)} CPU µs/req`,
    `  load average at start        ${r.load1.toFixed(2)} on ${r.cores} cores${r.load1 > r.cores / 2 ? ' (busy machine: do not quote these figures)' : ''}`,
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${formatHitPath(await benchHitPath())}\n`)
}
