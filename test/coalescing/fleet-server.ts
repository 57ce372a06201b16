/**
 * One member of the fleet in test/coalescing/fleet.test.ts: a Koa app with cachet on a shared
 * Redis, whose "application" forwards to the test's slow origin. Started as its own Node process
 * (`node --import tsx fleet-server.ts`), configured by the environment:
 *   CACHET_REDIS    redis://127.0.0.1:PORT
 *   CACHET_ORIGIN   http://127.0.0.1:PORT of the counting origin
 *   CACHET_POLICIES the policy folder
 * Prints `listening <port>` once it accepts requests; `GET /__metrics` answers the cache's
 * counters. Exits when its stdin closes (the parent ended it, or died), closing the server and cache.
 */
import { request as httpRequest } from 'node:http'
import Koa from 'koa'
import { createCache } from '../../src/create-cache.js'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const origin = new URL(env('CACHET_ORIGIN'))
const cache = await createCache({
  policies: env('CACHET_POLICIES'),
  store: env('CACHET_REDIS') as `redis://${string}`,
  // a loaded test host must not turn a slow read into a second origin call
  readDeadlineMs: 2000,
  logger: { error: (m) => process.stderr.write(`${m}\n`), warn: () => {}, info: () => {}, debug: () => {} },
})

/** The application: forward to the origin, answer with what it said. */
function forward(path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: origin.hostname, port: Number(origin.port), path, agent: false },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          body += c
        })
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 502,
            type: String(res.headers['content-type'] ?? 'text/plain'),
            body,
          }),
        )
        res.once('error', reject)
      },
    )
    req.once('error', reject)
    req.end()
  })
}

const app = new Koa()
app.use(async (ctx, next) => {
  if (ctx.path !== '/__metrics') return next()
  ctx.body = cache.metrics()
})
app.use(cache.middleware())
app.use(async (ctx) => {
  const r = await forward(ctx.url)
  ctx.status = r.status
  ctx.type = r.type
  ctx.body = r.body
})
const server = app.listen(0, '127.0.0.1', () => {
  const addr = server.address()
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`)
})

process.stdin.resume()
process.stdin.once('end', () => {
  server.close()
  server.closeAllConnections()
  void cache.close().then(() => process.exit(0))
})
