/**
 * Cache-Status (RFC 9211): `<name>; hit; ttl=N`, `<name>; fwd=uri-miss; stored`, … The cache's
 * name is checked at createCache to be a token, so it needs no quoting. The key is never shown
 * unless the `debugKeys` option asks for it (RFC 9211 §6: exposing it can help poisoning).
 */

export function hitStatus(name: string, ttlSeconds: number): string {
  return `${name}; hit; ttl=${ttlSeconds}`
}

/** fwd: uri-miss | vary-miss | miss | stale | bypass | method | request */
export function fwdStatus(
  name: string,
  fwd: string,
  opts?: { stored?: boolean; fwdStatus?: number; ttl?: number; detail?: string; collapsed?: boolean },
): string {
  let s = `${name}; fwd=${fwd}`
  if (opts === undefined) return s
  if (opts.fwdStatus !== undefined) s += `; fwd-status=${opts.fwdStatus}`
  if (opts.ttl !== undefined) s += `; ttl=${opts.ttl}`
  if (opts.stored) s += '; stored'
  if (opts.collapsed) s += '; collapsed'
  if (opts.detail !== undefined) s += `; detail=${opts.detail}`
  return s
}

/** RFC 9211 §2: each cache appends its member; the one nearest the client comes last. */
export function appendStatus(
  existing: string | number | readonly string[] | undefined,
  mine: string,
): string {
  if (existing === undefined || existing === '') return mine
  return `${Array.isArray(existing) ? existing.join(', ') : String(existing)}, ${mine}`
}
