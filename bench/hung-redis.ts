/**
 * What a hung Redis adds to a request (issue 12.6): a real redis-server stopped with SIGSTOP
 * (connected, nothing answers), then sequential misses for distinct URLs through the middleware
 * (readDeadlineMs 250, the default) in front of an application that answers at once. Prints the
 * added latency per request. Run: `npx tsx bench/hung-redis.ts`.
 */
import Koa from 'koa'
import { createCache } from '../src/create-cache.js'
import { listen, request } from '../test/helpers/http.js'
import { policyDir, yaml } from '../test/helpers/policies.js'
import { startRedis } from '../test/helpers/redis-server.js'

const N = 20
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
const cache = await createCache({ policies: dir, store: r.url, logger: quiet })
const app = new Koa()
app.use(cache.middleware())
app.use((ctx) => {
  ctx.body = 'ok'
})
const srv = await listen(app)
await request(`${srv.url}/items/warm`)
r.pause()
const times: number[] = []
for (let i = 0; i < N; i++) {
  const t = performance.now()
  await request(`${srv.url}/items/${i}`)
  times.push(performance.now() - t)
}
r.resume()
times.sort((a, b) => a - b)
const f = (x: number) => x.toFixed(0)
process.stdout.write(
  `Redis stopped (SIGSTOP), ${N} misses, readDeadlineMs 250: median ${f(times[N >> 1]!)} ms, max ${f(times[N - 1]!)} ms\n`,
)
await srv.close()
await cache.close()
await r.stop()
