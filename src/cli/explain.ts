/**
 * `cachet explain [--policies dir] [--format text|json] <METHOD> <url> [-H "Name: value"]...
 *   [--status N] [-R "Name: value"]...`: with a response, whether it would be stored and for how long.
 */

import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { formatDiagnostics } from '../policy/diagnostic.js'
import { loadPolicies } from '../policy/load.js'
import { compilePolicySet } from '../policy-set.js'
import { explain } from '../request/explain.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from './io.js'

export const EXPLAIN_USAGE = `usage: cachet explain [--policies dir] [--name cachet] [--format text|json] <METHOD> <url> [-H "Name: value"]...
                      [--status 200] [-R "Name: value"]...   (a response: would it be stored, and for how long)`

export async function explainCommand(argv: string[], io: CliIO): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        policies: { type: 'string', default: 'policies' },
        name: { type: 'string', default: 'cachet' },
        format: { type: 'string', short: 'f', default: 'text' },
        header: { type: 'string', short: 'H', multiple: true },
        status: { type: 'string' },
        'response-header': { type: 'string', short: 'R', multiple: true },
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
  const headers = fields(values.header ?? [], '-H', io)
  const resHeaders = fields(values['response-header'] ?? [], '-R', io)
  if (headers === undefined || resHeaders === undefined) return EXIT_USAGE
  const status = values.status === undefined ? undefined : Number(values.status)
  if (status !== undefined && !(Number.isInteger(status) && status >= 100 && status <= 999)) {
    io.stderr.write(`cachet explain: --status expects a status code from 100 to 999, got ${values.status}\n`)
    return EXIT_USAGE
  }
  const response =
    status === undefined && values['response-header'] === undefined
      ? undefined
      : { status: status ?? 200, headers: resHeaders }
  const loaded = await loadPolicies(resolve(io.cwd, values.policies!))
  if (!loaded.ok) {
    io.stderr.write(formatDiagnostics([...loaded.errors, ...loaded.warnings], 'text'))
    return EXIT_INVALID
  }
  const x = explain(compilePolicySet(loaded), values.name!, {
    method: positionals[0]!,
    url: positionals[1]!,
    headers,
    ...(response === undefined ? {} : { response }),
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
  if (x.tags.length > 0) lines.push(`tags:     ${x.tags.join(', ')}`)
  const st = x.storage
  if (st !== null)
    lines.push(
      `stored:   ${st.stored ? `yes, fresh ${st.ttl}s, kept ${st.keep}s` : `no (${st.reason})`}  (a ${st.status} response)`,
    )
  for (const r of x.reasons) lines.push(`- ${r}`)
  lines.push(`policies version ${x.policyVersion}`)
  io.stdout.write(`${lines.join('\n')}\n`)
  return EXIT_OK
}

/** `-H` / `-R` values ("Name: value") → fields, a repeated name joined with ", "; undefined after a usage error. */
function fields(list: readonly string[], flag: string, io: CliIO): Record<string, string> | undefined {
  const out: Record<string, string> = {}
  for (const h of list) {
    const i = h.indexOf(':')
    if (i <= 0) {
      io.stderr.write(`cachet explain: ${flag} expects "Name: value", got ${JSON.stringify(h)}\n`)
      return undefined
    }
    const n = h.slice(0, i).trim().toLowerCase()
    out[n] = out[n] !== undefined ? `${out[n]}, ${h.slice(i + 1).trim()}` : h.slice(i + 1).trim()
  }
  return out
}
