/**
 * The request side of every decision, shared by the middleware and `explain` so that `explain`
 * can never disagree with what a request would get. Pure: it reads the request, returns what to
 * do, and changes nothing.
 */

import { allGen, ruleGen, tagGen, urlGen } from '../generation/keys.js'
import { carriesBody } from '../http/headers.js'
import { entryKey, keyMaterial } from '../key/compose.js'
import { negotiate } from '../key/negotiate.js'
import { filterCookies, filterQuery, matchPath, type Pair } from '../key/sanitize.js'
import type { RuleCounters } from '../metrics/counters.js'
import { pathSegments } from '../policy/tag-template.js'
import { methodBit, type Rule } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'

/** What a decision reads from a request: a Koa ctx satisfies it, and so does explain's stand-in. */
export interface RequestLike {
  readonly method: string
  /** the request target as received (`ctx.url`) */
  readonly url: string
  /** `ctx.protocol` */
  readonly protocol: string
  /** `ctx.host`: host[:port], honouring X-Forwarded-Host when `app.proxy` is set */
  readonly host: string
  /** `ctx.path`, raw */
  readonly path: string
  readonly querystring: string
}

/** Incoming headers, lower-case names (`ctx.req.headers`). */
export type Headers = Readonly<Record<string, string | readonly string[] | undefined>>

export type Decision =
  /** no rule matched: nothing is read or written, no Cache-Status */
  | { readonly kind: 'pass' }
  /** a rule matched but the request must not be cached; `detail` says why */
  | { readonly kind: 'bypass'; readonly rule: Rule; readonly detail: string }
  /** an unsafe method (POST, PUT, PATCH, DELETE…) matched a rule: forwarded, never stored */
  | { readonly kind: 'unsafe'; readonly rule: Rule }
  | {
      readonly kind: 'lookup'
      readonly rule: Rule
      /** the rule's counters in the set this request runs under */
      readonly counters: RuleCounters
      readonly key: string
      readonly material: string
      /** the query string the application gets (unkeyed parameters removed) */
      readonly querystring: string
      /** the Cookie header the application gets: undefined unchanged, null removed */
      readonly cookie: string | null | undefined
      /** the request carries Authorization (possible only when the rule keys it) */
      readonly authorized: boolean
      readonly removedQuery: boolean
      /** generation keys the entry depends on, in the order its tokens are recorded:
       *  [namespace, rule, url, ...tags] (generation/keys.ts) */
      readonly gens: readonly string[]
      /** gens[2..]: the URL and tag generations, read with the entry itself (lookup.ts); the
       *  namespace and rule ones may be held per instance (generation/shared.ts) */
      readonly urlAndTagGens: readonly string[]
      /** the resolved tags (for explain) */
      readonly tags: readonly string[]
      /** `key.normalize`: request headers rewritten before keying and forwarding ([name, value],
       *  a null value removes the header); empty for most rules */
      readonly normalized: readonly (readonly [string, string | null])[]
    }

/** A decision to look the request up in the cache. */
export type LookupDecision = Extract<Decision, { kind: 'lookup' }>

const PASS: Decision = Object.freeze({ kind: 'pass' })
const NO_PAIRS: readonly Pair[] = Object.freeze([])
const NO_NORMALIZED: readonly (readonly [string, string | null])[] = Object.freeze([])
/** material → key and generations: the same request shape hashes once, then is a Map lookup */
const MEMO_MAX = 10_000

/** `Host` value → host name, as Koa's ctx.hostname reads it (IPv6 keeps its brackets), without re-parsing the header. */
export function hostnameOf(host: string): string {
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const end = host.indexOf(']')
    return end === -1 ? host : host.slice(0, end + 1)
  }
  const colon = host.indexOf(':')
  return colon === -1 ? host : host.slice(0, colon)
}

/** A header's value as Koa's ctx.get gives it: '' when absent. */
export function header(headers: Headers, name: string): string {
  const v = headers[name]
  return v === undefined ? '' : typeof v === 'string' ? v : v.join(', ')
}

/**
 * A request field as Koa's `ctx.get` reads it (Referer and Referrer one field, '' when absent):
 * the Vary match's view, the same in the middleware and in `cachet serve`'s hits below Koa.
 */
export function requestField(headers: Headers, name: string): string {
  const v = name === 'referer' || name === 'referrer' ? headers.referrer || headers.referer : headers[name]
  return (v || '') as string
}

/**
 * A decision remembered for a plain request (decide): the request target is the map's key, the
 * rest of what it was decided on is here. Requests for one target on other hosts, protocols or
 * methods chain on.
 */
interface Remembered {
  readonly bit: number
  readonly protocol: string
  readonly host: string
  readonly d: Decision
  readonly next: Remembered | undefined
}

interface Decisions {
  readonly byTarget: Map<string, Remembered>
  count: number
}

/** how many decisions a set remembers before it starts again (bounded: any URL can be asked for) */
const DECISIONS_MAX = 10_000
/**
 * the longest target (and key material) remembered: a head may be 16 KB, and 10,000 of those
 * would hold 160 MB; at this length the two memos hold ~50 MB at most
 */
const REMEMBER_MAX_LENGTH = 1024
/** per policy set: dropped with it on reload */
const sets = new WeakMap<PolicySet, Decisions>()

/**
 * hot path. A *plain* request (GET or HEAD with no body, no Authorization and no Cookie) is
 * decided by its method, protocol, Host and target alone when its rule keys no header and
 * normalises none (or it matches no rule, or bypasses by rule or path): such decisions are
 * remembered per policy set, so a request for a target asked before costs two Map reads and a
 * few string compares instead of the match, the query filter and the key. Everything else is
 * decided in full, every time.
 */
export function decide(set: PolicySet, name: string, req: RequestLike, headers: Headers): Decision {
  const bit = methodBit(req.method)
  if (bit === 0) return PASS
  if (bit > 2 || headers.cookie !== undefined || headers.authorization !== undefined || carriesBody(headers))
    return decideFully(set, name, req, headers, bit)
  let mem = sets.get(set)
  if (mem === undefined) sets.set(set, (mem = { byTarget: new Map(), count: 0 }))
  const url = req.url
  const host = req.host
  const protocol = req.protocol
  for (let r = mem.byTarget.get(url); r !== undefined; r = r.next)
    if (r.bit === bit && r.host === host && r.protocol === protocol) return r.d
  const d = decideFully(set, name, req, headers, bit)
  if (url.length > REMEMBER_MAX_LENGTH) return d
  if (
    d.kind === 'pass' ||
    (d.kind === 'bypass' && (d.detail === 'rule' || d.detail === 'path')) ||
    (d.kind === 'lookup' && d.rule.key.headers.length === 0 && d.rule.key.normalize.length === 0)
  ) {
    if (mem.count >= DECISIONS_MAX) {
      mem.byTarget.clear()
      mem.count = 0
    }
    mem.byTarget.set(url, { bit, protocol, host, d, next: mem.byTarget.get(url) })
    mem.count++
  }
  return d
}

/**
 * One matcher call, then the rule's request checks and the key.
 * Reads `headers` directly rather than through Koa's getters (each ctx.get/ctx.hostname call
 * re-derives its value: a third of the decision's cost when measured).
 */
function decideFully(
  set: PolicySet,
  name: string,
  req: RequestLike,
  headers: Headers,
  bit: number,
): Decision {
  const raw = req.path
  const path = matchPath(raw)
  const host = req.host
  const rule = set.matcher.match(bit, hostnameOf(host), path ?? raw)
  if (rule === undefined) return PASS
  if (bit > 2) return { kind: 'unsafe', rule }
  if (!rule.cache) return { kind: 'bypass', rule, detail: 'rule' }
  // An ambiguous path, or an absolute-form target (`GET http://other.example/x`): Koa's ctx.href
  // and ctx.URL then name a host the key never saw.
  if (path === null || req.url.charCodeAt(0) !== 0x2f) return { kind: 'bypass', rule, detail: 'path' }
  // a GET or HEAD with a body: an input the key cannot see (fat GET, T09)
  if (carriesBody(headers)) return { kind: 'bypass', rule, detail: 'body' }
  const authorized = headers.authorization !== undefined
  if (authorized && !rule.key.headers.includes('authorization'))
    return { kind: 'bypass', rule, detail: 'authorization' }
  const cookieHeader = header(headers, 'cookie')
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
  let normalized = NO_NORMALIZED
  let keyed = headers
  if (rule.key.normalize.length > 0) {
    const out: [string, string | null][] = []
    let rewritten: Record<string, string | readonly string[] | undefined> | undefined
    for (const { header: n, values } of rule.key.normalize) {
      const v = negotiate(n, headers[n] === undefined ? undefined : header(headers, n), values)
      out.push([n, v])
      // keyMaterial reads only the keyed headers: a copy only when one of them is rewritten
      if (rule.key.headers.includes(n)) (rewritten ??= { ...headers })[n] = v ?? undefined
    }
    normalized = out
    if (rewritten !== undefined) keyed = rewritten
  }
  const material = keyMaterial(rule, req.protocol, host, raw, keyed, q.kept, cookies)
  let m = set.memo.get(material)
  if (m === undefined) {
    // everything below is a function of the material (rule version, raw path, keyed query)
    const templates = set.tags[rule.index]!
    const gens = [allGen(name), ruleGen(name, rule.id), urlGen(name, path, q.kept)]
    let tags: string[] = NO_TAGS
    if (templates.length > 0) {
      const segments = pathSegments(path)
      tags = templates.map((t) => t(segments, q.kept))
      for (const t of tags) gens.push(tagGen(name, t))
    }
    m = { key: entryKey(name, rule, material), gens, urlAndTagGens: gens.slice(2), tags }
    if (material.length <= REMEMBER_MAX_LENGTH) {
      if (set.memo.size >= MEMO_MAX) set.memo.clear()
      set.memo.set(material, m)
    }
  }
  return {
    kind: 'lookup',
    rule,
    counters: set.counters[rule.index]!,
    key: m.key,
    material,
    querystring: q.querystring,
    cookie,
    authorized,
    removedQuery: q.querystring !== req.querystring,
    gens: m.gens,
    urlAndTagGens: m.urlAndTagGens,
    tags: m.tags,
    normalized,
  }
}

const NO_TAGS: string[] = []
