/**
 * `cachet serve`'s hits below Koa: a fresh hit (or the 304 a hit answers a matching validator
 * with) is written straight to node:http's response, before any Koa context exists. Koa's
 * context, its middleware chain and its response rendering are half of what a proxied hit costs
 * (issue 11); a hit needs none of them.
 *
 * One decision path: the request is decided by decide() and read by the middleware's own Lookup
 * (the same Stages), so a rule means the same here and in the middleware. Whatever is not a
 * fresh hit it can answer alone (a miss, a stale entry, a Range, a bypass…) goes on to the Koa
 * app; a lookup's decision and store read go with it on the request (kPrefetched), and the
 * middleware continues from there: the store is read once per request either way.
 *
 * Only for requests whose Koa view this module derives exactly as Koa would (an app with
 * `proxy` off, HTTP/1.x, no TLS): a GET or HEAD with an origin-form target that parseurl takes
 * on its fast path, one plain Host value, no Connection-named fields, no Range, Expect or
 * Upgrade. The caller (serve.ts) has already refused bad framing. Anything else goes to Koa.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { HIT } from '../metrics/counters.js'
import { type RequestMessage, requestChannel } from '../metrics/trace.js'
import type { PolicySet } from '../policy-set.js'
import { countServedAs } from './count.js'
import { decide, type LookupDecision, type RequestLike } from './decide.js'
import { NOT_NOW, peekFailOpen, type Read, readFailOpen } from './lookup.js'
import { writeEntry } from './respond.js'
import type { Stages } from './stages.js'

/** What a raw lookup hands on to the middleware with a request it did not answer. */
export interface Prefetched {
  /** the policy set the request was decided under: it finishes under it */
  readonly set: PolicySet
  readonly d: LookupDecision
  /** the read; undefined when the store was not ready or the read failed (already counted) */
  readonly read: Read | undefined
  /** when the read started: the request's store budget runs from here (budget.ts) */
  readonly readAt: number
}

export const kPrefetched = Symbol('cachet.prefetched')

export interface Stashed {
  [kPrefetched]?: Prefetched | undefined
}

/** true: answered; false: hand the request to the Koa app (with what was read, if anything). */
export type RawHit = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>

export function rawHits(s: Stages): RawHit {
  const { rt } = s
  const { name } = rt

  return function rawHit(req, res) {
    const view = koaView(req)
    if (view === undefined) return false
    const set = rt.policies.current
    const d = decide(set, name, view, req.headers)
    if (d.kind !== 'lookup') return false
    const h = req.headers
    // key.normalize: the Vary match (and, on a miss, the application) sees the value the key saw;
    // the middleware applies the same rewrites again, to the same values
    const norm = d.normalized
    for (let i = 0; i < norm.length; i++) {
      const [n, v] = norm[i]!
      if (v === null) delete h[n]
      else h[n] = v
    }
    const readAt = performance.now()
    // the memory store (and a near hit) answers in process: a hit then costs no promise at all
    const now = peekFailOpen(rt, s.lookup, d, h, readAt)
    if (now !== NOT_NOW) return answer(req, res, view, set, d, now, readAt)
    return readFailOpen(rt, s.lookup, d, h, readAt).then((r) => answer(req, res, view, set, d, r, readAt))
  }

  /** A fresh entry with a body is written here; anything else goes on to Koa with the read. */
  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    view: RequestLike,
    set: PolicySet,
    d: LookupDecision,
    r: Read | undefined,
    readAt: number,
  ): boolean {
    const now = rt.now()
    const entry = r?.entry
    if (entry === undefined || entry.expires <= now || entry.nullBody || entry.kind !== 'response') {
      ;(req as Stashed)[kPrefetched] = { set, d, read: r, readAt }
      return false
    }
    rt.metrics.hits++
    writeEntry(req, res, entry, now, name)
    d.counters.outcomes[HIT]!++
    countServedAs(d.counters, view.method, res.statusCode, entry)
    if (requestChannel.hasSubscribers) publish(view, d, res, req, readAt)
    return true
  }

  function publish(
    view: RequestLike,
    d: LookupDecision,
    res: ServerResponse,
    req: IncomingMessage,
    start: number,
  ): void {
    const message: RequestMessage = {
      cache: name,
      rule: d.rule.id,
      outcome: 'hit',
      reason: null,
      method: view.method,
      url: d.querystring === '' ? view.path : `${view.path}?${d.querystring}`,
      status: res.statusCode,
      key: d.key,
      durationMs: performance.now() - start,
      req,
      res,
    }
    requestChannel.publish(message)
  }
}

/**
 * The request as Koa's ctx would show it (method, url, protocol, host, path, querystring), or
 * undefined when this request is not one whose view is derived here exactly (see the header).
 */
function koaView(req: IncomingMessage): RequestLike | undefined {
  const method = req.method
  if (method !== 'GET' && method !== 'HEAD') return undefined
  if (req.httpVersionMajor !== 1 || (req.socket as TLSSocket).encrypted) return undefined
  const h = req.headers
  if (h.range !== undefined || h.expect !== undefined || h.upgrade !== undefined) return undefined
  const conn = h.connection
  if (conn !== undefined && conn !== 'keep-alive' && conn !== 'close') return undefined
  const host = h.host
  // Koa keeps the first of comma-separated values and re-parses one with userinfo
  if (host === undefined || host.includes(',') || host.includes('@')) return undefined
  const url = req.url
  if (url === undefined || url.charCodeAt(0) !== 0x2f /* / */) return undefined
  // parseurl's fast path: the first '?' splits path and query; anything it would hand to
  // url.parse (whitespace, '#', NBSP, BOM) is left to Koa
  let q = -1
  for (let i = 1; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 0x3f) {
      if (q === -1) q = i
    } else if (
      c === 0x20 ||
      c === 0x23 ||
      c === 0x09 ||
      c === 0x0a ||
      c === 0x0c ||
      c === 0x0d ||
      c === 0xa0 ||
      c === 0xfeff
    )
      return undefined
  }
  return {
    method,
    url,
    protocol: 'http',
    host,
    path: q === -1 ? url : url.slice(0, q),
    querystring: q === -1 ? '' : url.slice(q + 1),
  }
}
