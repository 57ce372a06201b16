/**
 * What the application may see. Inputs a rule does not key are removed before downstream runs,
 * so no unkeyed input can change a stored response (cache poisoning: Kettle 2018/2020, T04/T05).
 * Both functions are pure: the middleware applies their result, `explain` only reports it.
 */
import type { QueryKey } from '../policy/types.js'

/** One query parameter, decoded exactly as Koa 3 decodes it (URLSearchParams). */
export type Pair = readonly [name: string, value: string]

const NO_PAIRS: readonly Pair[] = Object.freeze([])

/**
 * Splits a query string the way the application will see it (Koa 3 `ctx.query` is
 * URLSearchParams), and keeps the keyed parameters.
 * Returns the kept pairs in request order and the query string the application should get:
 * the same string when nothing was removed, so its raw encoding is untouched.
 */
export function filterQuery(
  query: QueryKey,
  querystring: string,
): { readonly querystring: string; readonly kept: readonly Pair[] } {
  if (querystring === '') return { querystring, kept: NO_PAIRS }
  if (query.mode === 'none') return { querystring: '', kept: NO_PAIRS }
  const kept: Pair[] = []
  let removed = false
  for (const [name, value] of new URLSearchParams(querystring)) {
    if (query.mode === 'all' || keyed(query, name)) kept.push([name, value])
    else removed = true
  }
  return {
    querystring: removed
      ? new URLSearchParams(kept as unknown as [string, string][]).toString()
      : querystring,
    kept,
  }
}

function keyed(query: Extract<QueryKey, { names: ReadonlySet<string> }>, name: string): boolean {
  let hit = query.names.has(name)
  if (!hit)
    for (const re of query.globs)
      if (re.test(name)) {
        hit = true
        break
      }
  return query.mode === 'include' ? hit : !hit
}

/**
 * Keeps only the named cookies. `names` empty: the Cookie header goes entirely (`null`).
 * Returns the header the application should see (null: none) and the kept pairs.
 * A cookie named twice keeps both occurrences, in order, and both are keyed: parsers disagree
 * on which one wins, so neither may be left out of the key.
 */
export function filterCookies(
  names: readonly string[],
  header: string,
): { readonly header: string | null; readonly kept: readonly Pair[] } {
  if (names.length === 0 || header === '') return { header: null, kept: NO_PAIRS }
  const kept: Pair[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    const name = (eq === -1 ? part : part.slice(0, eq)).trim()
    if (!names.includes(name)) continue
    kept.push([name, eq === -1 ? '' : part.slice(eq + 1).trim()])
  }
  return { header: kept.length === 0 ? null : kept.map(([n, v]) => `${n}=${v}`).join('; '), kept }
}

/**
 * The path as globs see it, or null when the path is ambiguous between a cache and an origin
 * (delimiter and normalisation discrepancies, Doyhenard 2024; T15/T16): encoded `/ \ ? # ; %`
 * or control characters, a literal `;` or `\`, dot segments and empty segments. An ambiguous path
 * is never cached. Percent-encoded ordinary characters are decoded, so `/%61ccount` meets the
 * `/account/**` rule.
 *
 * hot path: one charCode scan; no allocation unless the path holds a `%`.
 */
export function matchPath(path: string): string | null {
  let pct = false
  let prev = 0
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || c === 0x3b /* ; */ || c === 0x5c /* \ */) return null
    if (c === 0x25 /* % */) pct = true
    else if (c === 0x2f /* / */ && prev === 0x2f) return null
    else if (c === 0x2e /* . */ && prev === 0x2f) {
      const n = path.charCodeAt(i + 1)
      if (
        Number.isNaN(n) /* end */ ||
        n === 0x2f ||
        (n === 0x2e && (i + 2 === path.length || path.charCodeAt(i + 2) === 0x2f))
      )
        return null
    }
    prev = c
  }
  if (!pct) return path
  if (/%(?:2f|5c|3f|23|3b|25|[01][0-9a-f]|7f)/i.test(path)) return null
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return null
  }
  return matchPath(decoded) === null ? null : decoded
}
