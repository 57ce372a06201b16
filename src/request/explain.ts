/**
 * `cache.explain()` and `cachet explain`: which rule, which key, and why a request would or would
 * not be cached, through the very same `decide()` the middleware runs, without running anything.
 */

import { filterCookies, filterQuery, matchPath } from '../key/sanitize.js'
import { methodBit } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'
import { decide, type Headers, header, hostnameOf, type RequestLike } from './decide.js'

export interface ExplainRequest {
  method?: string
  /** an absolute URL or a path with an optional query */
  url: string
  headers?: Record<string, string | readonly string[] | undefined>
}

export interface Explanation {
  readonly method: string
  readonly url: string
  /** matched rule id, or null when no rule matches (the request passes through untouched) */
  readonly rule: string | null
  /** where the rule is defined: file:line:col */
  readonly ruleAt: string | null
  /** pass: no rule; bypass: matched but never cached; method: an unsafe method, forwarded; lookup: read from / stored in the cache */
  readonly decision: 'pass' | 'bypass' | 'method' | 'lookup'
  /** which matcher index served the lookup (exact, segment, ext, residual) */
  readonly index: string
  /** the hashed key (lookup only) */
  readonly key: string | null
  /** the parts that were hashed (lookup only) */
  readonly keyParts: {
    readonly scheme: string | null
    readonly host: string | null
    readonly path: string
    readonly query: readonly (readonly [string, string])[]
    readonly headers: Readonly<Record<string, string | null>>
    readonly cookies: readonly (readonly [string, string])[] | null
  } | null
  /** what the application would not see */
  readonly removed: { readonly query: readonly string[]; readonly cookies: readonly string[] }
  /** human sentences: why */
  readonly reasons: readonly string[]
  readonly policyVersion: string
}

const DETAIL: Record<string, string> = {
  rule: 'the rule says cache: false',
  path: 'the path is ambiguous (encoded delimiter, dot or empty segment, ";" or "\\"): never cached',
  body: 'a GET or HEAD with a body is never cached (the key cannot see the body)',
  authorization: 'the request carries Authorization and the rule does not key it',
  cookie: 'the request carries Cookie and the rule does not mention cookies',
}

export function explain(set: PolicySet, name: string, input: ExplainRequest): Explanation {
  const { req, headers } = toRequest(input)
  const get = (n: string) => header(headers, n)
  const d = decide(set, name, req, headers)
  const rule = d.kind === 'pass' ? undefined : d.rule
  const m = set.matcher.explain(methodBit(req.method), hostnameOf(req.host), matchPath(req.path) ?? req.path)
  const reasons: string[] = []
  let removedQuery: string[] = []
  let removedCookies: string[] = []
  let keyParts: Explanation['keyParts'] = null
  switch (d.kind) {
    case 'pass':
      reasons.push('no rule matches: passed through untouched, nothing read or stored, no Cache-Status')
      break
    case 'unsafe':
      reasons.push(`${req.method} is never served from the cache; a 2xx/3xx answer invalidates the URL`)
      break
    case 'bypass':
      reasons.push(DETAIL[d.detail] ?? d.detail)
      break
    case 'lookup': {
      const r = d.rule
      const q = filterQuery(r.key.query, req.querystring)
      const all = [...new URLSearchParams(req.querystring).keys()]
      removedQuery = all.filter((n) => !q.kept.some(([k]) => k === n))
      const cookieHeader: string = get('cookie')
      const c =
        r.key.cookies !== null && cookieHeader !== '' ? filterCookies(r.key.cookies, cookieHeader) : null
      if (cookieHeader !== '' && c !== null) {
        removedCookies = cookieHeader
          .split(';')
          .map((p) => p.split('=')[0]!.trim())
          .filter((n) => n !== '' && !c.kept.some(([k]) => k === n))
      }
      const headers: Record<string, string | null> = {}
      for (const h of r.key.headers) headers[h] = get(h) === '' ? null : get(h).trim()
      keyParts = {
        scheme: r.key.host ? req.protocol : null,
        host: r.key.host ? req.host : null,
        path: req.path,
        query: q.kept,
        headers,
        cookies: r.key.cookies === null || r.key.cookies.length === 0 ? null : (c?.kept ?? []),
      }
      reasons.push(
        `looked up in the cache; on a miss the response is stored for ${r.ttl >= 0 ? `${r.ttl / 1000}s` : 'the status TTL'} when storable` +
          (r.origin === 'respect'
            ? ' (or for the lifetime the response states: origin: respect)'
            : ' (origin: override)'),
      )
      if (removedQuery.length)
        reasons.push(
          `unkeyed query parameters removed before the application sees them: ${removedQuery.join(', ')}`,
        )
      if (removedCookies.length) reasons.push(`unkeyed cookies removed: ${removedCookies.join(', ')}`)
      if (d.cookie === null && cookieHeader !== '') reasons.push('the Cookie header is removed (cookies: [])')
      if (req.method === 'HEAD') reasons.push('HEAD is answered from the GET entry and never creates one')
      reasons.push(
        'never stored: Set-Cookie, no-store, private, Vary: *, an unlisted status, a body over maxBodySize or one that fails midway',
      )
      break
    }
  }
  return {
    method: req.method,
    url: input.url,
    rule: rule?.id ?? null,
    ruleAt: rule ? `${rule.pos.file}:${rule.pos.line}:${rule.pos.col}` : null,
    // 'method' in explain's output, as in Cache-Status' fwd=method (RFC 9211 §2.2)
    decision: d.kind === 'unsafe' ? 'method' : d.kind,
    index: m.bucket,
    key: d.kind === 'lookup' ? d.key : null,
    keyParts,
    removed: { query: removedQuery, cookies: removedCookies },
    reasons,
    policyVersion: set.version,
  }
}

/** A stand-in for Koa's ctx, parsed the way Koa parses (no WHATWG normalisation of the path). */
function toRequest(input: ExplainRequest): { req: RequestLike; headers: Headers } {
  const headers = new Map<string, string>()
  for (const [k, v] of Object.entries(input.headers ?? {})) {
    if (v !== undefined) headers.set(k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v))
  }
  let url = input.url
  let protocol = 'http'
  const abs = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url)
  if (abs) {
    protocol = abs[1]!.toLowerCase()
    if (!headers.has('host')) headers.set('host', abs[2]!)
    url = abs[3] || '/'
  }
  const hash = url.indexOf('#')
  if (hash !== -1) url = url.slice(0, hash)
  const qi = url.indexOf('?')
  return {
    req: {
      method: (input.method ?? 'GET').toUpperCase(),
      protocol,
      host: headers.get('host') ?? '',
      url,
      path: qi === -1 ? url : url.slice(0, qi),
      querystring: qi === -1 ? '' : url.slice(qi + 1),
    },
    headers: Object.fromEntries(headers),
  }
}
