/**
 * Purge: gives the covered generation keys fresh tokens. Entries record the tokens they were
 * stored under, so once the new tokens are acknowledged no instance serves a covered entry again,
 * even when Redis has evicted keys meanwhile (an absent token is a mismatch too), and a write that
 * was in flight during the purge carries the old tokens and is dead on arrival.
 */

import { filterQuery, matchPath } from '../key/sanitize.js'
import type { PolicySet } from '../policy-set.js'
import { allGen, locate, ruleGen, tagGen, urlGen } from './keys.js'

export interface PurgeRequest {
  /** every entry carrying any of these tags */
  tags?: readonly string[]
  /** absolute URLs (that host) or paths with an optional query (every host): every variant of exactly that path and query */
  urls?: readonly string[]
  /** every entry stored under these rules */
  rules?: readonly string[]
  /** every entry of this cache's namespace */
  all?: boolean
}

export interface PurgeResult {
  readonly tags: number
  readonly urls: number
  readonly rules: number
  readonly all: boolean
  /** generation keys given a new token */
  readonly generations: number
}

/** The generation keys a purge must bump. Throws TypeError on malformed input. */
export function purgeGens(set: PolicySet, name: string, what: PurgeRequest): string[] {
  if (what === null || typeof what !== 'object' || Array.isArray(what))
    throw new TypeError('purge expects { tags?, urls?, rules?, all? }')
  // a typo (`tag:`) must not resolve as a purge of nothing
  for (const k of Object.keys(what)) {
    if (k !== 'tags' && k !== 'urls' && k !== 'rules' && k !== 'all')
      throw new TypeError(`purge: unknown field ${JSON.stringify(k)}; expected tags, urls, rules or all`)
  }
  const gens = new Set<string>()
  const list = (field: string, v: unknown): readonly string[] => {
    if (v === undefined) return []
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      throw new TypeError(`purge: ${field} must be an array of strings`)
    return v
  }
  for (const t of list('tags', what.tags)) gens.add(tagGen(name, t))
  for (const r of list('rules', what.rules)) gens.add(ruleGen(name, r))
  for (const u of list('urls', what.urls)) for (const g of urlGens(set, name, u)) gens.add(g)
  if (what.all !== undefined && typeof what.all !== 'boolean')
    throw new TypeError('purge: all must be a boolean')
  if (what.all) gens.add(allGen(name))
  return [...gens]
}

function urlGens(set: PolicySet, name: string, url: string): string[] {
  const abs = /^(https?):\/\/([^/?#]*)([^#]*)/i.exec(url)
  let rest = abs ? abs[3] || '/' : url.replace(/#.*$/, '')
  if (!rest.startsWith('/'))
    throw new TypeError(`purge: a URL must be absolute or start with "/", got ${JSON.stringify(url)}`)
  // requests arrive percent-encoded; a path typed with raw non-ASCII characters means the same
  if (/[^\x21-\x7e]/.test(rest)) rest = encodeURI(rest)
  const qi = rest.indexOf('?')
  const path = qi === -1 ? rest : rest.slice(0, qi)
  const qs = qi === -1 ? '' : rest.slice(qi + 1)
  if (abs) {
    const hostname = abs[2]!
      .replace(/:\d+$/, '')
      .replace(/^\[(.*)\]$/, '$1')
      .toLowerCase()
    const l = locate(set, name, hostname, path, qs)
    return l === undefined ? [] : [l.urlGen]
  }
  // A bare path covers every host: the URL generation does not include the host, but which
  // rule (and so which query parameters are keyed) may depend on it: cover every rule's reading.
  const out = new Set<string>()
  const decoded = matchPath(path) ?? path
  for (const r of set.rules)
    if (r.cache && (r.methods & 1) !== 0) out.add(urlGen(name, decoded, filterQuery(r.key.query, qs).kept))
  return [...out]
}
