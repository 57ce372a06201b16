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

/** Generation keys outlive every entry that depends on them. */
export const GEN_TTL = MAX_ENTRY_TTL + 24 * 3600_000

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
