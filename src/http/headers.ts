/**
 * Header sets and field parsers the cache, the proxy and the request path share: one copy each.
 */

/** RFC 9110 §7.6.1: fields meant for one connection, never forwarded nor stored. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
])

/** cachet's own targeted cache-control field (RFC 9213): read by cachet, never sent to clients */
export const OWN_TARGETED = 'cachet-cache-control'

/**
 * Never stored: hop-by-hop fields, what a cache must never replay (Set-Cookie) or must recompute,
 * and cachet's own targeted field (it is meant for cachet alone).
 */
export const NOT_STORED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'set-cookie',
  'age',
  'cache-status',
  OWN_TARGETED,
])

/**
 * The field names a Connection header lists (RFC 9110 §7.6.1), lower-case, without empty members;
 * `value` as node:http gives it (a string, a list of lines, a number, or undefined).
 */
export function connectionNames(value: unknown): string[] {
  if (value === undefined || value === null) return []
  const out: string[] = []
  for (const t of (Array.isArray(value) ? value.join(',') : String(value)).toLowerCase().split(',')) {
    const n = t.trim()
    if (n !== '') out.push(n)
  }
  return out
}

/**
 * The request fields a proxy downstream would drop because Connection names them (RFC 9110
 * §7.6.1), which cachet drops before keying: all it names but `close`, `keep-alive`, `upgrade`
 * and `host` (the middleware removes them; explain reports them).
 */
export function connectionDropped(value: unknown): string[] {
  return connectionNames(value).filter(
    (n) => n !== 'close' && n !== 'keep-alive' && n !== 'upgrade' && n !== 'host',
  )
}

/** A header's value as one string (lists joined with ", "), or undefined when absent. */
export function headerString(v: string | readonly string[] | number | undefined): string | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v)
}

/**
 * Whether a request announces a body (RFC 9112 §6.3): Transfer-Encoding, or a Content-Length
 * other than 0. One test for the fat-GET bypass, the proxy's framing and its tunnels.
 */
export function carriesBody(headers: Readonly<Record<string, unknown>>): boolean {
  const cl = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0')
}
