/**
 * examples/redis-cluster's app.js, two instances from the packed package, against a real Redis
 * Cluster (three local redis-server masters joined by `redis-cli --cluster create`, as
 * test/helpers/redis-cluster.ts does). The example's docker-compose.yml is not run here: this
 * machine has no Docker engine. What reaches each instance is read from its own log lines.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { eventually, type HttpResponse, request } from '../helpers/http.js'
import { installExample, packCachet, type Started, startNode } from '../helpers/packed.js'
import { type RedisClusterProc, startCluster } from '../helpers/redis-cluster.js'

const dir = await installExample('redis-cluster', await packCachet())
let cluster: RedisClusterProc
let a: Started
let b: Started

test.before(async () => {
  cluster = await startCluster({ args: ['--cluster-require-full-coverage', 'no'] })
  const env = { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') }
  a = await startNode(dir, ['app.js'], { ...env, INSTANCE: 'a' })
  b = await startNode(dir, ['app.js'], { ...env, INSTANCE: 'b' })
})
test.after(async () => {
  await a?.stop()
  await b?.stop()
  await cluster?.stop()
})

const get = (s: Started, target: string) => request(`http://127.0.0.1:${s.port}${target}`)

let flushes = 0
/** How many times instance `s` logged `app <name>: <line>`, once a request that reaches it is logged. */
async function reached(s: Started, name: string, line: string): Promise<number> {
  const mark = `/flush-${++flushes}`
  await get(s, mark)
  await eventually(() => s.output().includes(`app ${name}: GET ${mark}\n`), `${name} logged ${mark}`)
  return s
    .output()
    .split('\n')
    .filter((l) => l === `app ${name}: ${line}`).length
}

/** The cache's entries for the rule, over every master (each key lives on one). */
async function entries(): Promise<string[]> {
  const all: string[] = []
  for (const p of cluster.procs) {
    const out = await p.cli('--scan', '--pattern', 'cachet:product-detail:*')
    all.push(...out.split('\n').filter(Boolean))
  }
  return all
}

test('an entry one instance stores is a hit on the other: one shared cache on the cluster', async () => {
  const first = await get(a, '/api/products/7')
  assert.is(first.status, 200)
  assert.is(first.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
  assert.equal(JSON.parse(first.body), { id: 7, renderedBy: 'a' })
  // the write is sent after the answer and never awaited: ask b until it finds the entry
  await eventually(async () => (await entries()).length === 1, 'the entry is in the cluster')
  const fromB: HttpResponse = await get(b, '/api/products/7')
  assert.match(fromB.headers['cache-status'] ?? '', /^cachet; hit; ttl=\d+$/)
  assert.equal(JSON.parse(fromB.body), { id: 7, renderedBy: 'a' })
  assert.is(await reached(a, 'a', 'GET /api/products/7'), 1)
  assert.is(await reached(b, 'b', 'GET /api/products/7'), 0)
})

test('the keys spread over the masters (no hash tag): ten products land on more than one node', async () => {
  for (let id = 100; id < 110; id++) {
    const r = await get(a, `/api/products/${id}`)
    assert.is(r.headers['cache-status'], 'cachet; fwd=uri-miss; stored')
  }
  await eventually(async () => (await entries()).length === 11, 'eleven entries in the cluster')
  let nodesWithEntries = 0
  for (const p of cluster.procs) {
    const out = await p.cli('--scan', '--pattern', 'cachet:product-detail:*')
    if (out.trim() !== '') nodesWithEntries++
  }
  assert.ok(nodesWithEntries > 1, `entries on ${nodesWithEntries} node(s)`)
})

test.run()
