/**
 * The package's entries as a user's project sees them, installed from `npm pack`: `import` and
 * `require` (the CommonJS entry, through Node's require(esm)) give the very same module, deep
 * paths are not exported, and TypeScript resolves the types of both entries (an ES module and a
 * CommonJS consumer under `module: nodenext`), a misspelt option being an error in both. And
 * the built `cachet` bin runs `serve --workers 2`: its workers are forked from dist/'s own bin
 * (tests of the source run it under tsx, from src/).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { eventually, request } from '../helpers/http.js'
import { installPacked, packCachet, ROOT, shell, startNode, tempDir } from '../helpers/packed.js'
import { policyDir } from '../helpers/policies.js'
import { freePort } from '../helpers/redis-server.js'

const app = tempDir('cachet-exports-')
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
await installPacked(app, await packCachet(), ['cachet', 'koa', '@types/node', '@types/koa'])

test('import and require give the same module, without a warning', async () => {
  writeFileSync(
    join(app, 'same.mjs'),
    [
      "import * as esm from 'cachet'",
      "import { createRequire } from 'node:module'",
      "const cjs = createRequire(import.meta.url)('cachet')",
      'const names = Object.keys(esm).sort()',
      "console.log(names.join(','))",
      'console.log(names.every((n) => cjs[n] === esm[n]))',
    ].join('\n'),
  )
  const r = await shell('node same.mjs', app)
  assert.is(r.stderr, '')
  assert.is(
    r.stdout,
    'CachetError,PolicyError,StoreTimeoutError,createCache,formatDiagnostics,loadPolicies\ntrue\n',
  )
  writeFileSync(
    join(app, 'plain.cjs'),
    "const { createCache } = require('cachet')\nconsole.log(typeof createCache)\n",
  )
  const c = await shell('node plain.cjs', app)
  assert.is(c.stderr, '')
  assert.is(c.stdout, 'function\n')
})

test('only the entry and package.json are exported', async () => {
  const deep = await shell(`node -e "require('cachet/dist/index.js')"`, app)
  assert.is.not(deep.code, 0)
  assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/)
  const pkg = await shell(`node -p "require('cachet/package.json').name"`, app)
  assert.is(pkg.stdout, 'cachet\n')
})

test('TypeScript: both entries typed (ES module and CommonJS consumers), misspellings are errors', async () => {
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        types: ['node'],
      },
      include: ['*.mts', '*.cts'],
    }),
  )
  writeFileSync(
    join(app, 'esm.mts'),
    [
      "import { type Cache, createCache } from 'cachet'",
      'export async function start(): Promise<Cache> {',
      "  const cache = await createCache({ policies: 'policies', store: { memory: { maxBytes: 1024 } } })",
      "  cache.on('reload', (e) => void e.changed)",
      '  // @ts-expect-error: misspelt option',
      "  await createCache({ polices: 'policies' })",
      '  // @ts-expect-error: misspelt event',
      "  cache.on('relaod', () => {})",
      '  return cache',
      '}',
    ].join('\n'),
  )
  writeFileSync(
    join(app, 'cjs.cts'),
    [
      "import cachet = require('cachet')",
      'export async function start(): Promise<cachet.Cache> {',
      "  const cache = await cachet.createCache({ policies: 'policies', store: 'memory' })",
      "  cache.on('error', (err) => void err.diagnostics)",
      '  // @ts-expect-error: misspelt store form',
      '  await cachet.createCache({ store: { memroy: {} } })',
      '  return cache',
      '}',
    ].join('\n'),
  )
  const r = await shell(`node ${join(ROOT, 'node_modules/typescript/bin/tsc')} -p .`, app)
  assert.is(r.stdout + r.stderr, '')
  assert.is(r.code, 0)
})

test('the built bin serves with --workers 2: a hit through it, a clean exit', async () => {
  let origin = 0
  const upstream = createServer((_req, res) => {
    origin++
    res.setHeader('cache-control', 'max-age=60')
    res.end(`v${origin}`)
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const port = await freePort()
  const policies = policyDir('version: 1\nrules:\n  - id: all\n    match: /**\n    ttl: 1m\n')
  // the path package.json's bin names, as npm links it
  const bin = join(app, 'node_modules/.bin/cachet')
  const serving = await startNode(
    app,
    [bin, 'serve', '--workers', '2', '--upstream', up, '--port', String(port), '--policies', policies],
    {},
    port,
  )
  try {
    const out = () => serving.output()
    await eventually(() => /"event":"listening"/.test(out()), 'the fleet listening', 20_000)
    assert.match(out(), /"workers":2/)
    const workers = readFileSync(`/proc/${serving.child.pid}/task/${serving.child.pid}/children`, 'utf8')
      .split(' ')
      .filter((x) => x !== '')
      .map(Number)
    assert.is(workers.length, 2)
    for (const pid of workers)
      assert.match(
        readFileSync(`/proc/${pid}/cmdline`, 'utf8'),
        /node_modules\/cachet\/dist\/cli\/bin-cachet\.js\0serve\0/,
      )
    // one miss per worker at most, then hits
    let hit: string | undefined
    for (let i = 0; i < 10 && hit === undefined; i++) {
      const r = await request(`http://127.0.0.1:${port}/a`)
      assert.is(r.status, 200)
      if (/^cachet; hit/.test(r.headers['cache-status'] ?? '')) hit = r.body
    }
    assert.ok(hit === 'v1' || hit === 'v2', `a hit: ${hit}`)
    assert.ok(origin <= 2, `${origin} origin requests`)
    await serving.stop()
    assert.is(serving.child.exitCode, 0, out())
    for (const pid of workers) assert.ok(!existsSync(`/proc/${pid}`), `worker ${pid} exited`)
  } finally {
    await serving.stop()
    await new Promise((r) => upstream.close(r))
  }
})

test.run()
