/**
 * `npm start`: the demo API behind cachet, on the embedded memory store (Redis when REDIS_URL is set).
 */
import { createDemo } from './app.js'

const port = Number(process.env.PORT ?? 3000)
const { app, cache } = await createDemo({ store: process.env.REDIS_URL ?? 'memory' })
const server = app.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${port}`
  process.stdout.write(`cachet demo: a product API behind the cache, on the ${cache.store.kind} store, policies version ${cache.version}
listening on ${base}  (policies/ are watched: edit them and the cache follows)

Try (look at Cache-Status, Age and X-Response-Time):
  curl -si ${base}/api/products/7 | grep -Ei 'cache-status|age|x-response-time'      # MISS: slow origin
  curl -si ${base}/api/products/7 | grep -Ei 'cache-status|age|x-response-time'      # HIT: instant
  curl -s  '${base}/api/search?q=product&utm_source=mail'                            # utm_* never reach the app
  curl -si -H 'Accept-Language: fr' ${base}/pages/about                              # per-language entries
  curl -si ${base}/account/orders | grep -i cache-status                             # bypass: never cached
  npx cachet explain GET '${base}/api/products?page=2&utm_source=x'                  # why
Ctrl-C to stop.
`)
})
const stop = () => {
  server.close()
  void cache.close()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
