/**
 * Request coalescing through `cachet serve` (docs/threats.md T56, T59; RFC 9111 §4 allows
 * a cache to reuse one response for concurrent requests it satisfies): concurrent misses on one
 * key make one origin call, and every waiting client gets that same numbered response; a response
 * the waiters cannot reuse sends each of them to the origin instead.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Env, envs, eventually, gate } from './harness.js'

const test = suite('conformance: request coalescing')
const pool = envs()
test.after.each(pool.closeAll)

/** Fires `n` requests, waits until the proxy has received all of them, then opens `g`. */
async function herd(
  env: Env,
  n: number,
  target: (i: number) => string,
  g: { open(): void },
  headers?: (i: number) => Record<string, string>,
) {
  let arrived = 0
  const onRequest = () => {
    arrived++
  }
  env.serving.server.on('request', onRequest)
  const pending = Array.from({ length: n }, (_, i) =>
    env.send(target(i), headers ? { headers: headers(i) } : {}),
  )
  try {
    await eventually(() => arrived >= n, `${n} requests arrived at the proxy`, 10_000)
    // let each request's store read finish (they are already waiting for the one origin call)
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
  } finally {
    env.serving.server.off('request', onRequest)
    g.open()
  }
  return Promise.all(pending)
}

test('T56 / RFC 9111 §4: 200 concurrent requests on a cold key with a slow origin make exactly 1 origin call; all get response #1', async () => {
  const env = await pool.start()
  const slow = gate()
  env.origin.script('/hot', {
    headers: { 'cache-control': 'max-age=60' },
    gate: slow.promise,
    body: 'response #1 '.padEnd(4096, '.'),
  })
  const answers = await herd(env, 200, () => '/hot', slow)
  assert.is(env.origin.count, 1)
  const statuses: Record<string, number> = {}
  for (const a of answers) {
    assert.is(a.status, 200)
    assert.is(a.headers['x-response'], '1')
    assert.ok(a.body.startsWith('response #1 ') && a.body.length === 4096)
    const cs = String(a.headers['cache-status'])
    statuses[cs] = (statuses[cs] ?? 0) + 1
  }
  assert.equal(statuses, { 'cachet; fwd=uri-miss': 1, 'cachet; fwd=uri-miss; collapsed': 199 })
  const after = await env.send('/hot')
  assert.is(after.headers['cache-status'], 'cachet; hit; ttl=60')
  assert.is(env.origin.count, 1)
})

test('T56: concurrent misses on different keys are not coalesced', async () => {
  const env = await pool.start()
  const slow = gate()
  env.origin.fallback((req) => ({
    headers: { 'cache-control': 'max-age=60' },
    gate: slow.promise,
    body: `for ${req.url}`,
  }))
  const answers = await herd(env, 20, (i) => `/k?i=${i % 10}`, slow)
  assert.is(env.origin.count, 10)
  for (const [i, a] of answers.entries()) assert.is(a.body, `for /k?i=${i % 10}`)
})

test('T59: a coalesced response that cannot be stored is not shared: each waiter asks the origin itself', async () => {
  const env = await pool.start()
  const slow = gate()
  env.origin.script('/private', { headers: { 'cache-control': 'private, max-age=60' }, gate: slow.promise })
  const answers = await herd(env, 20, () => '/private', slow)
  assert.is(env.origin.count, 20)
  const bodies = new Set(answers.map((a) => a.body))
  assert.is(bodies.size, 20, 'every client got its own numbered response')
  for (let n = 1; n <= 20; n++) assert.ok(bodies.has(`response #${n}`))
})

test("RFC 9111 §4.1: a coalesced response is shared only with waiters whose Vary'd headers match", async () => {
  const env = await pool.start()
  const slow = gate()
  env.origin.script('/lang', (req) => ({
    headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
    gate: req.n === 1 ? slow.promise : undefined,
    body: `response #${req.n} lang=${String(req.headers['accept-language'])}`,
  }))
  const answers = await herd(
    env,
    10,
    () => '/lang',
    slow,
    (i) => ({ 'accept-language': i % 2 === 0 ? 'en' : 'fr' }),
  )
  const first = answers.find((a) => a.body.startsWith('response #1 '))!.body
  for (const [i, a] of answers.entries()) {
    const lang = i % 2 === 0 ? 'en' : 'fr'
    assert.ok(a.body.endsWith(`lang=${lang}`), `client ${i} (${lang}) got ${a.body}`)
  }
  // the leader's language shared one call; the other language's waiters asked for themselves
  assert.is(answers.filter((a) => a.body === first).length, 5)
  assert.is(env.origin.count, 6)
})

test.run()
