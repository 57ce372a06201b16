/**
 * Memory under a URL flood (issue 12 item 9): does the memory store's `maxBytes` bound what the
 * process really grows by?
 *
 * A Koa app with `cache.middleware()` on the memory store runs in a child process of its own
 * (started with `--expose-gc`, so its heap can be measured after a full collection), behind a
 * real listening HTTP server on 127.0.0.1. This process floods it with N distinct URLs through
 * autocannon (keep-alive connections), every one a miss that the cache stores, then asks the child
 * for its memory figures. The child's RSS is read before the flood and after it, both as it is
 * (what an operator sees) and after `gc()` (what is live).
 *
 *   npx tsx bench/memory-flood.ts                  # 600,000 URLs, 64 MiB store, 256-byte bodies
 *   FLOOD_URLS=200000 FLOOD_MAX_BYTES=16777216 FLOOD_BODY=2048 npx tsx bench/memory-flood.ts
 *   FLOOD_JSON=out.json npx tsx bench/memory-flood.ts
 *
 * The figures are for one machine and one Node version (V8's heap layout decides the per-entry
 * overhead): read them as the ratio growth ÷ maxBytes, which is what the README states.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import Koa from 'koa'
import { createCache } from '../src/index.js'
import type { MemoryStore } from '../src/store/memory.js'
import { type MemoryFigures, memoryFigures } from '../test/store/flood.js'

const MiB = 1024 * 1024

export interface HttpFloodOptions {
  /** distinct URLs requested, each once. @default 600_000 */
  urls?: number
  /** the memory store's bound. @default 64 MiB */
  maxBytes?: number
  /** response body bytes. @default 256 */
  bodyBytes?: number
  /** keep-alive connections. @default 32 */
  connections?: number
}

export interface HttpFloodResult {
  urls: number
  maxBytes: number
  bodyBytes: number
  seconds: number
  /** responses that were not 200 (the bench fails if any) */
  bad: number
  /** the child before the flood (after gc) */
  before: MemoryFigures
  /** right after the flood, as it is */
  after: MemoryFigures
  /** after the flood and a full gc */
  afterGc: MemoryFigures
  store: { entries: number; bytes: number }
  /** responses the cache stored */
  stores: number
}

interface ChildReady {
  type: 'ready'
  port: number
  before: MemoryFigures
}
interface ChildFigures {
  type: 'figures'
  after: MemoryFigures
  afterGc: MemoryFigures
  store: { entries: number; bytes: number }
  stores: number
}

export async function floodHttp(opts: HttpFloodOptions = {}): Promise<HttpFloodResult> {
  const urls = opts.urls ?? 600_000
  const maxBytes = opts.maxBytes ?? 64 * MiB
  const bodyBytes = opts.bodyBytes ?? 256
  const connections = opts.connections ?? 32
  const child = fork(fileURLToPath(import.meta.url), ['--serve', String(maxBytes), String(bodyBytes)], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  try {
    const ready = await message<ChildReady>(child, 'ready')
    let i = 0
    const started = performance.now()
    const result = await autocannon({
      url: `http://127.0.0.1:${ready.port}`,
      connections,
      amount: urls,
      // one distinct URL per request: every request is a miss the cache stores
      requests: [{ setupRequest: (req) => ({ ...req, path: `/flood/${(i++).toString(36)}` }) }],
    })
    const seconds = (performance.now() - started) / 1000
    child.send({ type: 'measure' })
    const figures = await message<ChildFigures>(child, 'figures')
    return {
      urls,
      maxBytes,
      bodyBytes,
      seconds,
      bad: result.non2xx + result.errors + result.timeouts,
      before: ready.before,
      after: figures.after,
      afterGc: figures.afterGc,
      store: figures.store,
      stores: figures.stores,
    }
  } finally {
    child.kill()
  }
}

function message<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(m as T)
    }
    const onExit = (code: number | null) => {
      reject(new Error(`flood server exited (${code}) before "${type}"`))
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** The child: one cache on the memory store in front of an origin that answers every URL. */
async function serve(maxBytes: number, bodyBytes: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-flood-'))
  const policy = 'version: 1\nrules:\n  - id: flood\n    match: /flood/*\n    ttl: 5m\n'
  writeFileSync(join(dir, 'flood.yaml'), policy)
  const cache = await createCache({
    policies: dir,
    store: { memory: { maxBytes } },
    logger: {
      error: (m) => process.stderr.write(`${m}\n`),
      warn: (m) => process.stderr.write(`${m}\n`),
      info() {},
      debug() {},
    },
  })
  rmSync(dir, { recursive: true, force: true })
  const body = 'x'.repeat(bodyBytes)
  const app = new Koa()
  app.use(cache.middleware())
  app.use((ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300')
    ctx.type = 'text/plain'
    ctx.body = body
  })
  const server = http.createServer(app.callback())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const before = memoryFigures(true)
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port, before })
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'measure') return
    const after = memoryFigures(false)
    const afterGc = memoryFigures(true)
    const { entries, bytes } = (cache.store as MemoryStore).stats
    const stores = cache.metrics().stores
    process.send!({ type: 'figures', after, afterGc, store: { entries, bytes }, stores })
  })
}

const mb = (n: number) => `${(n / MiB).toFixed(1)} MB`

export function formatHttpFlood(r: HttpFloodResult): string {
  const b = r.before
  const times = (n: number) => `${(n / r.maxBytes).toFixed(2)}×`
  const row = (label: string, m: MemoryFigures, growth: boolean, live: boolean) => {
    const liveGrowth = m.heapUsed + m.arrayBuffers - b.heapUsed - b.arrayBuffers
    return (
      `| ${label} | ${mb(m.rss)} | ${mb(m.heapUsed)} | ${mb(m.arrayBuffers)} | ` +
      (growth ? `${mb(m.rss - b.rss)} | ${times(m.rss - b.rss)} | ` : '| | ') +
      (live ? `${mb(liveGrowth)} (${times(liveGrowth)}) |` : '|')
    )
  }
  return [
    `flood: ${r.urls} distinct URLs, ${r.bodyBytes}-byte bodies, memory store maxBytes ${mb(r.maxBytes)}, ` +
      `${r.seconds.toFixed(1)} s (${Math.round(r.urls / r.seconds)} req/s), ${r.stores} stored, ${r.bad} bad`,
    `store accounting after: ${r.store.entries} entries, ${mb(r.store.bytes)}`,
    '| | RSS | heap used | array buffers | RSS growth | growth ÷ maxBytes | live growth (heap + buffers) |',
    '|---|---|---|---|---|---|---|',
    row('before (after gc)', b, false, false),
    row('after the flood', r.after, true, false),
    row('after the flood, gc', r.afterGc, true, true),
  ].join('\n')
}

const env = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined)

if (process.argv[2] === '--serve') {
  await serve(Number(process.argv[3]), Number(process.argv[4]))
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await floodHttp({
    urls: env('FLOOD_URLS'),
    maxBytes: env('FLOOD_MAX_BYTES'),
    bodyBytes: env('FLOOD_BODY'),
    connections: env('FLOOD_CONNECTIONS'),
  })
  process.stdout.write(`${formatHttpFlood(r)}\n`)
  if (process.env.FLOOD_JSON) writeFileSync(process.env.FLOOD_JSON, `${JSON.stringify(r, null, 2)}\n`)
  if (r.bad > 0) process.exitCode = 1
}
