/**
 * A client's own conditional GET/HEAD against the response the cache answers with (RFC 9110
 * §13.1, evaluated as §13.2.2 orders it; RFC 9111 §4.3.2 for a cache's stored responses):
 *
 * - `If-None-Match` first: `*`, or any listed entity-tag weakly equal to the response's ETag
 *   (§13.1.2), means "not modified". When it is present, `If-Modified-Since` is not looked at at
 *   all (§13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an
 *   If-None-Match header field").
 * - Otherwise `If-Modified-Since`, when it is one valid HTTP-date (an invalid or listed value is
 *   ignored), against the response's `Last-Modified`, else its `Date`, else the time the cache
 *   received it (RFC 9111 §4.3.2): "not modified" when that is no later than the date given.
 *
 * Only a 2xx is answered 304 (§13.2.1: preconditions apply to a response that would be 2xx).
 * A request with `Cache-Control: no-cache` asks for the full response end to end and is never
 * answered 304 from here (koa's `ctx.fresh` does the same; kept so).
 */
import type { IncomingHttpHeaders } from 'node:http'
import { parseHttpDate } from './date.js'

export interface ValidatorView {
  readonly status: number
  readonly etag: string | undefined
  readonly lastModified: string | undefined
  readonly date: string | undefined
  /** when the cache received the response, ms: the last resort of §4.3.2 */
  readonly receivedAt: number
}

/** true when the client's conditional request is answered `304 Not Modified`. */
export function notModified(req: IncomingHttpHeaders, res: ValidatorView): boolean {
  const inm = req['if-none-match']
  const ims = req['if-modified-since']
  if (inm === undefined && ims === undefined) return false
  if (res.status < 200 || res.status > 299) return false
  const cc = req['cache-control']
  if (cc !== undefined && /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(cc)) return false
  if (inm !== undefined) return noneMatch(inm, res.etag)
  const since = parseHttpDate(ims)
  if (Number.isNaN(since)) return false
  let modified = parseHttpDate(res.lastModified)
  if (Number.isNaN(modified)) modified = parseHttpDate(res.date)
  if (Number.isNaN(modified)) modified = Math.floor(res.receivedAt / 1000) * 1000
  return modified <= since
}

/** §13.1.2: `*` matches any current representation; otherwise a weak comparison of each listed tag. */
function noneMatch(value: string, etag: string | undefined): boolean {
  if (value.trim() === '*') return true
  if (etag === undefined) return false
  const mine = opaque(etag.trim())
  if (mine === undefined) return false
  for (const t of listedTags(value)) if (t === mine) return true
  return false
}

/** The opaque part of an entity-tag (`W/"x"` and `"x"` are weakly equal), or undefined when malformed. */
function opaque(tag: string): string | undefined {
  const t = tag.startsWith('W/') ? tag.slice(2) : tag
  return t.length >= 2 && t.charCodeAt(0) === 0x22 && t.charCodeAt(t.length - 1) === 0x22 ? t : undefined
}

/** Entity-tags in an If-None-Match list; commas inside a quoted tag do not split it. */
function listedTags(value: string): string[] {
  const out: string[] = []
  const re = /[\s,]*(W\/)?("[^"]*")\s*(?:,|$)/y
  let m: RegExpExecArray | null
  re.lastIndex = 0
  while (re.lastIndex < value.length && (m = re.exec(value)) !== null) out.push(m[2]!)
  return out
}

/** The validators among stored headers (flat [name, value, …], lower-case names, as entries keep them). */
export function storedView(
  status: number,
  flat: readonly (string | readonly string[])[],
  receivedAt: number,
): ValidatorView {
  let etag: string | undefined
  let lastModified: string | undefined
  let date: string | undefined
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i]
    if (n === 'etag') etag = String(flat[i + 1])
    else if (n === 'last-modified') lastModified = String(flat[i + 1])
    else if (n === 'date') date = String(flat[i + 1])
  }
  return { status, etag, lastModified, date, receivedAt }
}
