/**
 * `npm run console:screenshot`: the README's docs/console.png. The demo API (demo/app.ts, the
 * example policies/) behind cachet, with the admin routes on the same port, under about a
 * minute and a half of scripted traffic: popular products and static files that hit, searches
 * that half carry a session cookie (so they bypass) and mostly ask for something new, the
 * account pages that are never cached, and a purge of the `products` tag halfway, whose dip
 * shows in the chart. Then the console, polled every 2 s, is photographed by chromium.
 *
 * Usage: npx tsx test/console/screenshot.ts [out.png]   (default docs/console.png)
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Koa from 'koa'
import { createDemo } from '../../demo/app.js'
import { request } from '../helpers/http.js'
import { openBrowser } from './browser.js'

const OUT = process.argv[2] ?? new URL('../../docs/console.png', import.meta.url).pathname
const TOKEN = 'screenshot-token-0123456789'
const RUN_MS = Number(process.env.SCREENSHOT_RUN_MS ?? 80_000)
const PURGE_AT_MS = RUN_MS * 0.55

const demo = await createDemo({ slowMs: 25 })
const admin = new Koa()
admin.use(demo.cache.admin({ token: TOKEN }))
const app = demo.app.callback()
const adminApp = admin.callback()
const server = createServer((req, res) => (req.url?.startsWith('/_cachet') ? adminApp : app)(req, res))
await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

// a seeded generator: the same picture every run, give or take the timing
let seed = 42
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
  return seed / 2 ** 31
}
/** Zipf-like: small numbers far more often */
const popular = (n: number) => Math.min(n, Math.floor(1 / (random() * (1 - 1 / n) + 1 / n)))
const WORDS = ['lamp', 'chair', 'rake', 'pan', 'book', 'hose', 'knife', 'shelf', 'mug', 'saw', 'ink', 'pot']

function next(): { target: string; headers?: Record<string, string> } {
  const r = random()
  if (r < 0.34) return { target: `/api/products/${popular(40)}` }
  if (r < 0.44)
    return {
      target: `/api/products?page=${popular(4)}${random() < 0.3 ? '&sort=price' : ''}${random() < 0.2 ? '&currency=USD' : ''}`,
    }
  if (r < 0.5) return { target: '/api/categories' }
  if (r < 0.68) {
    const q = `${WORDS[Math.floor(random() * WORDS.length)]}${random() < 0.6 ? Math.floor(random() * 50) : ''}`
    return {
      target: `/api/search?q=${q}${random() < 0.4 ? '&utm_source=newsletter' : ''}`,
      ...(random() < 0.5 ? { headers: { cookie: `session=s${Math.floor(random() * 1000)}` } } : {}),
    }
  }
  if (r < 0.8) {
    const lang = ['en', 'fr', 'de'][popular(3) - 1]!
    return { target: `/pages/${random() < 0.7 ? 'about' : 'shipping'}`, headers: { 'accept-language': lang } }
  }
  if (r < 0.93) return { target: `/static/app.${random() < 0.5 ? 'js' : 'css'}?v=${popular(3)}` }
  if (r < 0.98) return { target: `/account/orders` }
  return { target: '/health' }
}

const started = Date.now()
let purged = false
let sent = 0
async function client(): Promise<void> {
  while (Date.now() - started < RUN_MS) {
    if (!purged && Date.now() - started > PURGE_AT_MS) {
      purged = true
      await demo.cache.purge({ tags: ['products'] })
    }
    const { target, headers } = next()
    await request(base + target, headers ? { headers } : {})
    sent++
    await new Promise((r) => setTimeout(r, 15 + random() * 30))
  }
}

const browser = await openBrowser({ width: 1280, height: 1000 })
try {
  const page = browser.page
  await page.goto(`${base}/_cachet/?every=2`)
  await page.fill('#token', TOKEN)
  await page.click('#token-form button[type=submit]')
  await page.locator('#main').waitFor()
  await Promise.all([client(), client(), client(), client()])
  // one more poll after the last request, then the picture
  await page.waitForTimeout(2500)
  await page.evaluate('window.scrollTo(0, 0)')
  // down to the store and policy panels: the chart, the rules, their reasons, the store
  const box = await page.locator('#policy-panel').boundingBox()
  if (box === null) throw new Error('the policy panel is not shown')
  await page.screenshot({
    path: OUT,
    fullPage: true,
    clip: { x: 0, y: 0, width: 1280, height: Math.ceil(box.y + box.height + 16) },
  })
  const problems = [...browser.problems, ...(await browser.violations())]
  if (problems.length > 0) throw new Error(`the console reported problems: ${JSON.stringify(problems)}`)
  process.stdout.write(`${OUT}: ${sent} requests in ${Math.round((Date.now() - started) / 1000)} s\n`)
} finally {
  await browser.close()
  server.close()
  await demo.cache.close()
}
