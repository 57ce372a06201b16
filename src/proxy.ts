/**
 * The origin side of `cachet serve`: a streaming reverse-proxy handler. It forwards every method
 * with its body, any status (299, 999…), unknown headers both ways, strips hop-by-hop fields
 * (RFC 9110 §7.6.1), keeps the client's Host, appends X-Forwarded-For / -Proto, and relays 1xx
 * informational responses where Node allows (100, 102, 103).
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import type { Context } from 'koa'
import { CachetError } from './errors.js'

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
  // not hop-by-hop, but never meant for an origin: CGI-style stacks read it as HTTP_PROXY
  // ("httpoxy", CVE-2016-5385)
  'proxy',
])

/** Client-supplied routing claims an origin might trust; never part of a key (T03). */
const UNKEYED_FORWARDING = ['forwarded', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-scheme', 'x-forwarded-server', 'x-host', 'x-original-url', 'x-rewrite-url']
/** CPDoS-HMO: a GET turned into a DELETE by the origin's method-override support (T20). */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override']

export interface ProxyOptions {
  /** the origin, e.g. http://127.0.0.1:8080 (a path prefix is prepended to every request path) */
  upstream: string
  /** no response headers from the upstream within this many ms → 504. @default 30000 */
  timeoutMs?: number
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
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean))
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue
    out[k] = v
  }
  return out
}

export function createProxy(opts: ProxyOptions) {
  const base = new URL(opts.upstream)
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`upstream must be an http:// or https:// URL, got ${opts.upstream}`)
  const secure = base.protocol === 'https:'
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true })
  const prefix = base.pathname.replace(/\/$/, '')
  const timeoutMs = opts.timeoutMs ?? 30_000

  async function proxy(ctx: Context): Promise<void> {
    const req = ctx.req
    const headers = endToEnd(req.headers)
    const xff = req.headers['x-forwarded-for']
    const peer = req.socket.remoteAddress ?? ''
    headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${peer}` : peer
    headers['x-forwarded-proto'] = ctx.protocol
    // The origin may build links from these; only what the key saw may reach it (T01, T03):
    // the host is the keyed one, and the client's own forwarding claims are dropped.
    headers['x-forwarded-host'] = ctx.host
    for (const h of UNKEYED_FORWARDING) delete headers[h]
    if (req.method === 'GET' || req.method === 'HEAD') for (const h of METHOD_OVERRIDES) delete headers[h]
    // the middleware may have removed unkeyed query parameters and cookies: forward what the key saw
    const path = prefix + ctx.url
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined

    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = (secure ? httpsRequest : httpRequest)({
        protocol: base.protocol, hostname: base.hostname, port: base.port, method: req.method, path, headers, agent,
        // the client's Host goes through unchanged (api.md); TLS still verifies the upstream's name
        servername: secure ? base.hostname : undefined,
        setHost: false,
      })
      if (headers.host === undefined) out.setHeader('host', base.host)
      const timer = setTimeout(() => { out.destroy(new UpstreamError(504, `upstream did not answer within ${timeoutMs} ms`)) }, timeoutMs)
      // and once it answers, a body that stalls for as long is cut (the response, and every
      // request coalesced on it, must not wait forever)
      out.setTimeout(timeoutMs, () => out.destroy(new UpstreamError(504, `upstream stalled for ${timeoutMs} ms`)))
      out.on('information', (info) => {
        // Node can emit only these informational responses itself (101 is an upgrade, not relayed)
        const res = ctx.res
        if (res.headersSent) return
        if (info.statusCode === 100) res.writeContinue()
        else if (info.statusCode === 102) res.writeProcessing()
        else if (info.statusCode === 103) res.writeEarlyHints(endToEnd(info.headers) as Record<string, string | string[]>)
      })
      out.once('response', (res) => { clearTimeout(timer); resolve(res) })
      out.once('error', (err) => {
        clearTimeout(timer)
        reject(err instanceof UpstreamError ? err : new UpstreamError(502, `upstream failed: ${err.message}`, err))
      })
      if (hasBody) {
        req.pipe(out)
        req.once('error', (err) => out.destroy(err))
      } else out.end()
    })

    ctx.status = upstream.statusCode ?? 502
    for (const [k, v] of Object.entries(endToEnd(upstream.headers))) {
      if (v !== undefined) ctx.set(k, v as string | string[])
    }
    if (ctx.method === 'HEAD' || ctx.status === 204 || ctx.status === 304 || (ctx.status >= 100 && ctx.status < 200)) {
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

  return { proxy, close: () => agent.destroy() }
}
