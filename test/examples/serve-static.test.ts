/**
 * examples/serve-static as a user runs it: its origin (`npm run origin`) and its `npm start`
 * command line (`cachet serve …`, the packaged bin) on real ports, real requests. What reaches
 * the origin is read from its own log lines.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { eventually, type HttpResponse, request } from '../helpers/http.js'
import { installExample, packCachet, type Started, startNode } from '../helpers/packed.js'
import { freePort } from '../helpers/redis-server.js'

const dir = await installExample('serve-static', await packCachet())
const scripts = (
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts
let origin: Started
let proxy: Started

let flushes = 0
/** How many times the origin logged `origin: <line>`, once a request that reaches it is logged. */
async function reached(line: string): Promise<number> {
  const mark = `/flush-${++flushes}.txt`
  await get(mark)
  await eventually(() => origin.output().includes(`origin: GET ${mark}\n`), `the origin logged ${mark}`)
  return origin
    .output()
    .split('\n')
    .filter((l) => l === `origin: ${line}`).length
}
/**
 * A streamed body is stored once it completes, after its headers went out (so a first answer
 * has no `stored`): asks until the answer is a hit, and returns it with the misses before it.
 */
async function untilHit(target: string, headers: Record<string, string> = {}) {
  const misses: HttpResponse[] = []
  for (let i = 0; i < 50; i++) {
    const r = await get(target, headers)
    if (/^cachet; hit; ttl=\d+$/.test(r.headers['cache-status'] ?? '')) return { hit: r, misses }
    misses.push(r)
  }
  throw new Error(`${target}: no hit after 50 requests`)
}
const get = (target: string, headers: Record<string, string> = {}) =>
  request(`http://127.0.0.1:${proxy.port}${target}`, { headers })

test.before(async () => {
  assert.is(scripts.origin, 'node static-server.js')
  origin = await startNode(dir, ['static-server.js'])
  // `npm start`, with the example's ports replaced by free ones
  const port = await freePort()
  const args = (scripts.start ?? '')
    .replace('http://127.0.0.1:8080', `http://127.0.0.1:${origin.port}`)
    .replace('--port 3000', `--port ${port}`)
    .split(' ')
  assert.is(args[0], 'cachet')
  // one process: the counts below are one memory store's (the command's default is a worker per
  // core, each with its own store: README "Workers")
  proxy = await startNode(dir, ['node_modules/.bin/cachet', ...args.slice(1), '--workers', '1'], {}, port)
})
test.after(async () => {
  await proxy?.stop()
  await origin?.stop()
})

test('the page: stored, then hits; the origin saw only the misses', async () => {
  const { hit, misses } = await untilHit('/')
  assert.ok(misses.length >= 1)
  for (const m of misses) {
    assert.is(m.status, 200)
    assert.is(m.headers['cache-status'], 'cachet; fwd=uri-miss')
  }
  assert.is(hit.headers['content-type'], 'text/html; charset=utf-8')
  assert.match(hit.body, /<h1>Served by cachet serve<\/h1>/)
  assert.is(hit.body, misses[0]?.body)
  await get('/')
  assert.is(await reached('GET /'), misses.length)
})

test('assets: kept with their type; query strings and cookies removed, so ?v=2 is the same entry', async () => {
  const { hit, misses } = await untilHit('/assets/site.css')
  assert.is(hit.headers['content-type'], 'text/css; charset=utf-8')
  const busted = await get('/assets/site.css?v=2', { cookie: 'session=abc' })
  assert.match(busted.headers['cache-status'] ?? '', /^cachet; hit; ttl=\d+$/)
  assert.is(busted.body, hit.body)
  assert.is(await reached('GET /assets/site.css'), misses.length)
  assert.is(await reached('GET /assets/site.css?v=2'), 0)
  const svg = await untilHit('/assets/logo.svg')
  assert.is(svg.hit.headers['content-type'], 'image/svg+xml')
})

test('a content type the rule does not list is not stored (a text/plain 404 under /assets)', async () => {
  const miss = await get('/assets/missing.css')
  assert.is(miss.status, 404)
  assert.match(miss.headers['cache-status'] ?? '', /^cachet; fwd=uri-miss; detail=content-type$/)
  await get('/assets/missing.css')
  assert.is(await reached('GET /assets/missing.css'), 2)
})

test.run()
