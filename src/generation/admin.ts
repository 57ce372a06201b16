/**
 * The optional purge endpoint: `app.use(cache.admin({ path: '/_cachet/purge', token }))`.
 * POST a JSON body `{ "tags": [...], "urls": [...], "rules": [...], "all": true }` with
 * `Authorization: Bearer <token>`. Missing or malformed credentials → 401, a wrong token → 403
 * (compared in constant time), anything but POST → 405. Its answers are never stored
 * (`Cache-Control: no-store`), and it answers before the cache middleware when mounted first.
 *
 * It holds against abusive clients: wrong tokens lock the client address out (429 with
 * Retry-After, see ./auth-failures.ts), a body larger than `maxBodyBytes` is answered 413 and one
 * slower than `bodyTimeoutMs` 408, and every refusal that leaves a body unread closes the
 * connection rather than reading it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Context, Middleware, Next } from 'koa'
import { AuthFailures, MAX_LOCKOUT_MS } from './auth-failures.js'
import type { PurgeRequest, PurgeResult } from './purge.js'

export interface AdminOptions {
  /** where the endpoint answers (exact path). @default "/_cachet/purge" */
  path?: string
  /** the bearer token; at least 16 characters */
  token: string
  /** largest accepted body, bytes: a larger one is answered 413 and the connection closed. @default 65536 */
  maxBodyBytes?: number
  /**
   * a body not wholly received within this many ms of the request being authorised is answered
   * 408 and the connection closed (a client dribbling its body holds nothing longer). @default 10000
   */
  bodyTimeoutMs?: number
  /**
   * wrong tokens one client address may send before it is locked out: from then on, for
   * `lockoutMs`, it is answered `429 Too Many Requests` with `Retry-After`, whatever it sends (the
   * right token too). The address is Koa's `ctx.ip`: the socket's peer, unless the app sets
   * `app.proxy = true`, when it is taken from `X-Forwarded-For` (then also set
   * `app.maxIpsCount = 1`, so it is the entry your own proxy appended and not one the client
   * wrote). Behind a proxy without `app.proxy`, every client shares the proxy's address, and so
   * its lockouts. Requests with the right token are never counted nor limited. @default 10
   */
  maxFailures?: number
  /** the first lockout of an address, ms; each further one doubles, up to one hour. @default 60000 */
  lockoutMs?: number
  /**
   * client addresses remembered (IPv6 counted by /64), about 100 bytes each; beyond it the least
   * recently failed is forgotten. An address is also forgotten an hour after its last failure or
   * lockout. @default 10000
   */
  maxClients?: number
  /** the clock lockouts are measured by (tests). @default Date */
  clock?: { now(): number }
}

const sha = (s: string) => createHash('sha256').update(s).digest()

function positive(name: string, v: number | undefined, d: number): number {
  if (v === undefined) return d
  if (!Number.isInteger(v) || v < 1)
    throw new TypeError(`admin ${name} option must be a positive integer, got ${String(v)}`)
  return v
}

export function createAdmin(
  purge: (what: PurgeRequest) => Promise<PurgeResult>,
  opts: AdminOptions,
): Middleware {
  if (typeof opts?.token !== 'string' || opts.token.length < 16)
    throw new TypeError('admin token option must be a string of at least 16 characters')
  const path = opts.path ?? '/_cachet/purge'
  if (!path.startsWith('/'))
    throw new TypeError(`admin path option must start with "/", got ${JSON.stringify(path)}`)
  const expected = sha(opts.token)
  const maxBody = positive('maxBodyBytes', opts.maxBodyBytes, 65536)
  const bodyTimeoutMs = positive('bodyTimeoutMs', opts.bodyTimeoutMs, 10_000)
  const failures = new AuthFailures({
    maxFailures: positive('maxFailures', opts.maxFailures, 10),
    lockoutMs: Math.min(positive('lockoutMs', opts.lockoutMs, 60_000), MAX_LOCKOUT_MS),
    maxClients: positive('maxClients', opts.maxClients, 10_000),
    clock: opts.clock ?? Date,
  })

  return async function cachetAdmin(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== path) return next()
    ctx.set('Cache-Control', 'no-store')
    const address = ctx.ip || 'unknown'
    const wait = failures.lockedFor(address)
    if (wait > 0) {
      // RFC 6585 §4; Retry-After in whole seconds, rounded up (RFC 9110 §10.2.3)
      ctx.set('Retry-After', String(Math.ceil(wait / 1000)))
      return refuse(ctx, 429, { error: 'too many wrong tokens from this address: retry later' })
    }
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST')
      return refuse(ctx, 405, { error: 'use POST' })
    }
    const auth = ctx.get('authorization')
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(auth)
    if (!m) {
      ctx.set('WWW-Authenticate', 'Bearer realm="cachet"')
      return refuse(ctx, 401, { error: 'missing bearer token' })
    }
    // constant time: compare fixed-length digests, so neither length nor prefix leaks
    if (!timingSafeEqual(sha(m[1]!), expected)) {
      failures.fail(address)
      return refuse(ctx, 403, { error: 'wrong token' })
    }
    let body: PurgeRequest
    try {
      // a body parser mounted earlier may have read the body already: use what it parsed
      const parsed = (ctx.request as unknown as { body?: unknown }).body
      if (parsed !== undefined && typeof parsed === 'object' && parsed !== null && !Buffer.isBuffer(parsed))
        body = parsed as PurgeRequest
      else if (ctx.req.readableEnded)
        throw new Error('the request body was already consumed and not parsed as JSON')
      else {
        const length = ctx.req.headers['content-length']
        // refused before a byte is read when the client says up front (RFC 9110 §15.5.14)
        if (length !== undefined && Number(length) > maxBody) return tooLarge(ctx, maxBody)
        const read = await readBody(ctx.req, maxBody, bodyTimeoutMs)
        if (read === 413) return tooLarge(ctx, maxBody)
        if (read === 408) {
          ctx.set('Connection', 'close')
          return answer(ctx, 408, { error: `the body did not arrive within ${bodyTimeoutMs} ms` })
        }
        body = JSON.parse(read || '{}') as PurgeRequest
      }
    } catch (err) {
      return answer(ctx, 400, {
        error: `body must be JSON { tags?, urls?, rules?, all? }: ${(err as Error).message}`,
      })
    }
    try {
      const result = await purge(body)
      return answer(ctx, 200, { ok: true, ...result })
    } catch (err) {
      if (err instanceof TypeError) return answer(ctx, 400, { error: err.message })
      // the purge could not be recorded: never claim success
      return answer(ctx, 503, { ok: false, error: (err as Error).message })
    }
  }
}

function answer(ctx: Context, status: number, body: object): void {
  ctx.status = status
  ctx.body = body
}

/**
 * A refusal before the body is read. node:http would otherwise read and discard whatever body
 * follows to keep the connection (as long as the client cares to send it): an unauthorised
 * client gets nothing read on its behalf, the connection is closed instead.
 */
function refuse(ctx: Context, status: number, body: object): void {
  const h = ctx.req.headers
  if (
    !ctx.req.readableEnded &&
    (h['transfer-encoding'] !== undefined ||
      (h['content-length'] !== undefined && h['content-length'] !== '0'))
  ) {
    ctx.set('Connection', 'close')
  }
  answer(ctx, status, body)
}

/** 413, named as RFC 9110 §15.5.14 does; the rest of the body is not read, the connection closes. */
function tooLarge(ctx: Context, max: number): void {
  ctx.set('Connection', 'close')
  answer(ctx, 413, { error: `the body is larger than ${max} bytes` })
  ctx.message = 'Content Too Large'
}

/**
 * The body as text, or 413 once more than `max` bytes arrived (a chunked body has no length to
 * check up front), or 408 when it has not all arrived within `timeoutMs`. On 413 and 408 the
 * request stops being read; the caller answers and closes.
 */
function readBody(req: IncomingMessage, max: number, timeoutMs: number): Promise<string | 408 | 413> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const settle = (r: string | 408 | 413 | Error) => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', settle)
      if (r instanceof Error) reject(r)
      else {
        if (typeof r === 'number') req.pause()
        resolve(r)
      }
    }
    const onData = (c: Buffer) => {
      size += c.length
      if (size > max) settle(413)
      else chunks.push(c)
    }
    const onEnd = () => settle(Buffer.concat(chunks).toString('utf8'))
    const timer = setTimeout(() => settle(408), timeoutMs)
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', settle)
  })
}
