/**
 * `cache.explain()` and `cachet explain`: which rule, which key, and why a request would or would
 * not be cached, through the very same `decide()` the middleware runs, without running anything.
 */

import { guardedTypes, typeListed } from '../http/deception.js'
import type { ResponseView } from '../http/freshness.js'
import { connectionDropped } from '../http/headers.js'
import { filterCookies, filterQuery, matchPath } from '../key/sanitize.js'
import { methodBit } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'
import { type Decision, decide, type Headers, header, hostnameOf, type RequestLike } from './decide.js'
import { overBodySize, storedLifetime, storeVerdict } from './storable.js'

export interface ExplainRequest {
  method?: string
  /** an absolute URL or a path with an optional query */
  url: string
  headers?: Record<string, string | readonly string[] | undefined>
  /** a response the application could give: the explanation then says whether it would be
   *  stored, and for how long (`storage`), by the very code the miss path runs */
  response?: ExplainResponse
  /** the clock for the response's lifetime (an `Expires` without `Date`), ms since the epoch. @default Date.now() */
  now?: number
}

export interface ExplainResponse {
  /** @default 200 */
  status?: number
  /** response header fields; names are case-insensitive */
  headers?: Record<string, string | readonly string[] | number | undefined>
}

/** Whether a response would be stored: `Explanation.storage`. */
export interface StorageExplanation {
  readonly status: number
  readonly stored: boolean
  /**
   * why not (null when stored): `pass`, `bypass` or `method` (the request is not looked up),
   * `head` (HEAD never creates an entry), `status`, `set-cookie`, `no-store`, `private`,
   * `no-cache` (without a validator), `vary-star`, `authorization`, `expired`, `no-lifetime`,
   * `content-type` (the deception guard, or the rule's contentTypes) or `too-large` (`Content-Length` over maxBodySize)
   */
  readonly reason: string | null
  /** seconds of freshness once stored (no entry is fresh longer than 30 days); null when not stored */
  readonly ttl: number | null
  /** seconds the store keeps it: past freshness for the stale windows and for revalidation */
  readonly keep: number | null
  /** seconds after expiry it may be served while one refresh runs */
  readonly staleWhileRevalidate: number | null
  /** seconds after expiry it may be served when the origin fails */
  readonly staleIfError: number | null
  /** seconds after expiry it may be served when the origin cannot be reached */
  readonly staleIfUnreachable: number | null
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
  /** why a bypass, as Cache-Status `detail=` says it: rule, path, body, authorization or cookie; null otherwise */
  readonly detail: string | null
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
  /**
   * What a response's Content-Type must be for it to be stored (lookup only; null otherwise): the
   * deception guard's types when the path ends in a static-looking extension, and the rule's own
   * `contentTypes`. A response outside both is not stored (`Cache-Status: …; detail=content-type`).
   */
  readonly contentTypes: {
    /** the path's static-looking extension (`css`), or null when the guard does not apply */
    readonly extension: string | null
    /** the types the guard stores that extension as, or null */
    readonly guard: readonly string[] | null
    /** the rule's contentTypes, or null when it has none */
    readonly rule: readonly string[] | null
  } | null
  /** what the application would not see: query parameter and cookie names, and request header
   *  fields (`cookie` when no cookie is kept; fields the Connection header names) */
  readonly removed: {
    readonly query: readonly string[]
    readonly cookies: readonly string[]
    readonly headers: readonly string[]
  }
  /** the tags a stored entry would carry (lookup only; the response's own Surrogate-Key and
   *  Cache-Tag, with tagsFromResponse, come on top) */
  readonly tags: readonly string[]
  /** whether `response` would be stored, and for how long; null when no response was given */
  readonly storage: StorageExplanation | null
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

/** What a not-stored reason means, for `reasons`. */
const NOT_STORED: Record<string, string> = {
  pass: 'no rule matches, so nothing is stored',
  bypass: 'the request bypasses the cache, so nothing is stored',
  method: 'only GET responses are stored',
  head: 'HEAD is answered from the GET entry and never creates one',
  status: 'the rule does not list this status (a 206 is never stored)',
  'set-cookie': 'it has Set-Cookie',
  'no-store': 'it has Cache-Control: no-store',
  private: 'it has Cache-Control: private',
  'no-cache': 'it has Cache-Control: no-cache and no validator (ETag, Last-Modified) to revalidate it with',
  'vary-star': 'it has Vary: *',
  authorization:
    'the request carries Authorization and the response says neither public, s-maxage nor must-revalidate',
  expired: 'it is already expired and no stale window applies',
  'no-lifetime': 'it states no lifetime and the rule gives none (ttl: 0)',
  'content-type':
    "the Content-Type is not one the path's extension is served as (deception guard), or not one of the rule's contentTypes",
  'too-large': "its Content-Length is over the rule's maxBodySize",
}

const seconds = (ms: number) => ms / 1000

export function explain(set: PolicySet, name: string, input: ExplainRequest): Explanation {
  const { req, headers, dropped } = toRequest(input)
  const get = (n: string) => header(headers, n)
  const d = decide(set, name, req, headers)
  const removedHeaders = [...dropped]
  const rule = d.kind === 'pass' ? undefined : d.rule
  const m = set.matcher.explain(methodBit(req.method), hostnameOf(req.host), matchPath(req.path) ?? req.path)
  const reasons: string[] = []
  let removedQuery: string[] = []
  let removedCookies: string[] = []
  let keyParts: Explanation['keyParts'] = null
  let contentTypes: Explanation['contentTypes'] = null
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
      for (const [n, v] of d.normalized) {
        const was = get(n) === '' ? 'absent' : JSON.stringify(get(n))
        reasons.push(
          `key.normalize rewrites ${n}: ${was} → ${v === null ? 'removed (identity)' : JSON.stringify(v)}, before keying and before the application sees it`,
        )
      }
      const q = filterQuery(r.key.query, req.querystring)
      const all = [...new Set(new URLSearchParams(req.querystring).keys())]
      removedQuery = all.filter((n) => !q.kept.some(([k]) => k === n))
      const cookieHeader: string = get('cookie')
      const c =
        r.key.cookies !== null && cookieHeader !== '' ? filterCookies(r.key.cookies, cookieHeader) : null
      if (cookieHeader !== '' && c !== null) {
        removedCookies = [
          ...new Set(
            cookieHeader
              .split(';')
              .map((p) => p.split('=')[0]!.trim())
              .filter((n) => n !== '' && !c.kept.some(([k]) => k === n)),
          ),
        ]
      }
      const headers: Record<string, string | null> = {}
      for (const h of r.key.headers) {
        const norm = d.normalized.find(([n]) => n === h)
        const v = norm === undefined ? get(h) : (norm[1] ?? '')
        headers[h] = v === '' ? null : v.trim()
      }
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
      if (d.cookie === null && cookieHeader !== '') {
        removedHeaders.push('cookie')
        reasons.push(
          r.key.cookies?.length === 0
            ? 'the Cookie header is removed (cookies: [])'
            : 'the Cookie header is removed (none of its cookies is keyed)',
        )
      }
      if (req.method === 'HEAD') reasons.push('HEAD is answered from the GET entry and never creates one')
      reasons.push(
        'never stored: Set-Cookie, no-store, private, Vary: *, an unlisted status, a body over maxBodySize or one that fails midway',
      )
      const guard = guardedTypes(req.path)
      contentTypes = {
        extension: guard?.extension ?? null,
        guard: guard?.types ?? null,
        rule: r.contentTypes,
      }
      const why = typesReason(guard, r.contentTypes)
      if (why !== undefined) reasons.push(why)
      break
    }
  }
  if (dropped.length > 0)
    reasons.push(`fields the Connection header names are removed before keying: ${dropped.join(', ')}`)
  const storage = input.response === undefined ? null : storageOf(d, req, input.response, input.now)
  if (storage !== null) {
    reasons.push(
      storage.stored
        ? `a ${storage.status} response with these headers is stored, fresh for ${storage.ttl}s and kept ${storage.keep}s`
        : `a ${storage.status} response with these headers is not stored: ${NOT_STORED[storage.reason!] ?? storage.reason}`,
    )
  }
  return {
    method: req.method,
    url: input.url,
    rule: rule?.id ?? null,
    ruleAt: rule ? `${rule.pos.file}:${rule.pos.line}:${rule.pos.col}` : null,
    // 'method' in explain's output, as in Cache-Status' fwd=method (RFC 9211 §2.2)
    decision: d.kind === 'unsafe' ? 'method' : d.kind,
    detail: d.kind === 'bypass' ? d.detail : null,
    index: m.bucket,
    key: d.kind === 'lookup' ? d.key : null,
    keyParts,
    contentTypes,
    removed: { query: removedQuery, cookies: removedCookies, headers: removedHeaders },
    tags: d.kind === 'lookup' ? d.tags : [],
    storage,
    reasons,
    policyVersion: set.version,
  }
}

/** The Content-Type a response needs to be stored, in words (undefined: any will do). */
function typesReason(
  guard: ReturnType<typeof guardedTypes>,
  list: readonly string[] | null,
): string | undefined {
  const refused = 'any other Content-Type, or none, is not stored (detail=content-type)'
  if (guard === undefined) {
    if (list === null) return undefined
    return `contentTypes: stored only as ${list.join(', ')}; ${refused}`
  }
  const ext = `the path ends in ".${guard.extension}"`
  if (list === null)
    return `deception guard: ${ext}, so a response is stored only as ${guard.types.join(', ')}; ${refused}`
  const both = guard.types.filter((t) => typeListed(list, t))
  if (both.length === 0)
    return `nothing can be stored for this path: the deception guard stores ".${guard.extension}" paths only as ${guard.types.join(', ')}, and contentTypes allows only ${list.join(', ')}`
  return `deception guard and contentTypes: ${ext}, so a response is stored only as ${both.join(', ')}; ${refused}`
}

/**
 * Would this response be stored: the miss path's decision (storable.ts, as capture.ts runs it),
 * after the dispatch that leads there (only a GET that is looked up reaches it: miss.ts).
 */
function storageOf(
  d: Decision,
  req: RequestLike,
  response: ExplainResponse,
  now = Date.now(),
): StorageExplanation {
  const status = response.status ?? 200
  const no = (reason: string): StorageExplanation => ({
    status,
    stored: false,
    reason,
    ttl: null,
    keep: null,
    staleWhileRevalidate: null,
    staleIfError: null,
    staleIfUnreachable: null,
  })
  if (d.kind !== 'lookup') return no(d.kind === 'unsafe' ? 'method' : d.kind)
  if (req.method === 'HEAD') return no('head')
  const fields = new Map<string, string | readonly string[] | number>()
  for (const [k, v] of Object.entries(response.headers ?? {}))
    if (v !== undefined) fields.set(k.toLowerCase(), v)
  const view: ResponseView = { status, header: (n) => fields.get(n.toLowerCase()) }
  const v = storeVerdict(d.rule, req.path, view, d.authorized, now)
  if (v.reason !== undefined) return no(v.reason)
  // a body is never buffered past maxBodySize: a stream announcing more is passed through (capture.ts)
  const length = view.header('content-length')
  if (length !== undefined && overBodySize(d.rule, Number(length))) return no('too-large')
  const life = storedLifetime(v, view)
  return {
    status,
    stored: true,
    reason: null,
    ttl: seconds(life.fresh),
    keep: seconds(life.keep),
    staleWhileRevalidate: seconds(v.swr),
    staleIfError: seconds(v.sie),
    staleIfUnreachable: seconds(v.siu),
  }
}

/**
 * A stand-in for Koa's ctx, parsed the way Koa parses (no WHATWG normalisation of the path), with
 * the fields Connection names dropped as the middleware drops them before deciding.
 */
function toRequest(input: ExplainRequest): { req: RequestLike; headers: Headers; dropped: string[] } {
  const headers = new Map<string, string>()
  for (const [k, v] of Object.entries(input.headers ?? {})) {
    if (v !== undefined) headers.set(k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v))
  }
  const dropped: string[] = []
  const conn = headers.get('connection')
  if (conn !== undefined) {
    for (const n of connectionDropped(conn)) if (headers.delete(n)) dropped.push(n)
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
    dropped,
  }
}
