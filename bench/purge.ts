/**
 * `npx tsx bench/purge.ts`: what a purge costs. 10,000 entries sharing one tag are stored through
 * real requests (Koa + cachet on a real redis-server), then `cache.purge({ tags: [tag] })` is
 * timed and the Redis commands it issued are counted (`CONFIG RESETSTAT`, then `INFO
 * commandstats`). Generation tokens make a purge one `SET` per covered generation key whatever
 * the number of entries; the entries themselves are left to expire or be evicted. For scale the
 * same count is taken for a hit and for a cold miss.
 *
 * `benchPurge(opts)` returns the figures as data (bench/README.md).
 */
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import Koa from 'koa'
import { createCache } from '../src/create-cache.js'
import { policyDir, yaml } from '../test/helpers/policies.js'
import { startRedis } from '../test/helpers/redis-server.js'
import { serveApp } from './serve-app.js'

export interface PurgeBenchOptions {
  /** entries sharing the purged tag. @default 10000 */
  entries?: number
  /** concurrent requests while storing them. @default 32 */
  concurrency?: number
  /** timed purges (the first is reported on its own too). @default 5 */
  repeats?: number
  /** print the summary lines. @default true */
  print?: boolean
}

export interface PurgeBenchResult {
  entries: number
  /** wall time of the first purge, ms */
  firstPurgeMs: number
  /** median over `repeats` purges, ms */
  medianPurgeMs: number
  /** Redis commands one purge issued, and which */
  purgeCommands: number
  purgeBreakdown: Record<string, number>
  /** Redis commands one hit issued, and which */
  hitCommands: number
  hitBreakdown: Record<string, number>
  /** Redis commands one cold miss (lookup, lock, tokens, write, unlock) issued */
  missCommands: number
  missBreakdown: Record<string, number>
  /** entries sampled after the purge that were served from the cache (must be 0) */
  servedAfterPurge: number
  /** time to store the entries through real requests, ms */
  fillMs: number
}

const TAG = 'catalog'
const NAME = 'bench'

export async function benchPurge(opts: PurgeBenchOptions = {}): Promise<PurgeBenchResult> {
  const entries = opts.entries ?? 10_000
  const concurrency = opts.concurrency ?? 32
  const repeats = opts.repeats ?? 5
  const print = opts.print ?? true
  const say = (s: string) => {
    if (print) process.stdout.write(`${s}\n`)
  }

  const redis = await startRedis({ args: ['--maxmemory', '512mb', '--maxmemory-policy', 'allkeys-lru'] })
  const cache = await createCache({
    name: NAME,
    store: redis.url as `redis://${string}`,
    policies: policyDir(
      yaml(`
      version: 1
      rules:
        - id: items
          match: /items/*
          ttl: 1h
          tags: [${TAG}, "item:{path.2}"]
    `),
    ),
    logger: { error: (m) => process.stderr.write(`${m}\n`), warn: () => {}, info: () => {}, debug: () => {} },
  })
  const app = new Koa()
  app.use(cache.middleware())
  app.use((ctx) => {
    ctx.type = 'application/json'
    ctx.body = JSON.stringify({
      id: ctx.path.slice(7),
      name: `item ${ctx.path.slice(7)}`,
      price: 100,
      pad: 'x'.repeat(120),
    })
  })
  const served = await serveApp(app, concurrency)
  const get = served.get
  const all = async (paths: readonly string[]) => {
    let next = 0
    const out: { status: number; cacheStatus: string }[] = new Array(paths.length)
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < paths.length) {
          const i = next++
          out[i] = await get(paths[i]!)
        }
      }),
    )
    return out
  }
  const stored = async () => {
    let n = 0
    let cursor = '0'
    do {
      const [c, ...keys] = (
        await redis.cli('--no-raw', 'SCAN', cursor, 'MATCH', `${NAME}:items:*`, 'COUNT', '5000')
      ).split('\n')
      cursor = (c ?? '0').replace(/^1\) "?|"$/g, '')
      n += keys.filter((k) => k.trim() !== '' && !/\(empty/.test(k)).length
    } while (cursor !== '0')
    return n
  }
  /**
   * Commands Redis executed since the last RESETSTAT, minus our own CONFIG/INFO. commandstats
   * also counts the commands a Lua script runs (an EVALSHA that GETs twice shows as evalsha=1, get=2).
   */
  const commandStats = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {}
    for (const line of (await redis.cli('INFO', 'commandstats')).split('\n')) {
      const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
      if (m && !/^(?:info|config)(?:\||$)/.test(m[1]!)) out[m[1]!] = Number(m[2])
    }
    return out
  }
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0)

  try {
    const paths = Array.from({ length: entries }, (_, i) => `/items/${i}`)
    const t0 = performance.now()
    // writes are fire-and-forget and a store drops the ones beyond its in-flight bound: go again
    // over whatever is not a hit until every entry is in Redis
    let pending = paths
    for (let pass = 0; pending.length > 0; pass++) {
      if (pass === 5) throw new Error(`${pending.length} entries still not stored after 5 passes`)
      const res = await all(pending)
      const bad = res.find((r) => r.status !== 200)
      if (bad) throw new Error(`an answer was ${bad.status}`)
      const until = Date.now() + 10_000
      while ((await stored()) < entries && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
      if ((await stored()) >= entries) break
      pending = paths.filter((_, i) => !res[i]!.cacheStatus.includes('hit'))
    }
    const fillMs = performance.now() - t0
    const storedCount = await stored()
    if (storedCount !== entries) throw new Error(`expected ${entries} entries in Redis, found ${storedCount}`)

    // one hit, counted
    await redis.cli('CONFIG', 'RESETSTAT')
    const hit = await get('/items/1')
    if (!hit.cacheStatus.startsWith(`${NAME}; hit`)) throw new Error(`expected a hit, got ${hit.cacheStatus}`)
    const hitBreakdown = await commandStats()

    // the purge, timed and counted (the first on its own, then repeats)
    await redis.cli('CONFIG', 'RESETSTAT')
    let t = performance.now()
    const result = await cache.purge({ tags: [TAG] })
    const firstPurgeMs = performance.now() - t
    const purgeBreakdown = await commandStats()
    if (result.generations !== 1) throw new Error(`expected 1 generation bumped, got ${result.generations}`)
    const times = [firstPurgeMs]
    for (let i = 1; i < repeats; i++) {
      t = performance.now()
      await cache.purge({ tags: [TAG] })
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    const medianPurgeMs = times[Math.floor(times.length / 2)]!

    // covered means covered: a sample across the range is never served from the cache
    const sample = paths.filter((_, i) => i % Math.max(1, Math.floor(entries / 500)) === 0)
    const after = await all(sample)
    const servedAfterPurge = after.filter((r) => r.cacheStatus.includes('hit')).length

    // one cold miss, counted (a path never requested)
    await redis.cli('CONFIG', 'RESETSTAT')
    const miss = await get(`/items/cold-${Date.now()}`)
    if (!miss.cacheStatus.includes('fwd=uri-miss'))
      throw new Error(`expected a miss, got ${miss.cacheStatus}`)
    await new Promise((r) => setTimeout(r, 200)) // its write and lock release are fire-and-forget
    const missBreakdown = await commandStats()

    const out: PurgeBenchResult = {
      entries,
      firstPurgeMs,
      medianPurgeMs,
      purgeCommands: sum(purgeBreakdown),
      purgeBreakdown,
      hitCommands: sum(hitBreakdown),
      hitBreakdown,
      missCommands: sum(missBreakdown),
      missBreakdown,
      servedAfterPurge,
      fillMs,
    }
    const fmt = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')
    say(
      `stored ${entries.toLocaleString('en-US')} entries tagged "${TAG}" through real requests in ${(fillMs / 1000).toFixed(1)} s`,
    )
    say(
      `purge of one tag covering ${entries.toLocaleString('en-US')} entries: ${firstPurgeMs.toFixed(2)} ms, ${out.purgeCommands} Redis commands (${fmt(purgeBreakdown)}); median of ${repeats}: ${medianPurgeMs.toFixed(2)} ms`,
    )
    say(
      `a hit issues ${out.hitCommands} Redis command(s) (${fmt(hitBreakdown)}); a cold miss ${out.missCommands} (${fmt(missBreakdown)}; commands run inside scripts included)`,
    )
    say(`after the purge, ${servedAfterPurge} of ${sample.length} sampled entries were served from the cache`)
    return out
  } finally {
    await served.close()
    await cache.close()
    await redis.stop()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchPurge().then(
    (r) => {
      process.exitCode = r.servedAfterPurge === 0 ? 0 : 1
    },
    (err: unknown) => {
      process.stderr.write(`bench/purge: ${err instanceof Error ? err.stack : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
