/**
 * cache.prometheus(): the text format read back by two parsers, parse-prometheus-text-format (a
 * port of the official Python client's parser) and the strict reader of text-format.ts (itself
 * checked against prom-client's own writer and against malformed inputs); its values equal
 * stats(); its label sets stay bounded under 1,000 distinct URLs, query values and cookies; and
 * cache.prometheus({ registry }) in a real prom-client Registry.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BYPASS_REASONS, NOT_STORED_REASONS, OUTCOMES } from '../../src/metrics/counters.js'
import { toText } from '../../src/metrics/prometheus.js'
import { siteTracker } from '../helpers/origin.js'
import { policyDir } from '../helpers/policies.js'
import { checkScripted, POLICY, script, scriptOrigin } from './script.js'
import { type Parsed, type Series, strictParse } from './text-format.js'

const sites = siteTracker()

function value(p: Parsed, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
  return p.series.find((s) => s.name === name && want.every(([k, v]) => s.labels[k] === v))?.value
}

const identity = (s: Series) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`

const reader = suite('the strict text-format reader')

reader('accepts what prom-client itself writes (counters, labels with escapes, a histogram)', async () => {
  const registry = new Registry()
  const c = new Counter({
    name: 'x_total',
    help: 'a \\ back\nslash',
    labelNames: ['a'],
    registers: [registry],
  })
  c.inc({ a: 'quote " back \\ line\nfeed' }, 3)
  const h = new Histogram({ name: 'y_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] })
  h.observe(0.05)
  h.observe(5)
  const p = strictParse(await registry.metrics())
  assert.is(value(p, 'x_total', { a: 'quote " back \\ line\nfeed' }), 3)
  assert.is(p.help.get('x_total'), 'a \\ back\nslash')
  assert.is(value(p, 'y_seconds_bucket', { le: '+Inf' }), 2)
  assert.is(value(p, 'y_seconds_count', {}), 2)
})

reader('rejects what the format does not allow', () => {
  const bad: [string, RegExp][] = [
    ['x_total{a="b"} 1', /end with a line feed/],
    ['# TYPE x_total counter\nx_total{a="\\t"} 1\n', /bad escape/],
    ['# TYPE x_total counter\nx_total{a=b} 1\n', /not quoted/],
    ['# TYPE x_total counter\nx_total 1\nx_total 2\n', /same series twice/],
    ['x_total 1\n# TYPE x_total counter\n', /TYPE after samples/],
    ['# TYPE x counter\nx 1\n', /not named _total/],
    ['# TYPE x_total counter\nx_total one\n', /bad value/],
    ['# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n', /not together/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 0\n', /not cumulative/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 0\n', /no \+Inf/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\nh_sum 0\n', /is not _count/],
    ['# TYPE x_total counter\n9x_total 1\n', /bad metric name/],
  ]
  for (const [text, why] of bad) assert.throws(() => strictParse(text), why, text)
})

reader.run()

const text = suite('cache.prometheus()')
text.after.each(sites.closeAll)

text(
  'after the scripted sequence: both parsers read it, and every value is the one stats() gives',
  async () => {
    const site = await sites.start({ policies: policyDir(POLICY) })
    scriptOrigin(site)
    const len = await script(site)
    checkScripted(site, len)
    const out = site.cache.prometheus()
    const p = strictParse(out)
    const st = site.cache.stats()
    const pages = st.rules.find((r) => r.id === 'pages')!
    for (const o of OUTCOMES) {
      assert.is(
        value(p, 'cachet_requests_total', { cache: 'cachet', rule: 'pages', outcome: o }),
        pages.outcomes[o],
      )
    }
    assert.is(value(p, 'cachet_requests_total', { rule: 'pages', outcome: 'hit' }), 4)
    assert.is(value(p, 'cachet_bypassed_requests_total', { rule: 'pages', reason: 'cookie' }), 1)
    assert.is(value(p, 'cachet_bypassed_requests_total', { rule: 'writes', reason: 'method' }), 1)
    assert.is(value(p, 'cachet_responses_not_stored_total', { rule: 'pages', reason: 'set-cookie' }), 1)
    assert.is(value(p, 'cachet_responses_not_stored_total', { rule: 'big', reason: 'too-large' }), 1)
    assert.is(value(p, 'cachet_responses_stored_total', { rule: 'pages' }), 1)
    assert.is(value(p, 'cachet_served_bytes_total', { rule: 'pages' }), 2 * len)
    assert.is(value(p, 'cachet_unmatched_requests_total', {}), 1)
    assert.is(value(p, 'cachet_store_read_seconds_count', {}), 8)
    assert.is(value(p, 'cachet_store_read_seconds_bucket', { le: '+Inf' }), 8)
    assert.is(value(p, 'cachet_store_read_seconds_sum', {}), st.store.read.sumSeconds)
    assert.is(value(p, 'cachet_store_up', { store: 'memory' }), 1)
    assert.is(value(p, 'cachet_store_entries', {}), st.store.entries)
    assert.is(value(p, 'cachet_policy_info', { version: site.cache.version }), 1)
    assert.is(value(p, 'cachet_policy_rules', {}), 4)
    assert.is(value(p, 'cachet_reloads_total', { outcome: 'failed' }), 0)
    // a reason never counted has no series
    assert.is(
      value(p, 'cachet_bypassed_requests_total', { rule: 'pages', reason: 'authorization' }),
      undefined,
    )
    for (const [name, type] of p.types) {
      assert.ok(name.startsWith('cachet_'), name)
      assert.ok(p.help.get(name), `${name} has HELP`)
      if (type === 'counter') assert.ok(name.endsWith('_total'))
    }

    // the second parser: the same families, types and values
    const fams = parsePrometheusTextFormat(out)
    assert.equal(
      fams.map((f) => [f.name, f.type.toLowerCase()]),
      [...p.types],
    )
    const req = fams.find((f) => f.name === 'cachet_requests_total')!
    const hit = req.metrics.find((m) => m.labels?.rule === 'pages' && m.labels.outcome === 'hit')
    assert.is(hit?.value, '4')
    const hist = fams.find((f) => f.name === 'cachet_store_read_seconds')!
    assert.is(hist.type, 'HISTOGRAM')
    assert.is(hist.metrics[0]!.buckets!['+Inf'], '8')
    assert.is(hist.metrics[0]!.buckets!['0.0001'], String(st.store.read.buckets[0]!.count))
  },
)

text(
  'label values are escaped (backslash, double quote, line feed) and read back the same by both parsers',
  () => {
    const v = 'a "quoted" \\ back\nslash'
    const out = toText([
      {
        name: 'cachet_x_total',
        help: 'help with \\ and\nnewline',
        type: 'counter',
        samples: [{ labels: { rule: v }, value: 2 }],
      },
    ])
    assert.ok(out.includes('rule="a \\"quoted\\" \\\\ back\\nslash"'), out)
    assert.is(value(strictParse(out), 'cachet_x_total', { rule: v }), 2)
    assert.is(strictParse(out).help.get('cachet_x_total'), 'help with \\ and\nnewline')
    assert.is(parsePrometheusTextFormat(out)[0]!.metrics[0]!.labels!.rule, v)
  },
)

text(
  'label sets stay bounded: 1,000 distinct URLs, query values, cookies and headers add no series',
  async () => {
    const site = await sites.start({ policies: policyDir(POLICY) })
    scriptOrigin(site)
    await script(site)
    const before = strictParse(site.cache.prometheus())
    for (let i = 0; i < 1000; i += 4) {
      await Promise.all([
        site.get(`/pages/u${i}?q=${i}`),
        site.get(`/pages/u${i}?q=${i}&utm=${i}`, { headers: { 'x-trace': String(i) } }),
        site.get(`/pages/c${i}`, { headers: { cookie: `c${i}=v${i}` } }),
        site.get(`/nowhere/${i}?q=${i}`),
      ])
    }
    const after = strictParse(site.cache.prometheus())
    assert.equal(after.series.map(identity).sort(), before.series.map(identity).sort())
    assert.is(value(after, 'cachet_unmatched_requests_total', {}), 1 + 250)
    assert.is(value(after, 'cachet_bypassed_requests_total', { rule: 'pages', reason: 'cookie' }), 1 + 250)
    const allowed: Record<string, Set<string>> = {
      cache: new Set(['cachet']),
      rule: new Set(['nocache', 'writes', 'pages', 'big']),
      outcome: new Set([...OUTCOMES, 'applied', 'unchanged', 'failed']),
      reason: new Set([...BYPASS_REASONS, ...NOT_STORED_REASONS]),
      store: new Set(['memory']),
      version: new Set([site.cache.version]),
    }
    for (const s of after.series) {
      for (const [k, v] of Object.entries(s.labels)) {
        if (k === 'le') continue
        assert.ok(allowed[k]?.has(v), `${s.name}: label ${k}="${v}" is not from the bounded sets`)
      }
    }
  },
)

text.run()

const prom = suite('cache.prometheus({ registry }) (prom-client)')
prom.after.each(sites.closeAll)

prom(
  'the Registry exposes the same series and values as cache.prometheus(), beside the app’s own metrics',
  async () => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    const mine = new Counter({ name: 'app_orders_total', help: 'orders', registers: [registry] })
    mine.inc(2)
    const site = await sites.start({ policies: policyDir(POLICY) })
    site.cache.prometheus({ registry })
    scriptOrigin(site)
    await script(site)
    const fromRegistry = strictParse(await registry.metrics())
    const direct = strictParse(site.cache.prometheus())
    const cachet = fromRegistry.series.filter((s) => s.name.startsWith('cachet_'))
    assert.equal(
      cachet.map((s) => [identity(s), s.value]).sort(),
      direct.series.map((s) => [identity(s), s.value]).sort(),
    )
    assert.is(value(fromRegistry, 'app_orders_total', {}), 2)
    assert.ok(fromRegistry.series.some((s) => s.name === 'process_cpu_user_seconds_total'))
    assert.is(fromRegistry.types.get('cachet_store_read_seconds'), 'histogram')
    // counted after the registration: the collectors read at scrape time
    await site.get('/pages/a')
    assert.is(
      value(strictParse(await registry.metrics()), 'cachet_requests_total', {
        rule: 'pages',
        outcome: 'hit',
      }),
      5,
    )
    const json = await registry.getMetricsAsJSON()
    const req = json.find((m) => m.name === 'cachet_requests_total')!
    assert.is(req.type, 'counter')
    assert.ok(
      req.values.some((v) => v.labels.rule === 'pages' && v.labels.outcome === 'hit' && v.value === 5),
    )
    // Registry.merge (how apps combine registries) takes them along
    const merged = Registry.merge([registry, new Registry()])
    assert.ok(
      (await merged.metrics()).includes('cachet_requests_total{cache="cachet",rule="pages",outcome="hit"} 5'),
    )
  },
)

prom('two caches share one Registry (the cache label); close() takes a cache out of it', async () => {
  const registry = new Registry()
  const a = await sites.start({ policies: policyDir(POLICY), name: 'alpha' })
  const b = await sites.start({ policies: policyDir(POLICY), name: 'beta' })
  a.cache.prometheus({ registry })
  b.cache.prometheus({ registry })
  await a.get('/elsewhere')
  await b.get('/elsewhere')
  await b.get('/elsewhere')
  let p = strictParse(await registry.metrics())
  assert.is(value(p, 'cachet_unmatched_requests_total', { cache: 'alpha' }), 1)
  assert.is(value(p, 'cachet_unmatched_requests_total', { cache: 'beta' }), 2)
  await a.cache.close()
  p = strictParse(await registry.metrics())
  assert.is(value(p, 'cachet_unmatched_requests_total', { cache: 'alpha' }), undefined)
  assert.is(value(p, 'cachet_unmatched_requests_total', { cache: 'beta' }), 2)
})

prom('an OpenMetrics Registry gets its own counter naming', async () => {
  const registry = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>()
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  const site = await sites.start({ policies: policyDir(POLICY) })
  site.cache.prometheus({ registry })
  await site.get('/elsewhere')
  const out = await registry.metrics()
  assert.ok(out.includes('# TYPE cachet_unmatched_requests counter'), out)
  assert.ok(out.includes('cachet_unmatched_requests_total{cache="cachet"} 1'), out)
  assert.ok(!out.includes('_total_total'), out)
})

prom(
  'a name already taken in the Registry, or something that is not a Registry, is a TypeError',
  async () => {
    const registry = new Registry()
    new Counter({ name: 'cachet_requests_total', help: 'theirs', registers: [registry] })
    const site = await sites.start({ policies: policyDir(POLICY) })
    assert.throws(
      () => site.cache.prometheus({ registry }),
      /already has a metric named cachet_requests_total/,
    )
    assert.throws(() => site.cache.prometheus({ registry: {} as never }), /needs a prom-client Registry/)
    assert.throws(() => (site.cache.prometheus as (o: unknown) => void)(42), TypeError)
  },
)

prom.run()
