// app.js: two or more instances of one API sharing their cache on a Redis Cluster. The seed
// nodes come from REDIS_CLUSTER_NODES ("host:port,host:port,..."); the client learns the rest
// of the cluster from them, and follows slot moves and failovers.
import { hostname } from 'node:os'
import { createCache } from 'cachet'
import Koa from 'koa'

const nodes = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)

const cache = await createCache({
  policies: 'policies',
  store: { cluster: nodes },
})
cache.on('error', (err) => console.error(err.message))

const instance = process.env.INSTANCE ?? hostname()
const app = new Koa()
app.use(cache.middleware())
app.use(async (ctx) => {
  console.log(`app ${instance}: ${ctx.method} ${ctx.url}`) // what reaches this instance (a hit does not)
  const product = /^\/api\/products\/(\d+)$/.exec(ctx.path)
  if (product) ctx.body = { id: Number(product[1]), renderedBy: instance }
})

const port = Number(process.env.PORT ?? 3000)
const server = app.listen(port, () => console.log(`instance ${instance} on http://localhost:${port}`))
process.once('SIGTERM', () => {
  server.close()
  void cache.close()
})
