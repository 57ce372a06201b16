/**
 * `cachet explain [--policies dir] [--format text|json] <METHOD> <url> [-H "Name: value"]...`
 */

import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { formatDiagnostics } from '../policy/diagnostic.js'
import { loadPolicies } from '../policy/load.js'
import { compilePolicySet } from '../policy-set.js'
import { explain } from '../request/explain.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from './io.js'

export const EXPLAIN_USAGE = `usage: cachet explain [--policies dir] [--name cachet] [--format text|json] <METHOD> <url> [-H "Name: value"]...`

export async function explainCommand(argv: string[], io: CliIO): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        policies: { type: 'string', default: 'policies' },
        name: { type: 'string', default: 'cachet' },
        format: { type: 'string', default: 'text' },
        header: { type: 'string', short: 'H', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    io.stderr.write(`cachet explain: ${(err as Error).message}\n${EXPLAIN_USAGE}\n`)
    return EXIT_USAGE
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(`${EXPLAIN_USAGE}\n`)
    return EXIT_OK
  }
  if (positionals.length !== 2 || (values.format !== 'text' && values.format !== 'json')) {
    io.stderr.write(
      `cachet explain: expected <METHOD> <url>${values.format !== 'text' && values.format !== 'json' ? ` and --format text|json, got ${values.format}` : ''}\n${EXPLAIN_USAGE}\n`,
    )
    return EXIT_USAGE
  }
  const headers: Record<string, string> = {}
  for (const h of values.header ?? []) {
    const i = h.indexOf(':')
    if (i <= 0) {
      io.stderr.write(`cachet explain: -H expects "Name: value", got ${JSON.stringify(h)}\n`)
      return EXIT_USAGE
    }
    const n = h.slice(0, i).trim().toLowerCase()
    headers[n] = headers[n] !== undefined ? `${headers[n]}, ${h.slice(i + 1).trim()}` : h.slice(i + 1).trim()
  }
  const loaded = await loadPolicies(resolve(io.cwd, values.policies!))
  if (!loaded.ok) {
    io.stderr.write(formatDiagnostics([...loaded.errors, ...loaded.warnings], 'text'))
    return EXIT_INVALID
  }
  const x = explain(compilePolicySet(loaded), values.name!, {
    method: positionals[0]!,
    url: positionals[1]!,
    headers,
  })
  if (values.format === 'json') {
    io.stdout.write(`${JSON.stringify(x, null, 2)}\n`)
    return EXIT_OK
  }
  const lines = [
    `${x.method} ${x.url}`,
    `rule:     ${x.rule === null ? '(none)' : `${x.rule}  (${x.ruleAt})`}`,
    `decision: ${x.decision}`,
  ]
  if (x.key) lines.push(`key:      ${x.key}`)
  if (x.keyParts) {
    const p = x.keyParts
    lines.push(
      `  scheme+host: ${p.scheme === null ? '(not keyed)' : `${p.scheme}://${p.host}`}`,
      `  path:        ${p.path}`,
      `  query:       ${p.query.length ? p.query.map(([k, v]) => `${k}=${v}`).join('&') : '(none)'}`,
    )
    for (const [h, v] of Object.entries(p.headers)) lines.push(`  header ${h}: ${v ?? '(absent)'}`)
    if (p.cookies)
      lines.push(`  cookies:     ${p.cookies.map(([k, v]) => `${k}=${v}`).join('; ') || '(none)'}`)
  }
  for (const r of x.reasons) lines.push(`- ${r}`)
  lines.push(`policies version ${x.policyVersion}`)
  io.stdout.write(`${lines.join('\n')}\n`)
  return EXIT_OK
}
