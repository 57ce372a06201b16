/**
 * Structured logs (issue 9 item 4): a pino-compatible `logger` gets one object per event, with
 * the event's fields, and the same text as its message; a plain logger keeps its lines; a logger
 * missing a method is refused at createCache. Redis' own warnings reach it from a real
 * redis-server that is killed and restarted, and paused.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import type { Logger } from '../../src/options.js'
import { eventually } from '../helpers/http.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, writePolicy, yaml } from '../helpers/policies.js'
import { type RedisProc, startRedis } from '../helpers/redis-server.js'
import { ObjectLogger } from './object-logger.js'

const TWO_RULES = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 1m
      key: { query: none }
    - id: api
      match: /api/**
      ttl: 10s
      key: { query: none }
`)

const closers: (() => Promise<void>)[] = []
async function cacheWith(opts: Parameters<typeof createCache>[0]) {
  const c = await createCache(opts)
  closers.push(() => c.close())
  return c
}

const s = suite('structured logs')
s.after.each(async () => {
  for (const c of closers.splice(0)) await c()
})

s('a successful reload: one info object with the version and the rule count', async () => {
  const dir = policyDir(TWO_RULES)
  const log = new ObjectLogger()
  const cache = await cacheWith({ policies: dir, logger: log as unknown as Logger, name: 'shop' })
  assert.equal(log.records, [], 'a clean start logs nothing')
  writePolicy(
    dir,
    `${TWO_RULES.trimEnd()}\n  - id: img\n    match: /img/**\n    ttl: 1h\n    key: { query: none }\n`,
  )
  const r = await cache.reload()
  assert.ok(r.ok && r.changed)
  assert.equal(log.records, [
    {
      level: 'info',
      obj: { event: 'reload', cache: 'shop', outcome: 'applied', version: cache.version, rules: 3, files: 1 },
      msg: `policies reloaded: version ${cache.version}, 3 rules`,
    },
  ])
})

s('a reload of the same files: a debug object, outcome unchanged', async () => {
  const log = new ObjectLogger()
  const cache = await cacheWith({ policies: policyDir(TWO_RULES), logger: log as unknown as Logger })
  await cache.reload()
  assert.equal(log.records, [
    {
      level: 'debug',
      obj: { event: 'reload', cache: 'cachet', outcome: 'unchanged', version: cache.version },
      msg: `policies unchanged: version ${cache.version}`,
    },
  ])
})

s('a failed reload: one error object listing every error where it is, the version kept', async () => {
  const dir = policyDir(TWO_RULES)
  const log = new ObjectLogger()
  const cache = await cacheWith({ policies: dir, logger: log as unknown as Logger })
  const kept = cache.version
  const file = writePolicy(dir, 'version: 1\nrules:\n  - id: a\n    match: /a\n    ttl: five minutes\n')
  const r = await cache.reload()
  assert.is(r.ok, false)
  assert.is(log.records.length, 1, 'one call for the whole failure')
  const [rec] = log.records
  assert.is(rec!.level, 'error')
  assert.equal(Object.keys(rec!.obj), ['event', 'cache', 'outcome', 'version', 'errors'])
  assert.is(rec!.obj.outcome, 'failed')
  assert.is(rec!.obj.version, kept)
  const errors = rec!.obj.errors as Record<string, unknown>[]
  assert.ok(errors.length >= 1)
  assert.equal(
    { file: errors[0]!.file, line: errors[0]!.line, col: errors[0]!.col, severity: errors[0]!.severity },
    { file, line: 5, col: 10, severity: 'error' },
  )
  assert.is(errors[0]!.code, 'DURATION_FORMAT')
  assert.match(rec!.msg ?? '', /^policy reload failed; keeping version /)
})

s('lint warnings: one policy-warning object each, with code, file, line, col and rule', async () => {
  const log = new ObjectLogger()
  const dir = policyDir(
    yaml(`
      version: 1
      rules:
        - id: all
          match: /**
          ttl: 1m
    `),
  )
  await cacheWith({ policies: dir, logger: log as unknown as Logger })
  const w = log.events('policy-warning')
  assert.ok(w.length >= 1)
  const first = w.find((r) => r.obj.code === 'QUERY_UNBOUNDED')
  assert.ok(first, JSON.stringify(w))
  assert.is(first!.level, 'warn')
  assert.is(first!.obj.rule, 'all')
  assert.is(first!.obj.severity, 'warning')
  assert.match(String(first!.obj.file), /policy\.yaml$/)
  assert.ok(Number(first!.obj.line) > 0 && Number(first!.obj.col) > 0)
  assert.match(first!.msg ?? '', /policy\.yaml:\d+:\d+: warning: rule "all": /)
})

s("a plain logger (console's shape) keeps today's lines, strings only", async () => {
  const dir = policyDir(TWO_RULES)
  const lines: [string, unknown[]][] = []
  const plain: Logger = {
    error: (...a: unknown[]) => void lines.push(['error', a]),
    warn: (...a: unknown[]) => void lines.push(['warn', a]),
    info: (...a: unknown[]) => void lines.push(['info', a]),
    debug: (...a: unknown[]) => void lines.push(['debug', a]),
  }
  const cache = await cacheWith({ policies: dir, logger: plain })
  writePolicy(dir, TWO_RULES.replace('ttl: 10s', 'ttl: 20s'))
  await cache.reload()
  assert.equal(lines, [['info', [`policies reloaded: version ${cache.version}, 2 rules`]]])
})

s('a logger missing a method is a TypeError at createCache, naming it', async () => {
  const dir = policyDir(TWO_RULES)
  for (const [logger, message] of [
    [
      { error() {}, warn() {} },
      /logger option must have error, warn, info and debug methods; missing: info, debug/,
    ],
    [{ child() {}, error() {}, warn() {}, info() {} }, /missing: debug/],
    ['console', /logger option must be an object/],
  ] as const) {
    try {
      await cacheWith({ policies: dir, logger: logger as unknown as Logger })
      assert.unreachable(`accepted ${JSON.stringify(logger)}`)
    } catch (err) {
      assert.instance(err, TypeError)
      assert.match((err as Error).message, message)
    }
  }
})

s('methods are called as methods (pino reads `this`): a child logger carries its bindings', async () => {
  const root = new ObjectLogger()
  const dir = policyDir(TWO_RULES)
  const cache = await cacheWith({
    policies: dir,
    logger: root.child({ service: 'shop' }) as unknown as Logger,
  })
  writePolicy(dir, TWO_RULES.replace('ttl: 10s', 'ttl: 30s'))
  await cache.reload()
  assert.is(root.records.length, 1)
  assert.is(root.records[0]!.obj.service, 'shop')
  assert.is(root.records[0]!.obj.event, 'reload')
})

s.run()

const r = suite('structured logs: Redis')
let redis: RedisProc
const sites = siteTracker()
r.before(async () => {
  redis = await startRedis()
})
r.after.each(async () => {
  await sites.closeAll()
  for (const c of closers.splice(0)) await c()
  await redis.restart()
})
r.after(async () => {
  await redis.stop()
})

r("Redis' warnings go through it: a killed server's connection errors, then ready again", async () => {
  const log = new ObjectLogger()
  const cache = await cacheWith({
    policies: policyDir(TWO_RULES),
    store: redis.url,
    logger: log as unknown as Logger,
  })
  await eventually(() => cache.store.ready, 'connected')
  await redis.kill()
  await eventually(() => log.events('redis-error').length > 0, 'a redis-error event', 10_000)
  const e = log.events('redis-error')[0]!
  assert.is(e.level, 'warn')
  assert.equal(Object.keys(e.obj), ['event', 'cache', 'store', 'node', 'error', 'suppressed'])
  assert.equal(
    { ...e.obj, error: typeof e.obj.error },
    { event: 'redis-error', cache: 'cachet', store: 'redis', node: null, error: 'string', suppressed: 0 },
  )
  assert.match(String(e.obj.error), /ECONNREFUSED|Connection is closed|ECONNRESET/)
  assert.match(e.msg ?? '', /^redis store "cachet": /)
  assert.is(log.events('redis-error').length, 1, 'rate-limited: one line per interval, however many errors')
  await redis.restart()
  await eventually(() => log.events('redis-ready').length === 1, 'ready again', 10_000)
  assert.equal(log.events('redis-ready')[0], {
    level: 'info',
    obj: { event: 'redis-ready', cache: 'cachet', store: 'redis' },
    msg: 'redis store "cachet": connection ready again',
  })
})

r('a paused server: the read times out, one store-error object (served as a miss)', async () => {
  const log = new ObjectLogger()
  const cache = await cacheWith({
    policies: policyDir(TWO_RULES),
    store: redis.url,
    readDeadlineMs: 100,
    logger: log as unknown as Logger,
  })
  const site = await sites.start({ policies: policyDir(TWO_RULES), cache })
  await eventually(() => cache.store.ready, 'connected')
  redis.pause()
  try {
    const res = await site.get('/pages/a')
    assert.is(cs(res), 'cachet; fwd=miss; detail=store-unavailable')
  } finally {
    redis.resume()
  }
  const e = log.events('store-error')
  assert.is(e.length, 1, JSON.stringify(log.records))
  assert.equal(e[0]!.obj, {
    event: 'store-error',
    cache: 'cachet',
    outcome: 'miss',
    timeout: true,
    error: e[0]!.obj.error,
    suppressed: 0,
  })
  assert.match(String(e[0]!.obj.error), /deadline|timed out|250 ms|100 ms/, String(e[0]!.obj.error))
  assert.match(e[0]!.msg ?? '', /^store error \(served as a miss\): /)
})

r(
  "Redis without eviction: the structured log gets the warning too, with the process warning's code",
  async () => {
    await redis.cli('CONFIG', 'SET', 'maxmemory', '0')
    const log = new ObjectLogger()
    await cacheWith({ policies: policyDir(TWO_RULES), store: redis.url, logger: log as unknown as Logger })
    const e = log.events('redis-config').filter((x) => x.level === 'warn')
    assert.is(e.length, 1)
    assert.is(e[0]!.obj.code, 'CACHET_REDIS_NO_EVICTION')
    assert.is(e[0]!.obj.store, 'redis')
    assert.match(e[0]!.msg ?? '', /maxmemory 0 \(no limit\)|noeviction/)
  },
)

r.run()
