/**
 * `cachet serve` without --policies writes its own plain policy (every path, every query
 * parameter keyed, as an RFC 9111 cache keys the URI). The QUERY_UNBOUNDED lint is right about
 * that policy, but it is cachet's choice: printed on every start, about a temp file the user never
 * wrote, it was noise. It is not printed for the plain policy, and still is for a user's own.
 */
import { createServer } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DEFAULT_POLICY, plainPolicyLogger, startServe } from '../../src/cli/serve.js'
import { loadPolicies } from '../../src/policy/load.js'
import { policyDir, yaml } from '../helpers/policies.js'

const s = suite('cachet serve: lint warnings about the plain policy')

/** stderr written while `f` runs */
async function stderrOf(f: () => Promise<void>): Promise<string> {
  const write = process.stderr.write.bind(process.stderr)
  let out = ''
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += String(chunk)
    return true
  }) as typeof process.stderr.write
  try {
    await f()
  } finally {
    process.stderr.write = write
  }
  return out
}

async function serveOnce(policies?: string): Promise<string> {
  const upstream = createServer((_req, res) => res.end('ok'))
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  const port = (upstream.address() as { port: number }).port
  try {
    return await stderrOf(async () => {
      const serving = await startServe({
        upstream: `http://127.0.0.1:${port}`,
        port: 0,
        host: '127.0.0.1',
        ...(policies !== undefined ? { policies } : {}),
      })
      await serving.stop(0)
    })
  } finally {
    await new Promise((r) => upstream.close(r))
  }
}

s('the lint does warn about the plain policy (so the filter is what keeps it quiet)', async () => {
  const dir = policyDir(DEFAULT_POLICY)
  const r = await loadPolicies(dir)
  assert.ok(r.ok)
  assert.equal(
    r.warnings.map((w) => w.code),
    ['QUERY_UNBOUNDED'],
  )
})

s('plain cachet serve starts without a warning', async () => {
  assert.is(await serveOnce(), '')
})

s("a user's policy still gets its warnings", async () => {
  const dir = policyDir(
    yaml(`
      version: 1
      rules:
        - id: all
          match: /**
          ttl: 1m
    `),
  )
  assert.match(await serveOnce(dir), /warning: .*rule "all": match: "\/\*\*" has no bound/)
})

s('the filter drops only warnings about that file', () => {
  const seen: string[] = []
  const log = plainPolicyLogger('/tmp/x/default.yaml', {
    error: (m) => seen.push(`error ${m}`),
    warn: (m) => seen.push(`warn ${m}`),
    info: () => {},
    debug: () => {},
  })
  log.warn('/tmp/x/default.yaml:9:7: warning: rule "default": key.query: all …')
  log.warn('/tmp/x/default.yaml.bak:1:1: warning: other')
  log.warn('store is down')
  log.error('/tmp/x/default.yaml:1:1: error: kept')
  assert.equal(seen, [
    'warn /tmp/x/default.yaml.bak:1:1: warning: other',
    'warn store is down',
    'error /tmp/x/default.yaml:1:1: error: kept',
  ])
})

s.run()
