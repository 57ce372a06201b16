/**
 * The origin side of `cachet serve`: a streaming reverse-proxy handler. It forwards every method
 * with its body, any status (299, 999…), unknown headers both ways, strips hop-by-hop fields
 * (RFC 9110 §7.6.1), keeps the client's Host, appends X-Forwarded-For / -Proto, and relays 1xx
 * informational responses where Node allows (100, 102, 103).
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Context } from 'koa'
import { CachetError } from '../errors.js'
import { carriesBody, connectionNames, HOP_BY_HOP } from '../http/headers.js'

/**
 * Hop-by-hop fields, and `Proxy`: not hop-by-hop, but never meant for an origin: CGI-style stacks
 * read it as HTTP_PROXY ("httpoxy", CVE-2016-5385).
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'proxy'])

/** Client-supplied routing claims an origin might trust; never part of a key (T03). */
const UNKEYED_FORWARDING = [
  'forwarded',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-scheme',
  'x-forwarded-server',
  'x-host',
  'x-original-url',
  'x-rewrite-url',
]
/** CPDoS-HMO: a GET turned into a DELETE by the origin's method-override support (T20). */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override']

export interface ProxyOptions {
  /** the origin, e.g. http://127.0.0.1:8080 (a path prefix is prepended to every request path) */
  upstream: string
  /** no response headers from the upstream within this many ms → 504. @default 30000 */
  timeoutMs?: number
  /**
   * connections to the upstream at most, busy and idle keep-alive ones together (node's Agent
   * counts both against maxSockets); a request beyond them waits for one, within `timeoutMs`.
   * Unbounded, a burst of misses could take every file descriptor. @default 256
   */
  maxSockets?: number
}

export class UpstreamError extends CachetError {
  readonly status: number
  readonly expose = true
  constructor(status: number, message: string, cause?: unknown) {
    super(status === 504 ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR', message, { cause })
    this.name = 'UpstreamError'
    this.status = status
  }
}

/** Removes hop-by-hop fields, and any field the Connection header names. */
export function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const named = connectionNames(headers.connection)
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || NOT_FORWARDED.has(k) || named.includes(k)) continue
    out[k] = v
  }
  return out
}

/**
 * Why a request's framing cannot be forwarded safely, or undefined when it can. node:http's parser
 * already refuses the ambiguous forms (CL+TE, repeated or malformed Content-Length, bad chunks,
 * obs-fold, bare CR/LF); these are the ones it lets through:
 * - a body on GET or HEAD: it is not part of the key, so it is unkeyed input to a cached answer,
 *   and node:http's client sends it without framing, where the upstream reads it as the next
 *   request on a pooled connection (request smuggling; RFC 9110 §9.3.1, §9.3.2);
 * - Transfer-Encoding in an HTTP/1.0 request: "MUST treat the message as if the framing is
 *   faulty" (RFC 9112 §6.1);
 * - more than one Host field line: "MUST respond with a 400" (RFC 9112 §3.2); the key would see
 *   one host and an upstream might use the other.
 */
export function framingProblem(req: IncomingMessage): string | undefined {
  const te = req.headers['transfer-encoding']
  if ((req.method === 'GET' || req.method === 'HEAD') && carriesBody(req.headers)) {
    return `a ${req.method} request must not carry a body`
  }
  if (te !== undefined && req.httpVersion === '1.0') return 'Transfer-Encoding in an HTTP/1.0 request'
  let hosts = 0
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++
  if (hosts > 1) return 'more than one Host field'
  return undefined
}

/**
 * The first middleware of `cachet serve`: refuses what {@link framingProblem} names with 400,
 * before the cache or the upstream sees it, and closes the connection (its remaining bytes
 * cannot be trusted to be framed as the client meant).
 */
export function refuseBadFraming(ctx: Context, next: () => Promise<void>): Promise<void> {
  const problem = framingProblem(ctx.req)
  if (problem === undefined) return next()
  ctx.status = 400
  ctx.set('Connection', 'close')
  ctx.set('Cache-Control', 'no-store')
  ctx.body = `Bad Request: ${problem}\n`
  return Promise.resolve()
}

/** Where and how `cachet serve` reaches its upstream, fixed at start. */
export interface Upstream {
  readonly base: URL
  readonly secure: boolean
  readonly agent: HttpAgent
  readonly prefix: string
  readonly timeoutMs: number
}

export function createProxy(opts: ProxyOptions) {
  const base = new URL(opts.upstream)
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new TypeError(`upstream must be an http:// or https:// URL, got ${opts.upstream}`)
  const secure = base.protocol === 'https:'
  const maxSockets = opts.maxSockets ?? 256
  if (!Number.isInteger(maxSockets) || maxSockets < 1)
    throw new TypeError(`maxSockets must be a positive integer, got ${String(opts.maxSockets)}`)
  const pool = { keepAlive: true, maxSockets, maxTotalSockets: maxSockets, maxFreeSockets: maxSockets }
  const agent = secure ? new HttpsAgent(pool) : new HttpAgent(pool)
  const up: Upstream = {
    base,
    secure,
    agent,
    prefix: base.pathname.replace(/\/$/, ''),
    timeoutMs: opts.timeoutMs ?? 30_000,
  }

  async function proxy(ctx: Context): Promise<void> {
    const { headers, hasBody } = forwarded(ctx)
    // the middleware may have removed unkeyed query parameters and cookies: forward what the key saw
    relay(ctx, await ask(up, ctx, up.prefix + ctx.url, headers, hasBody))
  }

  return { proxy, upstream: up, close: () => agent.destroy() }
}

/** The request headers the upstream gets, and whether a body goes with them. */
function forwarded(ctx: Context): { headers: OutgoingHttpHeaders; hasBody: boolean } {
  const req = ctx.req
  const headers = forwardingHeaders(req, ctx.protocol, ctx.host)
  // A body is forwarded with explicit framing, never raw: node:http's client frames a body on
  // its own only for methods it expects one on (not GET, DELETE, OPTIONS...), and unframed
  // bytes are read by the upstream as the next request. Content-Length (end to end) is already
  // in `headers`; a chunked body is chunked again under the client's own codings (node:http's
  // parser refuses a request whose last coding is not chunked, so the body is what they say).
  const te = req.headers['transfer-encoding']
  if (te !== undefined) headers['transfer-encoding'] = te
  return { headers, hasBody: carriesBody(req.headers) }
}

/**
 * A request's end-to-end fields as the upstream gets them, for proxied requests and tunnelled
 * upgrades alike: X-Forwarded-For/-Proto/-Host added, the client's own routing claims and (on
 * GET/HEAD) method overrides dropped.
 */
export function forwardingHeaders(req: IncomingMessage, protocol: string, host: string): OutgoingHttpHeaders {
  const headers = endToEnd(req.headers)
  const xff = req.headers['x-forwarded-for']
  const peer = req.socket.remoteAddress ?? ''
  headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${peer}` : peer
  headers['x-forwarded-proto'] = protocol
  // The origin may build links from these; only what the key saw may reach it (T01, T03):
  // the host is the keyed one, and the client's own forwarding claims are dropped.
  headers['x-forwarded-host'] = host
  for (const h of UNKEYED_FORWARDING) delete headers[h]
  if (req.method === 'GET' || req.method === 'HEAD') for (const h of METHOD_OVERRIDES) delete headers[h]
  return headers
}

/** Sends the request upstream; resolves with its response head, rejects with an UpstreamError. */
function ask(
  up: Upstream,
  ctx: Context,
  path: string,
  headers: OutgoingHttpHeaders,
  hasBody: boolean,
): Promise<IncomingMessage> {
  const { base, secure, timeoutMs } = up
  const req = ctx.req
  return new Promise<IncomingMessage>((resolve, reject) => {
    const out = (secure ? httpsRequest : httpRequest)({
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port,
      method: req.method,
      path,
      headers,
      agent: up.agent,
      // the client's Host goes through unchanged; TLS still verifies the upstream's name
      servername: secure ? base.hostname : undefined,
      setHost: false,
    })
    if (headers.host === undefined) out.setHeader('host', base.host)
    const timer = setTimeout(() => {
      out.destroy(new UpstreamError(504, `upstream did not answer within ${timeoutMs} ms`))
    }, timeoutMs)
    // and once it answers, a body that stalls for as long is cut (the response, and every
    // request coalesced on it, must not wait forever)
    out.setTimeout(timeoutMs, () =>
      out.destroy(new UpstreamError(504, `upstream stalled for ${timeoutMs} ms`)),
    )
    out.on('information', (info) => {
      // Node can emit only these informational responses itself (101 is an upgrade, not relayed)
      const res = ctx.res
      if (res.headersSent) return
      if (info.statusCode === 100) res.writeContinue()
      else if (info.statusCode === 102) res.writeProcessing()
      else if (info.statusCode === 103)
        res.writeEarlyHints(endToEnd(info.headers) as Record<string, string | string[]>)
    })
    out.once('response', (res) => {
      clearTimeout(timer)
      resolve(res)
    })
    out.once('error', (err) => {
      clearTimeout(timer)
      reject(
        err instanceof UpstreamError ? err : new UpstreamError(502, `upstream failed: ${err.message}`, err),
      )
    })
    if (hasBody) {
      req.pipe(out)
      req.once('error', (err) => out.destroy(err))
    } else out.end()
  })
}

/** The upstream's response becomes the Koa response (status, end-to-end headers, body). */
function relay(ctx: Context, upstream: IncomingMessage): void {
  ctx.status = upstream.statusCode ?? 502
  for (const [k, v] of Object.entries(endToEnd(upstream.headers))) {
    if (v !== undefined) ctx.set(k, v as string | string[])
  }
  if (
    ctx.method === 'HEAD' ||
    ctx.status === 204 ||
    ctx.status === 304 ||
    (ctx.status >= 100 && ctx.status < 200)
  ) {
    upstream.resume()
    return
  }
  // An upstream that closes mid-response makes this stream fail: the client's response is cut
  // short too (never completed with a truncated body) and the cache stores nothing (RFC 9111 §3.3).
  upstream.once('aborted', () => upstream.destroy(new Error('upstream closed mid-response')))
  const length = upstream.headers['content-length']
  ctx.body = upstream
  if (length !== undefined) ctx.set('Content-Length', length)
}
