/**
 * Vary (RFC 9111 §4.1): a URL whose response varies keeps an index at its primary key naming the
 * request headers, and each variant at `<key>~<digest of their values>`.
 */
import { digest } from './compose.js'

/**
 * Fields whose values are case-insensitive by their definition (RFC 9110 §12.5: content codings,
 * language ranges, media ranges and charsets), so that RFC 9111 §4.1's "case-normalization, where
 * values are defined to be case-insensitive" applies.
 */
const CASELESS: ReadonlySet<string> = new Set([
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
])

const NO_NAMES: readonly string[] = Object.freeze([])

/**
 * A Vary'd request header value as it is compared (RFC 9111 §4.1): whitespace around list
 * commas and semicolons normalised away, lower case for the fields whose values are
 * case-insensitive, and, for the fields the rule names in `key.varyUnordered` only, the list
 * members in sorted order (order may carry preference, so never by default; a value with a
 * quoted string, whose commas may not separate members, keeps its order).
 */
export function normaliseVaryValue(
  v: string,
  name?: string,
  unordered: readonly string[] = NO_NAMES,
): string {
  let s = v.trim().replace(/\s*([,;])\s*/g, '$1')
  if (name !== undefined && CASELESS.has(name)) s = s.toLowerCase()
  if (
    name !== undefined &&
    unordered.length > 0 &&
    unordered.includes(name) &&
    !s.includes('"') &&
    s.includes(',')
  )
    s = s
      .split(',')
      .filter((m) => m !== '')
      .sort()
      .join(',')
  return s
}

/** The Vary'd request header values (flat name/value) of this request, for `names`. */
export function varyValues(
  names: readonly string[],
  get: (n: string) => string,
  unordered: readonly string[] = NO_NAMES,
): string[] {
  const out: string[] = []
  for (const n of names) out.push(n, normaliseVaryValue(get(n), n, unordered))
  return out
}

/** The key of the variant whose request header values are `values` (flat name/value). */
export function variantKey(key: string, values: readonly string[]): string {
  let s = ''
  for (const v of values) s += `${v.length}:${v}`
  return `${key}~${digest(s)}`
}

/** Where a response entry lives: at the primary key, or at its variant's key when it varied. */
export function storageKey(key: string, requestValues: readonly string[] | null): string {
  return requestValues === null ? key : variantKey(key, requestValues)
}

/** A Vary header → the distinct lower-case names it lists, or null for none. */
export function varyNames(header: unknown): string[] | null {
  if (header === undefined || header === null) return null
  const names: string[] = []
  for (const n of String(header).split(',')) {
    const name = n.trim().toLowerCase()
    if (name !== '' && !names.includes(name)) names.push(name)
  }
  return names.length === 0 ? null : names
}

/** Whether a request's header values match a stored variant's (flat name/value). */
export function matchesVariant(
  requestValues: readonly string[],
  get: (n: string) => string,
  unordered: readonly string[] = NO_NAMES,
): boolean {
  for (let i = 0; i < requestValues.length; i += 2) {
    const n = requestValues[i]!
    if (normaliseVaryValue(get(n), n, unordered) !== requestValues[i + 1]) return false
  }
  return true
}
