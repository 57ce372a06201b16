/**
 * Issue 10, item 2 (rest): a rule may list the media types it stores (`contentTypes`), stricter
 * than the cache-deception guard and applied on top of it. An API rule that should only ever hold
 * JSON then never stores the HTML error page or login form a misrouted request gets, whatever its
 * path looks like. Before, `contentTypes` was an unknown field (createCache refused the policy).
 * On both stores, with real HTTP and a real redis-server.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../src/cli/main.js'
import { createCache } from '../../src/create-cache.js'
import { typeListed, typeRefused } from '../../src/http/deception.js'
import { cs, type Site } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: api
      match: /api/**
      ttl: 1m
      contentTypes: [Application/JSON, "image/*"]
    - id: pages
      match: /**
      ttl: 1m
      contentTypes: [text/html]
`)

/** the application: what each path answers, typed by the query's `type` (none: no Content-Type) */
function app(site: Site): void {
  site.origin.route(/.*/, (ctx, n) => {
    const type = ctx.query.type
    ctx.body = `${ctx.path} #${n}`
    if (typeof type === 'string') ctx.type = type
    else ctx.remove('Content-Type')
  })
}

const unit = suite('typeListed / typeRefused')
unit('exact types and type/* ranges, case-insensitive, parameters ignored', () => {
  assert.ok(typeListed(['application/json'], 'application/json'))
  assert.ok(typeListed(['image/*'], 'image/webp'))
  assert.not.ok(typeListed(['image/*'], 'imagex/png'), 'a range covers its own type only')
  assert.not.ok(typeListed(['image/*'], 'image/'))
  assert.not.ok(typeListed(['application/json'], 'application/json-seq'))
  assert.not.ok(typeListed(['application/json'], ''))
  assert.not.ok(typeRefused('/api/x', 'APPLICATION/JSON; charset=utf-8', ['application/json']))
  assert.ok(typeRefused('/api/x', 'text/html', ['application/json']))
  assert.ok(typeRefused('/api/x', undefined, ['application/json']), 'no Content-Type with a list')
  assert.not.ok(typeRefused('/api/x', undefined, null), 'no list, no static extension: the guard is silent')
  assert.ok(typeRefused('/x.css', 'text/html', ['text/html']), 'the guard still applies under a list')
  assert.not.ok(typeRefused('/x.css', 'text/css', null))
})
unit.run()

const ex = suite("explain: the deception guard and the rule's contentTypes")
const REFUSED = 'any other Content-Type, or none, is not stored (detail=content-type)'
ex('cache.explain() gives both lists and says what the path may be stored as', async () => {
  const cache = await createCache({ policies: policyDir(POLICY) })
  try {
    const x = (url: string) => cache.explain({ url, headers: { host: 'shop.example' } })
    const reason = (url: string) => x(url).reasons.at(-1)
    assert.equal(x('/api/products').contentTypes, {
      extension: null,
      guard: null,
      rule: ['application/json', 'image/*'],
    })
    assert.is(reason('/api/products'), `contentTypes: stored only as application/json, image/*; ${REFUSED}`)
    assert.equal(x('/api/logo.png').contentTypes, {
      extension: 'png',
      guard: ['image/png'],
      rule: ['application/json', 'image/*'],
    })
    assert.is(
      reason('/api/logo.png'),
      `deception guard and contentTypes: the path ends in ".png", so a response is stored only as image/png; ${REFUSED}`,
    )
    assert.is(
      reason('/api/app.css'),
      'nothing can be stored for this path: the deception guard stores ".css" paths only as text/css, and contentTypes allows only application/json, image/*',
    )
    assert.is(x('/api/products').decision, 'lookup')
  } finally {
    await cache.close()
  }
  const guardOnly = await createCache({
    policies: policyDir('version: 1\nrules:\n  - id: all\n    match: /**\n    ttl: 1m\n'),
  })
  try {
    const x = guardOnly.explain({ url: '/account/x.CSS', headers: { host: 'shop.example' } })
    assert.equal(x.contentTypes, { extension: 'css', guard: ['text/css'], rule: null })
    assert.is(
      x.reasons.at(-1),
      `deception guard: the path ends in ".css", so a response is stored only as text/css; ${REFUSED}`,
    )
    const plain = guardOnly.explain({ url: '/account', headers: { host: 'shop.example' } })
    assert.equal(plain.contentTypes, { extension: null, guard: null, rule: null })
    assert.not.match(plain.reasons.join('\n'), 'Content-Type')
    assert.is(guardOnly.explain({ url: '/x', method: 'POST' }).contentTypes, null, 'only for a lookup')
  } finally {
    await guardOnly.close()
  }
})

ex("explain's storage (and so cachet test) refuses what the middleware refuses: one decision", async () => {
  const cache = await createCache({ policies: policyDir(POLICY) })
  try {
    const storage = (url: string, type?: string) =>
      cache.explain({
        url,
        headers: { host: 'shop.example' },
        response: { status: 200, headers: type === undefined ? {} : { 'content-type': type } },
      }).storage
    assert.is(storage('/api/products', 'application/json; charset=utf-8')?.stored, true)
    assert.is(storage('/api/avatar', 'image/webp')?.stored, true)
    assert.is(storage('/api/products', 'text/html')?.reason, 'content-type')
    assert.is(storage('/api/products')?.reason, 'content-type', 'no Content-Type under a list')
    assert.is(
      storage('/about.css', 'text/html')?.reason,
      'content-type',
      'the guard, under a list naming text/html',
    )
  } finally {
    await cache.close()
  }
})

ex('cachet explain prints it', async () => {
  let out = ''
  const io = {
    stdout: {
      write: (t: string) => {
        out += t
      },
    },
    stderr: {
      write: (t: string) => {
        out += t
      },
    },
    cwd: '/',
  }
  const code = await cli(
    ['explain', '--policies', policyDir(POLICY), 'GET', 'https://shop.example/about.js'],
    io,
  )
  assert.is(code, 0)
  assert.match(
    out,
    '\n- nothing can be stored for this path: the deception guard stores ".js" paths only as text/javascript, application/javascript, application/x-javascript, application/ecmascript, and contentTypes allows only text/html\n',
  )
})
ex.run()

onBothStores('regression: contentTypes', POLICY, app, (s, start) => {
  /** not stored, twice to the origin, Cache-Status says why */
  const refused = async (site: Site, target: string) => {
    const first = await site.get(target)
    assert.is(first.status, 200, target)
    assert.is(cs(first), 'cachet; fwd=uri-miss; detail=content-type', target)
    assert.not.ok(await site.isStored(target), target)
    const second = await site.get(target)
    assert.is(cs(second), 'cachet; fwd=uri-miss; detail=content-type', target)
    assert.is(site.origin.calls(target.split('?')[0]!), 2, target)
  }
  /** stored, then a hit served the first answer */
  const stored = async (site: Site, target: string) => {
    assert.is(cs(await site.get(target)), 'cachet; fwd=uri-miss; stored', target)
    await site.waitStored(target)
    const hit = await site.get(target)
    assert.match(cs(hit)!, /^cachet; hit; ttl=\d+$/, target)
    assert.is(hit.body, `${target.split('?')[0]} #1`, target)
    assert.is(site.origin.calls(target.split('?')[0]!), 1, target)
  }

  s('a listed type is stored, whatever the case and parameters of the response', async () => {
    const site = await start()
    await stored(site, '/api/products?type=application/json;%20charset=utf-8')
    await stored(site, '/api/upper?type=APPLICATION/JSON')
  })

  s('a type/* range stores any subtype of it', async () => {
    const site = await start()
    await stored(site, '/api/avatar/7?type=image/webp')
    await stored(site, '/api/logo.png?type=image/png')
  })

  s('a type the rule does not list is not stored (detail=content-type)', async () => {
    const site = await start()
    await refused(site, '/api/products?type=text/html')
    await refused(site, '/api/feed?type=application/json-seq')
  })

  s('a response without Content-Type is not stored when the rule lists types', async () => {
    const site = await start()
    const r = await site.get('/api/raw')
    assert.is(r.headers['content-type'], undefined)
    assert.is(cs(r), 'cachet; fwd=uri-miss; detail=content-type')
    assert.not.ok(await site.isStored('/api/raw'))
  })

  s('the deception guard still applies on top of a list that names the type', async () => {
    const site = await start()
    // /account/x.css answered as text/html: `pages` lists text/html, the guard refuses it anyway
    await refused(site, '/account/x.css?type=text/html')
    await stored(site, '/account?type=text/html')
  })
})
