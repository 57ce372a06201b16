/**
 * The request side of every decision, shared by the middleware and `explain` so that `explain`
 * can never disagree with what a request would get. Pure: it reads the request, returns what to
 * do, and changes nothing.
 */
import { methodBit, type Rule } from './policy/types.js'
import type { PolicySet } from './policy-set.js'
import { filterCookies, filterQuery, matchPath, type Pair } from './key/sanitize.js'
import { entryKey, keyMaterial, type KeyRequest } from './key/compose.js'
import { allGen, pathSegments, ruleGen, tagGen, urlGen } from './tags.js'

/** What a decision reads from a request: a Koa ctx satisfies it, and so does explain's stand-in. */
export interface RequestLike extends KeyRequest {
  readonly method: string
  /** the request target as received (`ctx.url`) */
  readonly url: string
  readonly hostname: string
  readonly querystring: string
}

export type Decision =
  /** no rule matched: nothing is read or written, no Cache-Status */
  | { readonly kind: 'pass' }
  /** a rule matched but the request must not be cached; `detail` says why */
  | { readonly kind: 'bypass'; readonly rule: Rule; readonly detail: string }
  /** an unsafe method matched a rule: forwarded, never stored */
  | { readonly kind: 'method'; readonly rule: Rule }
  | {
      readonly kind: 'lookup'
      readonly rule: Rule
      readonly key: string
      readonly material: string
      /** the query string the application gets (unkeyed parameters removed) */
      readonly querystring: string
      /** the Cookie header the application gets: undefined unchanged, null removed */
      readonly cookie: string | null | undefined
      /** the request carries Authorization (possible only when the rule keys it) */
      readonly authorized: boolean
      readonly removedQuery: boolean
      /** generation keys the entry depends on: [all, rule, url, ...tags]; see tags.ts */
      readonly gens: readonly string[]
      /** the resolved tags (for explain) */
      readonly tags: readonly string[]
    }

const PASS: Decision = Object.freeze({ kind: 'pass' })
const NO_PAIRS: readonly Pair[] = Object.freeze([])

/** hot path: one matcher call, then the rule's request checks and the key. */
export function decide(set: PolicySet, name: string, req: RequestLike): Decision {
  const bit = methodBit(req.method)
  if (bit === 0) return PASS
  const raw = req.path
  const path = matchPath(raw)
  const rule = set.matcher.match(bit, req.hostname, path ?? raw)
  if (rule === undefined) return PASS
  if (bit > 2) return { kind: 'method', rule }
  if (!rule.cache) return { kind: 'bypass', rule, detail: 'rule' }
  // An ambiguous path, or an absolute-form target (`GET http://other.example/x`): Koa's ctx.href
  // and ctx.URL then name a host the key never saw.
  if (path === null || req.url.charCodeAt(0) !== 0x2f) return { kind: 'bypass', rule, detail: 'path' }
  // a GET or HEAD with a body: an input the key cannot see (fat GET, T09)
  const cl = req.get('content-length')
  if ((cl !== '' && cl !== '0') || req.get('transfer-encoding') !== '') return { kind: 'bypass', rule, detail: 'body' }
  const authorized = req.get('authorization') !== ''
  if (authorized && !rule.key.headers.includes('authorization')) return { kind: 'bypass', rule, detail: 'authorization' }
  const cookieHeader = req.get('cookie')
  let cookie: string | null | undefined
  let cookies = NO_PAIRS
  if (cookieHeader !== '') {
    const names = rule.key.cookies
    if (names === null) return { kind: 'bypass', rule, detail: 'cookie' }
    const f = filterCookies(names, cookieHeader)
    cookie = f.header === cookieHeader ? undefined : f.header
    cookies = f.kept
  }
  const q = filterQuery(rule.key.query, req.querystring)
  const material = keyMaterial(rule, req, q.kept, cookies)
  const templates = set.tags[rule.index]!
  const gens = [allGen(name), ruleGen(name, rule.id), urlGen(name, raw, q.kept)]
  let tags: string[] = NO_TAGS
  if (templates.length > 0) {
    const segments = pathSegments(path)
    tags = templates.map((t) => t(segments, q.kept))
    for (const t of tags) gens.push(tagGen(name, t))
  }
  return {
    kind: 'lookup',
    rule,
    key: entryKey(name, rule, material),
    material,
    querystring: q.querystring,
    cookie,
    authorized,
    removedQuery: q.querystring !== req.querystring,
    gens,
    tags,
  }
}

const NO_TAGS: string[] = []

/**
 * The GET rule and URL generation key of a URL, whatever the request carrying it (an unsafe
 * request, a purge, a Location header): the generation every stored variant of it depends on.
 */
export function locate(set: PolicySet, name: string, hostname: string, rawPath: string, querystring: string): { rule: Rule; urlGen: string } | undefined {
  const path = matchPath(rawPath)
  const rule = set.matcher.match(1, hostname, path ?? rawPath)
  if (rule === undefined || !rule.cache) return undefined
  return { rule, urlGen: urlGen(name, rawPath, filterQuery(rule.key.query, querystring).kept) }
}
