// app.js: a small shop API behind cachet. `npm start`, then try the requests in README.md.

import { createCache } from 'cachet'
import Koa from 'koa'

const cache = await createCache({
  policies: 'policies',
  store: process.env.REDIS_URL, // unset: the embedded LRU; redis://host:6379 to share entries
  watch: true, // edit policies/shop.yaml while it runs: a bad edit is refused, the last good set stays
})
cache.on('reload', ({ version, changed }) => {
  if (changed) console.log(`policies reloaded: version ${version}`)
})
cache.on('error', (err) => console.error(err.message))

const products = new Map([
  [1, { id: 1, name: 'Teapot', price: 24 }],
  [2, { id: 2, name: 'Kettle', price: 39 }],
])

async function readJson(req) {
  let text = ''
  for await (const chunk of req) text += chunk
  return JSON.parse(text || '{}')
}

const app = new Koa()
app.use(cache.middleware()) // first: hits are answered here, before any handler runs
app.use(async (ctx) => {
  console.log(`app: ${ctx.method} ${ctx.url}`) // what reaches the application (a hit does not)
  const one = /^\/api\/products\/(\d+)$/.exec(ctx.path)
  if (ctx.path === '/api/products') {
    ctx.body = { products: [...products.values()] }
  } else if (one && ctx.method === 'GET') {
    const product = products.get(Number(one[1]))
    ctx.status = product ? 200 : 404
    ctx.body = product ?? { error: 'no such product' }
  } else if (one && ctx.method === 'PUT') {
    // a 2xx answer to this PUT purges the product's page and the list (rule product-writes)
    const product = products.get(Number(one[1]))
    if (!product) ctx.throw(404)
    const { price } = await readJson(ctx.req)
    if (typeof price === 'number') product.price = price
    ctx.body = product
  } else if (ctx.path === '/api/search') {
    const q = String(ctx.query.q ?? '').toLowerCase()
    ctx.body = { q, results: [...products.values()].filter((p) => p.name.toLowerCase().includes(q)) }
  } else if (ctx.path === '/account') {
    ctx.body = { user: ctx.cookies.get('session') ? 'signed in' : 'guest' }
  }
})

const port = Number(process.env.PORT ?? 3000)
app.listen(port, () => console.log(`shop on http://localhost:${port}`))
