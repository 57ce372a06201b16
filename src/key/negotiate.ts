/**
 * `key.normalize` (issue 8, item 8): a request's Accept-Encoding, Accept-Language or Accept is
 * rewritten, before it is keyed or forwarded, to the one value among those the rule lists that
 * the client prefers (RFC 9110 §12.5: quality values, `*`, language prefixes), so that
 * `fr-CH, fr;q=0.9` and `fr` share one variant, and the application sees exactly what the key
 * saw. It never widens what the client accepts: a client that accepts none of the listed values
 * gets the rule's first one (its default representation), and for Accept-Encoding, none at all
 * (identity).
 */

export type NormalizedHeader = 'accept-encoding' | 'accept-language' | 'accept'
export const NORMALIZED_HEADERS: readonly NormalizedHeader[] = [
  'accept-encoding',
  'accept-language',
  'accept',
]

interface Weighted {
  readonly value: string
  readonly q: number
}

/** `a;q=0.5, b, c;q=0` → lower-case members with their weights (invalid q counts as 1, §12.4.2). */
function weighted(header: string): Weighted[] {
  const out: Weighted[] = []
  for (const part of header.split(',')) {
    const [v = '', ...params] = part.split(';')
    const value = v.trim().toLowerCase()
    if (value === '') continue
    let q = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)
      if (m) q = Math.min(1, Number(m[1]))
    }
    out.push({ value, q })
  }
  return out
}

/** The listed value the client weighs most (ties: the rule's order), or undefined when none has q > 0. */
function best(listed: readonly string[], qOf: (v: string) => number): string | undefined {
  let pick: string | undefined
  let top = 0
  for (const v of listed) {
    const q = qOf(v)
    if (q > top) {
      top = q
      pick = v
    }
  }
  return pick
}

/** Accept-Encoding (§12.5.3): the coding, or null for identity (the header removed). */
export function negotiateEncoding(header: string, listed: readonly string[]): string | null {
  const prefs = weighted(header)
  const qOf = (coding: string) => {
    const exact = prefs.find((p) => p.value === coding)
    if (exact !== undefined) return exact.q
    return prefs.find((p) => p.value === '*')?.q ?? 0
  }
  return best(listed, qOf) ?? null
}

/**
 * Accept-Language (§12.5.4, RFC 4647 basic filtering and lookup's truncation): a range matches a
 * listed tag equal to it or to one of its prefixes (`fr-CH` → `fr`), or any tag (`*`).
 */
export function negotiateLanguage(header: string, listed: readonly string[]): string {
  const prefs = weighted(header)
  const qOf = (tag: string) => {
    let q = 0
    let matched = false
    for (const p of prefs) {
      const r = p.value
      if (r === tag || tag.startsWith(`${r}-`) || r.startsWith(`${tag}-`)) {
        q = Math.max(q, p.q)
        matched = true
      }
    }
    if (matched) return q
    return prefs.find((p) => p.value === '*')?.q ?? 0
  }
  return best(listed, qOf) ?? listed[0]!
}

/** Accept (§12.5.1): the most specific matching range decides a listed type's weight. */
export function negotiateMedia(header: string, listed: readonly string[]): string {
  const prefs = weighted(header)
  const qOf = (type: string) => {
    const major = type.slice(0, type.indexOf('/'))
    let q: number | undefined
    let rank = -1
    for (const p of prefs) {
      const r = p.value
      const specific = r === type ? 2 : r === `${major}/*` ? 1 : r === '*/*' ? 0 : -1
      if (specific > rank) {
        rank = specific
        q = p.q
      }
    }
    return q ?? 0
  }
  return best(listed, qOf) ?? listed[0]!
}

/** The rewritten value of `name` for this request's `value` (undefined: no header sent). */
export function negotiate(
  name: NormalizedHeader,
  value: string | undefined,
  listed: readonly string[],
): string | null {
  switch (name) {
    case 'accept-encoding':
      return value === undefined ? null : negotiateEncoding(value, listed)
    case 'accept-language':
      return value === undefined ? listed[0]! : negotiateLanguage(value, listed)
    case 'accept':
      return value === undefined ? listed[0]! : negotiateMedia(value, listed)
  }
}
