/**
 * examples/koa-app as a user runs it: copied out, the packed package installed, `node app.js`
 * on a real port, real requests. What reaches the application is read from its own log lines
 * (`app: GET /api/products/1`), so every hit is shown to have been answered by the cache.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { eventually, request } from '../helpers/http.js'
import { installExample, packCachet, type Started, shell, startNode } from '../helpers/packed.js'

const dir = await installExample('koa-app', await packCachet())
let app: Started

let flushes = 0
/**
 * How many times the application logged `app: <line>`. A request that always reaches it goes
 * first, and its own line is awaited: its output is ordered, so every earlier line is in.
 */
async function reached(line: string): Promise<number> {
  const mark = `/api/flush-${++flushes}`
  await get(mark)
  await eventually(() => app.output().includes(`app: GET ${mark}\n`), `the app logged ${mark}`)
  return app
    .output()
    .split('\n')
    .filter((l) => l === `app: ${line}`).length
}
const get = (target: string, headers: Record<string, string> = {}) =>
  request(`http://127.0.0.1:${app.port}${target}`, { headers })

test.before(async () => {
  app = await startNode(dir, ['app.js'])
})
test.after(async () => {
  await app?.stop()
})

test('a product page: stored on the first request, a hit on the second; the app saw one', async () => {
  const first = await get('/api/products/1')
  assert.is(first.status, 200)
  assert.is(first.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
  assert.equal(JSON.parse(first.body), { id: 1, name: 'Teapot', price: 24 })
  const second = await get('/api/products/1')
  assert.match(second.headers['cache-status'] ?? '', /^cachet; hit; ttl=\d+$/)
  assert.is(second.body, first.body)
  assert.is(await reached('GET /api/products/1'), 1)
})

test('a PUT purges the page (invalidate tags): the next GET reaches the app and has the new price', async () => {
  const put = await request(`http://127.0.0.1:${app.port}/api/products/1`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ price: 30 }),
  })
  assert.is(put.status, 200)
  const after = await get('/api/products/1')
  assert.is(after.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
  assert.is(JSON.parse(after.body).price, 30)
  assert.is(await reached('GET /api/products/1'), 2)
})

test('search: unkeyed parameters are removed before the app, and the variants share one entry', async () => {
  const a = await get('/api/search?q=tea&utm_source=mail')
  assert.is(a.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
  const b = await get('/api/search?q=tea&fbclid=x')
  assert.match(b.headers['cache-status'] ?? '', /^cachet; hit; /)
  assert.is(await reached('GET /api/search?q=tea'), 1)
  assert.is(await reached('GET /api/search?q=tea&utm_source=mail'), 0)
})

test('the account bypasses the cache, with or without a cookie', async () => {
  const r = await get('/account', { cookie: 'session=abc' })
  assert.equal(JSON.parse(r.body), { user: 'signed in' })
  assert.match(r.headers['cache-status'] ?? '', /^cachet; fwd=bypass; detail=rule/)
  await get('/account', { cookie: 'session=abc' })
  assert.is(await reached('GET /account'), 2)
})

test("the example's policy tests pass with the packaged cachet test, and validate-policies too", async () => {
  const t = await shell('node_modules/.bin/cachet test policies', dir)
  assert.is(t.code, 0, t.stdout + t.stderr)
  assert.match(t.stdout, /4 passed/)
  const v = await shell('node_modules/.bin/validate-policies policies', dir)
  assert.is(v.code, 0, v.stdout + v.stderr)
})

test.run()
