/**
 * Fleet waiters when the lock holder cannot store (issue 12.5): 3 instances (caches in this
 * process) on one real redis-server, an origin that answers after 50 ms with Set-Cookie (never
 * stored), and waves of concurrent requests for one URL spread over the instances. Prints the
 * latency percentiles. Run: `npx tsx bench/fleet-waiters.ts`.
 */
import Koa from 'koa'
import { createCache } from '../src/create-cache.js'
import { listen, request } from '../test/helpers/http.js'
import { policyDir, yaml } from '../test/helpers/policies.js'
import { startRedis } from '../test/helpers/redis-server.js'

const INSTANCES = 3
const WAVES = 10
const PER_WAVE = 30
const dir = policyDir(
  yaml(`
  version: 1
  rules:
    - id: items
      match: /items/**
      ttl: 1m
`),
)
const r = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
const quiet = { error() {}, warn() {}, info() {}, debug() {} }
const servers: { cache: Awaited<ReturnType<typeof createCache>>; srv: Awaited<ReturnType<typeof listen>> }[] =
  []
for (let i = 0; i < INSTANCES; i++) {
  const cache = await createCache({ policies: dir, store: r.url, logger: quiet })
  const app = new Koa()
  app.use(cache.middleware())
  app.use(async (ctx) => {
    await new Promise((res) => setTimeout(res, 50))
    ctx.set('Set-Cookie', 'session=1')
    ctx.body = 'not storable'
  })
  servers.push({ cache, srv: await listen(app) })
}
const times: number[] = []
for (let w = 0; w < WAVES; w++) {
  await Promise.all(
    Array.from({ length: PER_WAVE }, async (_, i) => {
      const t = performance.now()
      await request(`${servers[i % INSTANCES]!.srv.url}/items/w${w}`, { headers: { host: 'fleet.test' } })
      times.push(performance.now() - t)
    }),
  )
}
times.sort((a, b) => a - b)
const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!.toFixed(0)
process.stdout.write(
  `${INSTANCES} instances, ${WAVES} waves x ${PER_WAVE} requests, origin 50 ms + Set-Cookie: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${pct(100)} ms\n`,
)
for (const s of servers) {
  await s.srv.close()
  await s.cache.close()
}
await r.stop()
