/**
 * The demo: a small product-catalogue API with a deliberately slow product handler, behind cachet
 * with the example policies in policies/. Exported as a function so tests can start it too.
 */
import Koa from 'koa'
import { type Cache, createCache } from '../src/index.js'

const PRODUCTS = Array.from({ length: 40 }, (_, i) => ({
  id: i + 1,
  name: `Product ${i + 1}`,
  category: ['tools', 'garden', 'kitchen', 'books'][i % 4],
  price: Math.round((5 + i * 3.7) * 100) / 100,
}))
const RATES: Record<string, number> = { EUR: 1, USD: 1.08, GBP: 0.85 }
const PAGES: Record<string, Record<string, string>> = {
  about: { en: 'About us', fr: 'À propos', de: 'Über uns' },
  shipping: { en: 'Shipping', fr: 'Livraison', de: 'Versand' },
}

export interface Demo {
  app: Koa
  cache: Cache
  /** how many times each handler ran (the origin) */
  calls: Record<string, number>
}

export async function createDemo(
  opts: { policies?: string; store?: string; slowMs?: number } = {},
): Promise<Demo> {
  const cache = await createCache({
    policies: opts.policies ?? new URL('../policies', import.meta.url).pathname,
    store: opts.store ?? 'memory',
    watch: true,
  })
  const slowMs = opts.slowMs ?? 400
  const calls: Record<string, number> = {}
  const count = (k: string) => {
    calls[k] = (calls[k] ?? 0) + 1
  }
  const app = new Koa()
  app.use(async (ctx, next) => {
    const t = process.hrtime.bigint()
    await next()
    ctx.set('X-Response-Time', `${Number(process.hrtime.bigint() - t) / 1e6}ms`)
  })
  app.use(cache.middleware())
  app.use(async (ctx) => {
    const p = ctx.path
    let m: RegExpExecArray | null
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      if ((m = /^\/api\/products\/(\d+)$/.exec(p)) && ctx.method === 'PUT') {
        count('product-write')
        ctx.status = 204
        return
      }
      ctx.status = 405
      return
    }
    if (p === '/api/products') {
      count('products-list')
      const page = Math.max(1, Number(ctx.query.page ?? 1) || 1)
      const currency = String(ctx.query.currency ?? 'EUR').toUpperCase()
      const rate = RATES[currency] ?? 1
      const sorted = [...PRODUCTS].sort((a, b) =>
        ctx.query.sort === 'price' ? a.price - b.price : a.id - b.id,
      )
      ctx.body = {
        page,
        currency,
        items: sorted
          .slice((page - 1) * 10, page * 10)
          .map((x) => ({ ...x, price: Math.round(x.price * rate * 100) / 100 })),
      }
    } else if ((m = /^\/api\/products\/(\d+)$/.exec(p))) {
      count('product-detail')
      await new Promise((r) => setTimeout(r, slowMs)) // the slow origin the cache hides
      const product = PRODUCTS.find((x) => x.id === Number(m![1]))
      if (!product) {
        ctx.status = 404
        ctx.body = { error: 'no such product' }
        return
      }
      ctx.body = { ...product, renderedAt: new Date().toISOString() }
    } else if (p === '/api/categories') {
      count('categories')
      ctx.body = [...new Set(PRODUCTS.map((x) => x.category))]
    } else if (p === '/api/search') {
      count('search')
      const q = String(ctx.query.q ?? '').toLowerCase()
      ctx.body = {
        q,
        seen: ctx.querystring,
        results: PRODUCTS.filter((x) => x.name.toLowerCase().includes(q)).slice(0, 10),
      }
    } else if ((m = /^\/pages\/([a-z-]+)$/.exec(p))) {
      count('pages')
      const page = PAGES[m[1]!]
      if (!page) {
        ctx.status = 404
        return
      }
      const locale = ctx.cookies.get('locale') || ctx.acceptsLanguages('en', 'fr', 'de') || 'en'
      ctx.type = 'html'
      ctx.body = `<h1>${page[locale] ?? page.en}</h1>`
    } else if (p.startsWith('/static/')) {
      count('static')
      ctx.type = p.endsWith('.css') ? 'css' : 'js'
      ctx.body = `/* ${p} */`
    } else if (p.startsWith('/account')) {
      count('account')
      ctx.set('Cache-Control', 'private, no-store')
      ctx.cookies.set('session', 'abc123')
      ctx.body = { account: 'you', orders: 3 }
    } else {
      ctx.status = 404
    }
  })
  return { app, cache, calls }
}
