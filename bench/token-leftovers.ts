/**
 * `npx tsx bench/token-leftovers.ts`: what a URL flood leaves in Redis once its entries are gone
 * (issue 12 item 10). N distinct URLs go through Koa + cachet on a real redis-server, on a rule
 * with `ttl: 1s` and responses without a validator (so every entry is kept 1 s). Then, once the
 * entries have expired, the keys that are left are counted (SCAN, which also drops expired keys it
 * visits), with the largest PTTL among them and among the URL generation keys, and Redis'
 * `used_memory`, against the same figures taken before the flood. When the longest-lived URL
 * generation key lives at most `TOKENS_WAIT_MAX_MS` (default 5 min), the bench waits it out and
 * counts again. (The namespace and rule keys, two of them, live 31 days by design.)
 *
 *   npx tsx bench/token-leftovers.ts                      # 50,000 URLs
 *   TOKENS_URLS=10000 TOKENS_WAIT_MAX_MS=0 npx tsx bench/token-leftovers.ts
 *
 * `benchTokenLeftovers(opts)` returns the figures as data (bench/README.md).
 */
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import Koa from 'koa'
import { createCache } from '../src/create-cache.js'
import { policyDir, yaml } from '../test/helpers/policies.js'
import { startRedis } from '../test/helpers/redis-server.js'
import { serveApp } from './serve-app.js'

export interface TokenLeftoversOptions {
  /** distinct URLs, each requested once. @default 50000 */
  urls?: number
  /** concurrent requests. @default 32 */
  concurrency?: number
  /** wait out the leftovers (then count again) when they live at most this long, ms. @default 300000 */
  waitMaxMs?: number
  /** print the summary lines. @default true */
  print?: boolean
}

export interface KeyFigures {
  /** keys in the database */
  keys: number
  /** of which URL generation keys (`<name>:g:u:…`) */
  urlGens: number
  /** the largest PTTL among the keys, ms (-1: some key has no expiry; 0: no key) */
  maxPttlMs: number
  /** the largest PTTL among the URL generation keys, ms (0: none) */
  urlGenMaxPttlMs: number
  /** INFO memory used_memory, bytes */
  usedMemory: number
}

export interface TokenLeftoversResult {
  urls: number
  /** responses the cache stored (Cache-Status `stored`) */
  stored: number
  before: KeyFigures
  /** right after the flood */
  afterFlood: KeyFigures
  /** once every entry has expired */
  afterEntries: KeyFigures
  /** once the longest leftover has expired too (when it was waited out) */
  afterLeftovers?: KeyFigures
  floodMs: number
}

const NAME = 'bench'

export async function benchTokenLeftovers(opts: TokenLeftoversOptions = {}): Promise<TokenLeftoversResult> {
  const urls = opts.urls ?? 50_000
  const concurrency = opts.concurrency ?? 32
  const waitMaxMs = opts.waitMaxMs ?? 300_000
  const print = opts.print ?? true
  const say = (s: string) => {
    if (print) process.stdout.write(`${s}\n`)
  }

  const redis = await startRedis({ args: ['--maxmemory', '512mb', '--maxmemory-policy', 'allkeys-lru'] })
  const probe = new Redis(redis.url, { lazyConnect: true, enableAutoPipelining: true })
  await probe.connect()
  const cache = await createCache({
    name: NAME,
    store: redis.url as `redis://${string}`,
    policies: policyDir(
      yaml(`
      version: 1
      rules:
        - id: flood
          match: /flood/*
          ttl: 1s
    `),
    ),
    logger: { error: (m) => process.stderr.write(`${m}\n`), warn: () => {}, info: () => {}, debug: () => {} },
  })
  const app = new Koa()
  app.use(cache.middleware())
  app.use((ctx) => {
    // no ETag / Last-Modified: the entry is kept exactly its 1 s of freshness
    ctx.type = 'text/plain'
    ctx.body = `item ${ctx.path.slice(7)}`
  })
  const served = await serveApp(app, concurrency)
  const get = served.get

  /** every key, by SCAN (which also removes the expired keys it visits), with their PTTLs */
  const figures = async (): Promise<KeyFigures> => {
    let cursor = '0'
    let keys = 0
    let urlGens = 0
    let maxPttlMs = 0
    let urlGenMaxPttlMs = 0
    do {
      const [next, batch] = await probe.scan(cursor, 'COUNT', 1000)
      cursor = next
      const pttls = await Promise.all(batch.map((k) => probe.pttl(k)))
      for (let i = 0; i < batch.length; i++) {
        const p = pttls[i]!
        if (p === -2) continue // expired between SCAN and PTTL
        keys++
        if (batch[i]!.startsWith(`${NAME}:g:u:`)) {
          urlGens++
          urlGenMaxPttlMs = Math.max(urlGenMaxPttlMs, p)
        }
        if (p === -1 || maxPttlMs === -1) maxPttlMs = -1
        else maxPttlMs = Math.max(maxPttlMs, p)
      }
    } while (cursor !== '0')
    const info = await probe.info('memory')
    const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN)
    return { keys, urlGens, maxPttlMs, urlGenMaxPttlMs, usedMemory }
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

  try {
    const before = await figures()
    const t0 = performance.now()
    let next = 0
    let stored = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < urls) {
          const r = await get(`/flood/${next++}`)
          if (r.status !== 200) throw new Error(`an answer was ${r.status}`)
          if (r.cacheStatus.endsWith('stored')) stored++
        }
      }),
    )
    const floodMs = performance.now() - t0
    await sleep(200) // writes are fire-and-forget
    const afterFlood = await figures()
    await sleep(1500) // every entry (1 s) has expired
    const afterEntries = await figures()
    const out: TokenLeftoversResult = { urls, stored, before, afterFlood, afterEntries, floodMs }

    const fmt = (f: KeyFigures) =>
      `${f.keys.toLocaleString('en-US')} keys, max PTTL ${f.maxPttlMs === -1 ? 'none (a key without expiry)' : duration(f.maxPttlMs)}; ` +
      `${f.urlGens.toLocaleString('en-US')} URL generation keys, max PTTL ${duration(f.urlGenMaxPttlMs)}; ` +
      `used_memory ${(f.usedMemory / 1024 / 1024).toFixed(2)} MiB`
    say(
      `flood: ${urls.toLocaleString('en-US')} distinct URLs on a 1 s rule in ${(floodMs / 1000).toFixed(1)} s, ${stored.toLocaleString('en-US')} stored`,
    )
    say(`before the flood:        ${fmt(before)}`)
    say(`right after the flood:   ${fmt(afterFlood)}`)
    say(`entries expired (+1.5 s): ${fmt(afterEntries)}`)
    // the namespace and rule keys (2) live GEN_TTL by design: the URL keys are the leftovers
    const left = afterEntries.urlGenMaxPttlMs
    if (left > 0 && left <= waitMaxMs) {
      say(`waiting ${duration(left)} for the URL generation keys to expire…`)
      await sleep(left + 200)
      out.afterLeftovers = await figures()
      say(`leftovers expired:       ${fmt(out.afterLeftovers)}`)
    } else if (left > 0) {
      say(`(not waiting for the URL generation keys: they live ${duration(left)})`)
    }
    return out
  } finally {
    await served.close()
    await cache.close()
    await probe.quit()
    await redis.stop()
  }
}

function duration(ms: number): string {
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)} days`
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`
  return `${(ms / 1000).toFixed(1)} s`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v))
  await benchTokenLeftovers({
    urls: n(process.env.TOKENS_URLS),
    concurrency: n(process.env.TOKENS_CONCURRENCY),
    waitMaxMs: n(process.env.TOKENS_WAIT_MAX_MS),
  })
}
