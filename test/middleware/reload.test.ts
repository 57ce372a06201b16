/**
 * Hot reload through the running middleware (README "Library API"; docs/threats.md T63–T67,
 * T70): a bad edit never takes effect and is reported (reload() result, 'error' event when heard,
 * log always); a good edit changes behaviour without a restart; a request in flight finishes
 * under the set it started with.
 */
import type { EventEmitter } from 'node:events'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache, type ReloadResult } from '../../src/create-cache.js'
import { PolicyError } from '../../src/errors.js'
import { eventually } from '../helpers/http.js'
import { cs, hitTtl, siteTracker } from '../helpers/origin.js'
import { policyDir, writePolicy, yaml } from '../helpers/policies.js'

const GOOD = yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: 1m
`)
const SYNTAX = yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: [1m
`)
const SCHEMA = yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: 5 minutes
`)
const SHORTER = GOOD.replace('ttl: 1m', 'ttl: 30s')
const OFF = yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      cache: false
`)
const HIT = /^cachet; hit; ttl=\d+$/

interface ReloadEvent {
  version: string
  changed: boolean
}

/** The next `event` from `emitter` whose first argument satisfies `pred`; rejects after `ms`. */
function next<T>(
  emitter: EventEmitter,
  event: string,
  pred: (v: T) => boolean = () => true,
  ms = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on)
      reject(new Error(`no "${event}" event within ${ms} ms`))
    }, ms)
    function on(v: T) {
      if (!pred(v)) return
      clearTimeout(timer)
      emitter.off(event, on)
      resolve(v)
    }
    emitter.on(event, on)
  })
}

const s = suite('hot reload')
const sites = siteTracker()
s.after.each(async () => {
  await sites.closeAll()
})

s(
  'watch: bad edits keep the old behaviour and are reported; good edits apply without a restart',
  async () => {
    const dir = policyDir(GOOD)
    const site = await sites.start({ policies: dir, watch: true, watchDebounceMs: 20 })
    const cache = site.cache
    const errors: unknown[] = []
    cache.on('error', (e: unknown) => {
      errors.push(e)
    })
    const v1 = cache.version

    const a = await site.get('/w')
    assert.is(cs(a), 'cachet; fwd=uri-miss; stored')
    await site.waitStored('/w')
    assert.match(cs(await site.get('/w')) ?? '', HIT)

    // a YAML syntax error
    let failed = next<PolicyError>(cache, 'error')
    writePolicy(dir, SYNTAX)
    let err = await failed
    assert.instance(err, PolicyError)
    const syntax = err.diagnostics.find((d) => d.severity === 'error')!
    assert.is(syntax.code, 'YAML_SYNTAX')
    assert.ok(syntax.file.endsWith('policy.yaml'), syntax.file)
    assert.ok(syntax.line > 0 && syntax.col > 0, `${syntax.line}:${syntax.col}`)
    assert.match(err.message, /policy\.yaml:\d+:\d+: error: /)
    assert.is(cache.version, v1)
    const stillHit = await site.get('/w')
    assert.match(cs(stillHit) ?? '', HIT, 'the old rule still serves its entry')
    assert.is(stillHit.body, '#1 GET /w cookie=')

    // a schema error, with its exact place
    failed = next<PolicyError>(cache, 'error')
    writePolicy(dir, SCHEMA)
    err = await failed
    const schema = err.diagnostics.find((d) => d.severity === 'error')!
    assert.is(schema.code, 'DURATION_FORMAT')
    assert.is(`${schema.line}:${schema.col}`, '5:10')
    assert.is(schema.ruleId, 'pages')
    assert.is(cache.version, v1)
    assert.match(cs(await site.get('/w')) ?? '', HIT)
    const result = await cache.reload()
    assert.is(result.ok, false)
    assert.is((result as Extract<ReloadResult, { ok: false }>).version, v1)
    const d = (result as Extract<ReloadResult, { ok: false }>).errors[0]!
    assert.ok(d.file.endsWith('policy.yaml') && d.line === 5 && d.col === 10, `${d.file}:${d.line}:${d.col}`)
    assert.ok(cache.metrics().reloadFailures >= 3)
    assert.ok(
      site.logs.some((l) => l.startsWith('error: policy reload failed')),
      'a failed reload is always logged',
    )
    assert.ok(errors.length >= 2)

    // a good edit: shorter ttl; the rule's new version keys new entries (T67/T68)
    let reloaded = next<ReloadEvent>(cache, 'reload', (e) => e.changed)
    writePolicy(dir, SHORTER)
    const ev = await reloaded
    assert.is.not(ev.version, v1)
    assert.is(cache.version, ev.version)
    const miss = await site.get('/w')
    assert.is(cs(miss), 'cachet; fwd=uri-miss; stored')
    assert.is(miss.body, '#2 GET /w cookie=')
    await site.waitStored('/w')
    const hit = await site.get('/w')
    assert.ok(hitTtl(hit) > 0 && hitTtl(hit) <= 30, `ttl <= 30, got ${hitTtl(hit)}`)

    // tighten: cache: false takes effect on the very next request
    reloaded = next<ReloadEvent>(cache, 'reload', (e) => e.changed)
    writePolicy(dir, OFF)
    await reloaded
    for (let i = 3; i <= 4; i++) {
      const r = await site.get('/w')
      assert.is(cs(r), 'cachet; fwd=bypass; detail=rule')
      assert.is(r.body, `#${i} GET /w cookie=`)
    }

    // revert: the first version comes back, and so do its entries
    reloaded = next<ReloadEvent>(cache, 'reload', (e) => e.changed)
    writePolicy(dir, GOOD)
    await reloaded
    assert.is(cache.version, v1)
    const back = await site.get('/w')
    assert.match(cs(back) ?? '', HIT)
    assert.is(back.body, '#1 GET /w cookie=')
  },
)

s('an unheard "error" event does not crash the process; the failure is counted and logged', async () => {
  const dir = policyDir(GOOD)
  const site = await sites.start({ policies: dir, watch: true, watchDebounceMs: 20 })
  assert.is(site.cache.listenerCount('error'), 0)
  await site.get('/u')
  writePolicy(dir, SCHEMA)
  await eventually(() => site.cache.metrics().reloadFailures >= 1, 'the watched reload failed')
  assert.ok(
    site.logs.some((l) => l.includes('policy.yaml:5:10: error: rule "pages"')),
    site.logs.join('\n'),
  )
  await site.waitStored('/u')
  const r = await site.get('/u')
  assert.match(cs(r) ?? '', HIT)
  assert.is(r.body, '#1 GET /u cookie=')
})

s('reload() without watch: ok:false keeps the set; ok:true swaps it', async () => {
  const dir = policyDir(GOOD)
  const site = await sites.start({ policies: dir })
  const v1 = site.cache.version
  writePolicy(dir, SYNTAX)
  const bad = await site.cache.reload()
  assert.is(bad.ok, false)
  assert.is(site.cache.version, v1)
  writePolicy(dir, OFF)
  const good = await site.cache.reload()
  assert.ok(good.ok)
  assert.is((good as Extract<ReloadResult, { ok: true }>).changed, true)
  assert.is.not(site.cache.version, v1)
  assert.is(cs(await site.get('/m')), 'cachet; fwd=bypass; detail=rule')
  const same = await site.cache.reload()
  assert.ok(same.ok && !same.changed, 'reloading the same files changes nothing')
})

s('a request in flight during a reload completes, under the set it started with', async () => {
  const dir = policyDir(GOOD)
  const site = await sites.start({ policies: dir })
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  site.origin.route('/slow', async (ctx, n) => {
    if (n === 1) await gate
    ctx.body = `slow ${n}`
  })
  const inFlight = site.get('/slow')
  await eventually(() => site.origin.calls('/slow') === 1, 'the request reached the origin')
  writePolicy(dir, OFF)
  const r = await site.cache.reload()
  assert.ok(r.ok && r.changed)
  release()
  const res = await inFlight
  assert.is(res.status, 200)
  assert.is(res.body, 'slow 1')
  assert.is(cs(res), 'cachet; fwd=uri-miss; stored')
  const after = await site.get('/slow')
  assert.is(cs(after), 'cachet; fwd=bypass; detail=rule')
  assert.is(after.body, 'slow 2')
})

s('createCache rejects invalid initial policies with file:line:col', async () => {
  const dir = policyDir(SCHEMA)
  try {
    await createCache({ policies: dir })
    assert.unreachable('createCache should reject')
  } catch (err) {
    assert.instance(err, PolicyError)
    assert.match((err as Error).message, /policy\.yaml:5:10: error: rule "pages": ttl: expected a duration/)
  }
})

s.run()
