/**
 * `cachet explain` with a response (`--status`, `-R`): whether it would be stored and for how
 * long, from the same storage decision the middleware runs (test/policy-test/same-code.test.ts).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../src/cli/main.js'

const root = new URL('../..', import.meta.url).pathname

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await cli(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    cwd: root,
  })
  return { code, out, err }
}

const e = suite('cachet explain with a response')

e('stored, fresh for what the response states, kept through the stale windows', async () => {
  const r = await run([
    'explain',
    'GET',
    '/api/products/42',
    '--status',
    '200',
    '-R',
    'Cache-Control: max-age=60',
  ])
  assert.is(r.code, 0)
  const lines = r.out.split('\n')
  assert.ok(lines.includes('tags:     products, product:42'), r.out)
  assert.ok(lines.includes('stored:   yes, fresh 60s, kept 660s  (a 200 response)'), r.out)
  assert.ok(
    lines.includes('- a 200 response with these headers is stored, fresh for 60s and kept 660s'),
    r.out,
  )
})

e('not stored, and why; --format json carries storage, tags, detail and removed headers', async () => {
  const r = await run(['explain', 'GET', '/api/search?q=a', '-R', 'Set-Cookie: s=1', '--format', 'json'])
  assert.is(r.code, 0)
  const x = JSON.parse(r.out)
  assert.equal(x.storage, {
    status: 200,
    stored: false,
    reason: 'set-cookie',
    ttl: null,
    keep: null,
    staleWhileRevalidate: null,
    staleIfError: null,
    staleIfUnreachable: null,
  })
  assert.equal([x.detail, x.tags, x.removed.headers], [null, [], []])
  const b = JSON.parse(
    (
      await run([
        'explain',
        'GET',
        '/static/a.js',
        '-H',
        'Cookie: s=1',
        '-H',
        'Connection: x-a',
        '-H',
        'X-A: 1',
        '-f',
        'json',
      ])
    ).out,
  )
  assert.equal(
    [b.decision, b.storage, b.removed],
    ['lookup', null, { query: [], cookies: ['s'], headers: ['x-a', 'cookie'] }],
  )
  const c = JSON.parse(
    (await run(['explain', 'GET', '/api/search', '-H', 'Cookie: s=1', '--format', 'json'])).out,
  )
  assert.equal([c.decision, c.detail], ['bypass', 'cookie'])
})

e('a bad --status or -R is a usage error', async () => {
  const a = await run(['explain', 'GET', '/x', '--status', '2000'])
  assert.equal(a, {
    code: 2,
    out: '',
    err: 'cachet explain: --status expects a status code from 100 to 999, got 2000\n',
  })
  const b = await run(['explain', 'GET', '/x', '-R', 'nocolon'])
  assert.equal(b, { code: 2, out: '', err: 'cachet explain: -R expects "Name: value", got "nocolon"\n' })
})

e.run()
