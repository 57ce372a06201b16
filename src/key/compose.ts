/**
 * The cache key: `<name>:<rule-id>:<digest>`. The readable prefix names the cache and the rule
 * (both restricted to [a-z0-9._-], so no user input can ever form a Redis `{hash tag}`, T11); the
 * digest covers everything keyed, encoded without any delimiter an attacker could forge (T10):
 * each part is `~` (absent) or `<length>:<chars>`, so two different part lists never produce the
 * same string.
 */
import { hash } from 'node:crypto'
import type { Rule } from '../policy/types.js'
import type { Pair } from './sanitize.js'

function part(s: string): string {
  return `${s.length}:${s}`
}

/**
 * The unhashed key material (shown by `explain`); the digest hashes exactly this. Its inputs are
 * the values Koa gives the application: `ctx.protocol`, `ctx.host` (X-Forwarded-Host under
 * `app.proxy`), the raw `ctx.path`, the incoming headers; `query` and `cookies` are the keyed
 * pairs left after sanitising, in request order.
 */
export function keyMaterial(
  rule: Rule,
  protocol: string,
  host: string,
  path: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  query: readonly Pair[],
  cookies: readonly Pair[],
): string {
  // rule.version joins the key: a reload that changes a rule never serves what it stored before (T67, T68)
  let s = `${part(rule.version)}G` // method class: GET and HEAD share entries
  // the host exactly as the application sees it: lower-casing here would let `SHOP.example`,
  // which an application may answer differently, share `shop.example`'s entry
  s += rule.key.host ? part(protocol) + part(host) : '~~'
  s += part(path)
  s += `q${part(String(query.length))}`
  for (const [n, v] of query.length > 1 ? sortPairs(query) : query) s += part(n) + part(v)
  s += 'h'
  for (const name of rule.key.headers) {
    const raw = headers[name]
    const v = raw === undefined ? '' : typeof raw === 'string' ? raw : raw.join(', ')
    s += v === '' ? '~' : part(v.trim())
  }
  if (rule.key.cookies !== null && rule.key.cookies.length > 0) {
    s += `c${part(String(cookies.length))}`
    for (const [n, v] of cookies) s += part(n) + part(v)
  }
  return s
}

/** Normalised order: by name, stable, so repeated parameters keep their order (`?b=2&a=1` ≡ `?a=1&b=2`). */
function sortPairs(pairs: readonly Pair[]): readonly Pair[] {
  return [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

/** 192 bits of SHA-256, base64url: fixed length whatever the request, and no `{` or `}`. */
export function digest(material: string): string {
  // one-shot crypto.hash (Node >= 20.12): 3-4x cheaper than createHash().update().digest()
  return hash('sha256', material, 'base64url').slice(0, 32)
}

export function entryKey(name: string, rule: Rule, material: string): string {
  return `${name}:${rule.id}:${digest(material)}`
}
