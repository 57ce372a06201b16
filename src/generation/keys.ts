/**
 * Generation keys (see README "How purge works"): every entry depends on
 *   <name>:g:a            the whole namespace      purge({ all: true })
 *   <name>:g:r:<rule>     its rule                  purge({ rules })
 *   <name>:g:u:<digest>   its URL (path + keyed query, any host): purge({ urls }), unsafe methods
 *   <name>:g:t:<digest>   each of its tags          purge({ tags }), invalidate.tags
 * User-controlled text (paths, tags) only ever appears inside a digest, so no request can form a
 * Redis `{hash tag}` or an over-long key.
 */

import { MAX_ENTRY_TTL } from '../http/freshness.js'
import { digest } from '../key/compose.js'
import { filterQuery, matchPath, type Pair } from '../key/sanitize.js'
import type { Rule } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'

/**
 * Life of the namespace and rule tokens, and of every token a purge or an invalidation writes
 * (`bump`): longer than any entry can live, so that a purge holds for as long as a covered entry
 * could still be served (README "How purge works"). These are few: one per purge target.
 */
export const GEN_TTL = MAX_ENTRY_TTL + 24 * 3600_000

/**
 * Life of a URL or tag token that a miss reads, or creates, before it asks the origin: long
 * enough for the origin to answer (20 times the fleet lock's default 10 s). Storing the entry
 * then extends the token to cover it (`coverMs`), so a token lives about as long as what depends
 * on it: a flood of distinct URLs on a short rule leaves nothing behind for long (issue 12).
 * A fetch that outlasts it costs a miss, never a stale hit: the token is re-created with a new
 * random value, which the entry did not record.
 */
export const FETCH_GEN_TTL_MS = 2 * 60_000

/**
 * What a URL or tag token outlives an entry by, once extended to cover it: the entry's `PX` is
 * counted from its own `SET`, which may run a little after the extension (another Cluster node,
 * a user's store), and a user's store estimates a token's remaining life from the wall clock of
 * whichever instance wrote it.
 */
export const GEN_MARGIN_MS = 60_000

/** The life a URL or tag token needs to cover an entry the store keeps `keepMs`. */
export function coverMs(keepMs: number): number {
  return Math.min(GEN_TTL, keepMs + GEN_MARGIN_MS)
}

export function allGen(name: string): string {
  return `${name}:g:a`
}
export function ruleGen(name: string, ruleId: string): string {
  return `${name}:g:r:${ruleId}`
}
export function tagGen(name: string, tag: string): string {
  return `${name}:g:t:${digest(tag)}`
}
/**
 * `path` percent-decoded as globs see it (sanitize.ts matchPath), so `/products/%34%32` and
 * `/products/42` are one URL to purge; `query` the keyed pairs, in the key's normalised order.
 */
export function urlGen(name: string, path: string, query: readonly Pair[]): string {
  let s = `${path.length}:${path}`
  for (const [n, v] of query.length > 1
    ? [...query].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    : query)
    s += `${n.length}:${n}${v.length}:${v}`
  return `${name}:g:u:${digest(s)}`
}

/**
 * The GET rule and URL generation key of a URL, whatever the request carrying it (an unsafe
 * request, a purge, a Location header): the generation every stored variant of it depends on.
 */
export function locate(
  set: PolicySet,
  name: string,
  hostname: string,
  rawPath: string,
  querystring: string,
): { rule: Rule; urlGen: string } | undefined {
  const path = matchPath(rawPath)
  const rule = set.matcher.match(1, hostname, path ?? rawPath)
  if (rule === undefined || !rule.cache) return undefined
  return { rule, urlGen: urlGen(name, path ?? rawPath, filterQuery(rule.key.query, querystring).kept) }
}

/** Tokens are `<ms base36>.<random>`: the time a purge set them, 0 when created on first use. */
export function tokenTime(token: string): number {
  const dot = token.indexOf('.')
  const t = dot > 0 ? Number.parseInt(token.slice(0, dot), 36) : 0
  return Number.isFinite(t) ? t : 0
}

/**
 * An entry is served only while every token it recorded is still there, unchanged: a purge
 * replaced one, or eviction removed one, and it is never served again (README "How purge works").
 */
export function sameTokens(recorded: readonly string[], current: readonly (string | undefined)[]): boolean {
  if (recorded.length !== current.length) return false
  for (let i = 0; i < recorded.length; i++)
    if (current[i] === undefined || current[i] !== recorded[i]) return false
  return true
}

/**
 * A leader's entry may serve a request coalesced on it unless a token this request saw differs:
 * one absent at its read was created since (by the leader itself); one present and different
 * means a purge came in between.
 */
export function compatibleTokens(
  recorded: readonly string[],
  seen: readonly (string | undefined)[],
): boolean {
  if (recorded.length !== seen.length) return false
  for (let i = 0; i < recorded.length; i++) if (seen[i] !== undefined && seen[i] !== recorded[i]) return false
  return true
}
