/**
 * Can this response be stored, and for how long? RFC 9111 §3 (storing) and §4.2 (freshness),
 * read with a shared cache's eyes, plus cachet's stricter defaults where the RFC allows caching
 * that experience says is unwise (each marked "deviation").
 */
import type { Rule } from '../policy/types.js'
import { parseHttpDate } from './date.js'
import { headerString } from './headers.js'
import { parseDictionary } from './structured.js'

export type Directives = ReadonlyMap<string, string>

const EMPTY: Directives = new Map()
/** a directive whose duplicate values disagree (RFC 9111 §4.2.1: "consider the response stale") */
const CONFLICT = '\u0000conflict'

/**
 * Cache-Control → directive map. Names are case-insensitive (RFC 9111 §5.2); values may be
 * quoted; several header lines and duplicates are combined; garbage between commas is skipped.
 */
export function parseCacheControl(value: string | readonly string[] | number | undefined): Directives {
  if (value === undefined) return EMPTY
  const text = Array.isArray(value) ? value.join(',') : String(value)
  if (text === '') return EMPTY
  const out = new Map<string, string>()
  for (const raw of splitList(text)) {
    const eq = raw.indexOf('=')
    const name = (eq === -1 ? raw : raw.slice(0, eq)).trim().toLowerCase()
    if (name === '' || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) continue
    let v = eq === -1 ? '' : raw.slice(eq + 1).trim()
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1')
    const prev = out.get(name)
    out.set(name, prev === undefined || prev === v ? v : CONFLICT)
  }
  return out
}

/** Splits on commas outside quoted strings. */
function splitList(text: string): string[] {
  const out: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) quoted = !quoted
    else if (c === 0x5c && quoted) i++
    else if (c === 0x2c && !quoted) {
      out.push(text.slice(start, i))
      start = i + 1
    }
  }
  out.push(text.slice(start))
  return out
}

/**
 * The directives that govern a response for cachet (RFC 9213 §2.1): the first of the rule's
 * `targeted` fields (in its order of preference) that is present and a valid Structured Field
 * Dictionary, else `Cache-Control`. A targeted field that does not parse is ignored as a whole;
 * when one governs, `Cache-Control` and `Expires` are not read at all. `targeted` names the field
 * that governed, undefined for Cache-Control.
 */
export function responseDirectives(
  fields: readonly string[],
  header: (name: string) => string | readonly string[] | number | undefined,
): { readonly cc: Directives; readonly targeted: string | undefined } {
  for (const f of fields) {
    const v = header(f)
    if (v === undefined) continue
    const d = parseDictionary(Array.isArray(v) ? v.join(', ') : String(v))
    if (d !== undefined) return { cc: d, targeted: f }
  }
  return { cc: parseCacheControl(header('cache-control')), targeted: undefined }
}

/** delta-seconds (RFC 9111 §1.2.2): digits only; anything else is invalid (undefined). */
function deltaSeconds(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  const n = Number(v)
  return Math.min(n, 2147483648)
}

export interface Verdict {
  /** freshness lifetime left at `now`, ms (0: stored only to be revalidated or served stale); meaningful when `reason` is undefined */
  readonly ttl: number
  /** seconds of age the response already had (origin `Age`), RFC 9111 §4.2.3 */
  readonly initialAge: number
  /** ms after expiry it may be served while one refresh runs (RFC 5861 §3) */
  readonly swr: number
  /** ms after expiry it may be served when the origin fails (RFC 5861 §4) */
  readonly sie: number
  /** ms after expiry it may be served when the origin cannot be reached at all (RFC 9111 §4.2.4) */
  readonly siu: number
  /** why not stored: 'status' | 'set-cookie' | 'no-store' | 'private' | 'no-cache' | 'vary-star' | 'authorization' | 'expired' | 'no-lifetime' */
  readonly reason: string | undefined
}

export interface ResponseView {
  readonly status: number
  header(name: string): string | readonly string[] | number | undefined
}

/**
 * The storage decision for a response to a GET the rule matched.
 * `authorized`: the request carried Authorization (only possible when the rule keys it).
 */
export function verdict(rule: Rule, res: ResponseView, authorized: boolean, now: number): Verdict {
  const listed = rule.statuses.get(res.status)
  // A 206 is never stored, even when a rule lists it (README "HTTP semantics", T27): cachet keeps
  // one full response per key and does not combine ranges (RFC 9111 §3.4), so a stored 206 would
  // replay one client's `Range: bytes=0-0` to every plain GET (issue 12, "what held" suite).
  if (res.status === 206) return no('status')
  // RFC 9111 §3: any final status may be stored when the response says how long (otherStatuses:
  // explicit); a 304 is an answer about an entry, never one itself (§4.3.4)
  const other = listed === undefined
  if (other && !(rule.otherStatuses && otherStorable(res.status))) return no('status')
  const statusTtl = listed ?? 0
  // deviation: RFC 9111 §7 says Set-Cookie "does not inhibit caching"; replaying it hands one
  // user's session to everyone (rack-cache #52, souin #806), so a response with it is never stored.
  if (res.header('set-cookie') !== undefined) return no('set-cookie')
  const { cc, targeted } = responseDirectives(rule.targeted, (n) => res.header(n))
  // §3: "the no-store cache directive does not appear in the response"
  if (cc.has('no-store')) return no('no-store')
  // §3: "the private response directive does not appear in the response, if the cache is shared"
  if (cc.has('private')) return no('private')
  // §4.1: "A stored response with a Vary header field value containing a member "*" always fails to match"
  const vary = res.header('vary')
  if (
    vary !== undefined &&
    String(vary)
      .split(',')
      .some((s) => s.trim() === '*')
  )
    return no('vary-star')
  // §3.5: a shared cache must not use a response to a request with Authorization unless the
  // response says it may. Stricter than the policy: even a keyed Authorization needs it.
  if (authorized && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate'))
    return no('authorization')

  // §4.2.4: must-revalidate, proxy-revalidate (and s-maxage, which implies it for shared caches,
  // §5.2.2.10) forbid serving stale; no-cache forbids serving without revalidation at all.
  const noStale =
    cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage') || cc.has('no-cache')
  const age = deltaSeconds(headerString(res.header('age'))) ?? 0
  const fallback = statusTtl >= 0 ? statusTtl : rule.ttl
  if (rule.origin === 'override') {
    if (fallback <= 0) return no('no-lifetime')
    return {
      ttl: fallback,
      initialAge: 0,
      swr: noStale ? 0 : rule.staleWhileRevalidate,
      sie: noStale ? 0 : rule.staleIfError,
      siu: noStale ? 0 : rule.staleIfUnreachable,
      reason: undefined,
    }
  }

  // origin: respect. RFC 5861: the response's own stale-* directives, else the rule's windows.
  const swr = noStale
    ? 0
    : cc.has('stale-while-revalidate')
      ? (deltaSeconds(cc.get('stale-while-revalidate')) ?? 0) * 1000
      : rule.staleWhileRevalidate
  const sie = noStale
    ? 0
    : cc.has('stale-if-error')
      ? (deltaSeconds(cc.get('stale-if-error')) ?? 0) * 1000
      : rule.staleIfError
  // §4.2.4 lets a disconnected cache serve stale: the rule's window for it, whatever the
  // response's own stale-* directives say (it is not RFC 5861's), forbidden by the same ones
  const siu = noStale ? 0 : rule.staleIfUnreachable
  if (cc.has('no-cache')) {
    // §5.2.2.4: may be stored, never used without revalidation: worth keeping only with a validator
    if (res.header('etag') === undefined && res.header('last-modified') === undefined) return no('no-cache')
    return { ttl: 0, initialAge: age, swr: 0, sie: 0, siu: 0, reason: undefined }
  }
  const stated = statedLifetime(cc, res, now, targeted === undefined)
  let left: number
  if (stated === undefined) {
    // §4.2.2: heuristic freshness when the rule asks for it and Last-Modified allows it; else the
    // rule's ttl (ttl: 0 means "only what the origin states"). An unlisted status has no ttl: it
    // is stored only for what its response states, or a heuristic lifetime (§3 allows both).
    const h = rule.heuristic > 0 ? heuristicLifetime(rule, res, cc, now) : undefined
    if (h !== undefined) left = h - age * 1000
    else if (other) return no('status')
    else if (fallback <= 0) return no('no-lifetime')
    else left = fallback - age * 1000
  } else left = stated - age * 1000
  // An expired response is kept only when a stale window lets it be used (RFC 5861)
  // (not staleIfUnreachable's: a response expired on arrival is not stored, spec "Freshness")
  if (left <= 0 && swr <= 0 && sie <= 0) return no('expired')
  return { ttl: Math.max(0, left), initialAge: age, swr, sie, siu, reason: undefined }
}

/** No entry outlives this, whatever lifetime a response states (README "Freshness"). */
export const MAX_ENTRY_TTL = 30 * 24 * 3600_000
/** With a validator, an entry is kept past expiry at least this long, to be revalidated by a 304. */
const MIN_REVALIDATION_KEEP_MS = 60_000

export interface Lifetime {
  /** ms of freshness from now: the entry's `expires` is now + fresh */
  readonly fresh: number
  /** ms the store keeps it (its TTL): past expiry for the stale windows, and with a validator long
   *  enough to be revalidated (as long again as it was fresh, at least a minute) */
  readonly keep: number
}

/**
 * The one lifetime rule, for a new response (capture) and for one freshened by a 304 (revalidate):
 * both freshness and store lifetime are capped at MAX_ENTRY_TTL, whatever the response states.
 */
export function lifetime(v: Verdict, hasValidator: boolean): Lifetime {
  const fresh = Math.min(v.ttl, MAX_ENTRY_TTL)
  const after = Math.max(v.swr, v.sie, v.siu, hasValidator ? Math.max(fresh, MIN_REVALIDATION_KEEP_MS) : 0)
  return { fresh, keep: Math.min(MAX_ENTRY_TTL, fresh + after) }
}

/**
 * The unlisted statuses `otherStatuses: explicit` may store: final (200-599, RFC 9110 §15: values
 * beyond are not HTTP), not 206 or 304, and no 4xx but the heuristically cacheable 404, 405, 410
 * and 414. Any other 4xx answers something in the request the key does not see (a header too
 * large or malformed: 400, 431; a precondition or a range: 412, 416; Accept: 406...), so storing
 * it, even when the origin's blanket Cache-Control says max-age, is cache-poisoned denial of
 * service (docs/threats.md T18, T19): those are stored only when a rule lists them.
 */
function otherStorable(status: number): boolean {
  if (status < 200 || status > 599 || status === 206 || status === 304) return false
  return status < 400 || status >= 500 || status === 404 || status === 405 || status === 410 || status === 414
}

/** RFC 9110 §15.1: the statuses that are heuristically cacheable (206 is, but cachet never stores one). */
const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501,
])

/**
 * RFC 9111 §4.2.2: the rule's share of the time since Last-Modified (at the response's Date, or
 * now), at most `heuristicMax`; for a heuristically cacheable status, or any with `public`. ms, or
 * undefined when no valid Last-Modified allows it (or it lies in the future).
 */
function heuristicLifetime(rule: Rule, res: ResponseView, cc: Directives, now: number): number | undefined {
  if (!HEURISTIC_STATUSES.has(res.status) && !cc.has('public')) return undefined
  const lm = parseHttpDate(headerString(res.header('last-modified')), now)
  if (Number.isNaN(lm)) return undefined
  const d = parseHttpDate(headerString(res.header('date')), now)
  const date = Number.isNaN(d) ? now : d
  if (lm > date) return undefined
  return Math.min(rule.heuristicMax, Math.floor((date - lm) * rule.heuristic))
}

function no(reason: string): Verdict {
  return { ttl: 0, initialAge: 0, swr: 0, sie: 0, siu: 0, reason }
}

/**
 * §4.2.1: s-maxage (shared caches), else max-age, else Expires − Date (not when a targeted field
 * governs: RFC 9213 §2.1). ms, or undefined when none.
 */
function statedLifetime(
  cc: Directives,
  res: ResponseView,
  now: number,
  useExpires: boolean,
): number | undefined {
  for (const d of ['s-maxage', 'max-age']) {
    if (!cc.has(d)) continue
    const secs = deltaSeconds(cc.get(d))
    return secs === undefined ? 0 : secs * 1000 // invalid or conflicting: stale (§4.2.1)
  }
  if (!useExpires) return undefined
  const expires = res.header('expires')
  if (expires === undefined) return undefined
  if (Array.isArray(expires) && expires.length > 1) return 0
  const exp = parseHttpDate(headerString(expires), now)
  if (Number.isNaN(exp)) return 0 // §5.3: invalid, e.g. "0", means already expired
  const date = parseHttpDate(headerString(res.header('date')), now)
  return exp - (Number.isNaN(date) ? now : date)
}
