/**
 * The status console in a real browser (issue 9, item 3): Debian's chromium driven by
 * playwright-core against a real Koa app with cachet and its admin routes on a real port, after
 * scripted traffic. The page loads with no console error and no CSP violation; refuses a wrong
 * token with a visible 403; shows each rule's hit ratio, request count and main miss reason as
 * `cache.stats()` has them, worst rule first; explains a request as `cache.explain()` does; and
 * purges for real (the next request is a miss that reaches the origin). The token stays in the
 * tab's sessionStorage, never in a cookie. A screenshot is left in .tmp/console.test.png.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Koa from 'koa'
import type { Locator } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Cache, createCache } from '../../src/create-cache.js'
import type { CacheStats, RuleStats } from '../../src/metrics/stats.js'
import { eventually, type Listening, listen, request } from '../helpers/http.js'
import { createOrigin, type Origin } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { type Browser, openBrowser } from './browser.js'

const TOKEN = 'console-browser-token-0123456789'
const SHOT = new URL('../../.tmp/console.test.png', import.meta.url).pathname
const POLICY = yaml(`
  version: 1
  rules:
    - id: products
      match: /products/*
      ttl: 1m
      tags: ["product:{path.2}"]
      key:
        query: { exclude: ["utm_*"] }
    - id: search
      match: /search
      ttl: 1m
      key:
        query: [q]
    - id: pages
      match: /pages/*
      ttl: 1m
    - id: account
      match: /account/**
      cache: false
`)

const s = suite('the status console in a real browser')
let cache: Cache
let origin: Origin
let srv: Listening
let browser: Browser | undefined

s.before(async () => {
  cache = await createCache({ policies: policyDir(POLICY), store: 'memory' })
  origin = createOrigin().route(/^\/pages\//, (ctx, n) => {
    // a page that sets a cookie is never stored: the reason the console must show
    ctx.set('Set-Cookie', `visit=${n}; Path=/`)
    ctx.body = `page #${n}`
  })
  const app = new Koa()
  app.use(cache.admin({ token: TOKEN }))
  app.use(cache.middleware())
  app.use(origin.middleware)
  srv = await listen(app)
})
s.after(async () => {
  await browser?.close()
  await srv.close()
  await cache.close()
})

const get = (target: string, headers: Record<string, string> = {}) => request(srv.url + target, { headers })

/** A miss, then requests until one is a hit (the store write follows the response), then `more` hits. */
async function warm(target: string, more: number): Promise<void> {
  await get(target)
  await eventually(async () => /^cachet; hit/.test((await get(target)).headers['cache-status'] ?? ''), target)
  for (let i = 0; i < more; i++)
    assert.match((await get(target)).headers['cache-status'] ?? '', /^cachet; hit/)
}

async function traffic(): Promise<void> {
  for (const id of [1, 2, 3]) await warm(`/products/${id}`, 4)
  await warm('/search?q=lamp', 1)
  for (let i = 0; i < 6; i++) await get('/search?q=lamp', { cookie: `session=${i}` }) // bypass: cookie
  for (let i = 0; i < 5; i++) await get('/account/orders') // bypass: the rule says cache: false
  for (let i = 0; i < 12; i++) await get('/pages/about') // not stored: set-cookie
  await get('/health') // no rule
  await get('/health')
}

/** what the user sees (layout-aware: a <dt> and its <dd> on lines of their own), not the DOM's textContent */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text on purpose
const text = (l: Locator) => l.innerText()

const requests = (r: RuleStats) => Object.values(r.outcomes).reduce((a, b) => a + b, 0)
const served = (r: RuleStats) => r.outcomes.hit + r.outcomes.stale
/** the page's formula (console.js `percent`) */
const percent = (hits: number, n: number) => (n === 0 ? '–' : `${((100 * hits) / n).toFixed(1)}%`)

/** What the rules table must show for these stats: rows in order, worst first. */
function expectedRows(st: CacheStats): string[][] {
  return [...st.rules]
    .sort((a, b) => {
      const na = requests(a)
      const nb = requests(b)
      return nb - served(b) - (na - served(a)) || nb - na || a.id.localeCompare(b.id)
    })
    .map((r) => [r.id, String(requests(r)), percent(served(r), requests(r)), String(requests(r) - served(r))])
}

async function shownRows(b: Browser): Promise<string[][]> {
  const rows = b.page.locator('#rules tbody tr')
  const out: string[][] = []
  for (let i = 0; i < (await rows.count()); i++) {
    const row = rows.nth(i)
    out.push([
      (await row.getAttribute('data-rule')) ?? '',
      await text(row.locator('td.requests')),
      await text(row.locator('td.ratio')),
      await text(row.locator('td.misses')),
    ])
  }
  return out
}

s(
  'the console: token, hit ratios as cache.stats() has them, explain, purge; no error, no CSP violation',
  async () => {
    await traffic()
    browser = await openBrowser()
    const b = browser
    const page = b.page

    const loaded = await page.goto(`${srv.url}/_cachet/?every=1`)
    assert.is(loaded?.status(), 200)
    assert.is(await page.locator('#login').isVisible(), true, 'the page asks for the token first')
    assert.is(await page.locator('#main').isVisible(), false)

    // a wrong token: refused, and the page says so
    await page.fill('#token', 'not-the-token-not-the-token')
    await page.click('#token-form button[type=submit]')
    await page.locator('#token-error').filter({ hasText: '403' }).waitFor()
    assert.match(await text(page.locator('#token-error')), /wrong token: refused \(403 Forbidden\)/)
    assert.is(await page.locator('#main').isVisible(), false, 'nothing shown without the right token')
    // the only problem so far is the browser's own report of that refused request
    assert.ok(b.problems.length > 0, 'chromium reports the 403 (the problem log works)')
    for (const p of b.problems) assert.match(p.text, /403/, `${p.source}: ${p.text}`)
    b.problems.length = 0

    await page.fill('#token', TOKEN)
    await page.click('#token-form button[type=submit]')
    await page.locator('#main').waitFor()
    await page.locator('#rules tbody tr').first().waitFor()

    // the table, row by row, as cache.stats() has it (polled again until it has caught up with the
    // store writes that follow the last responses)
    let want: string[][] = []
    await eventually(async () => {
      want = expectedRows(cache.stats())
      return JSON.stringify(await shownRows(b)) === JSON.stringify(want)
    }, 'the rules table matches cache.stats()')
    const st = cache.stats()
    assert.equal(
      want.map((r) => r[0]),
      ['pages', 'search', 'account', 'products'],
      'worst first: most requests not answered from the cache',
    )
    const products = st.rules.find((r) => r.id === 'products')!
    assert.ok(served(products) >= 12 && products.outcomes.miss === 3, 'the scripted traffic was counted')
    assert.is(
      await text(page.locator('tr[data-rule="products"] td.ratio')),
      percent(served(products), requests(products)),
    )
    // each rule's main reason, from its own counters
    for (const [id, reason] of [
      ['account', `bypass: ${top(st, 'account', 'bypass')}`],
      ['search', `bypass: ${top(st, 'search', 'bypass')}`],
      ['pages', `miss, not stored: ${top(st, 'pages', 'notStored')}`],
    ] as const) {
      assert.match(await text(page.locator(`tr[data-rule="${id}"] ul.reasons li`).first()), reason, id)
    }
    assert.match(
      await text(page.locator('#unmatched')),
      new RegExp(`^${st.unmatched} requests matched no rule`),
    )
    assert.match(await text(page.locator('#summary')), new RegExp(`policies ${st.policy.version}`))
    assert.match(await text(page.locator('#store')), new RegExp(`store\\s+${st.store.kind}`))

    // explain: the same answer as cache.explain()
    const asked = { method: 'GET', url: '/products/2?utm_source=mail', headers: { host: 'shop.test' } }
    const x = cache.explain(asked)
    await page.fill('#explain-url', asked.url)
    await page.fill('#explain-headers', 'Host: shop.test')
    await page.click('#explain-form button[type=submit]')
    await page.locator('#explain-result').waitFor()
    const explained = await text(page.locator('#explain-result'))
    assert.match(explained, /rule\s+products/)
    assert.match(explained, /decision\s+lookup/)
    assert.ok(explained.includes(x.key!), 'the hashed key')
    assert.match(explained, /removed query\s+utm_source/)
    for (const reason of x.reasons) assert.ok(explained.includes(reason), reason)

    // purge: really purged, the next request reaches the origin
    const before = origin.calls('/products/1')
    assert.match((await get('/products/1')).headers['cache-status'] ?? '', /^cachet; hit/)
    await page.fill('#purge-tags', 'product:1')
    await page.click('#purge-form button[type=submit]')
    await page.locator('#purge-result').filter({ hasText: 'purged' }).waitFor()
    assert.is(
      await text(page.locator('#purge-result')),
      'purged: 1 tag, 0 URLs, 0 rules (1 generation key renewed)',
    )
    const after = await get('/products/1')
    assert.is(after.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
    assert.is(origin.calls('/products/1'), before + 1, 'the purged entry was fetched again')
    assert.is(cache.stats().purges, 1)
    await eventually(
      async () => /purges\s+1$/m.test(await text(page.locator('#policy'))),
      'the page shows the purge',
    )

    // the token: in this tab's sessionStorage, sent as a header, never a cookie
    assert.is(await page.evaluate(`sessionStorage.getItem('cachet.admin.token')`), TOKEN)
    assert.equal(await b.context.cookies(), [])

    mkdirSync(dirname(SHOT), { recursive: true })
    await page.screenshot({ path: SHOT, fullPage: true })
    process.stdout.write(`screenshot: ${SHOT}\n`)

    assert.equal(b.problems, [], 'no console error or warning, no failed load')
    assert.equal(await b.violations(), [], 'no CSP violation')
    // and the watch would have seen one: an inline style is refused under this CSP
    await page.evaluate(
      `document.head.append(Object.assign(document.createElement('style'), { textContent: 'p{}' }))`,
    )
    await eventually(async () => (await b.violations()).length === 1, 'the injected inline style is reported')
    assert.match((await b.violations())[0]!, /^style-src/)
  },
)

/** the reason with the largest count in a rule's `bypass` or `notStored` counters */
function top(st: CacheStats, id: string, field: 'bypass' | 'notStored'): string {
  const r = st.rules.find((x) => x.id === id)!
  const best = Object.entries(r[field]).sort((a, b) => b[1] - a[1])[0]
  if (best === undefined) throw new Error(`rule ${id} has no ${field} count`)
  return best[0]
}

s.run()
