/**
 * `cache.admin({ path, token })`, mounted before `cache.middleware()`: the purge endpoint, the
 * status console and the data it draws, all under one path P (default `/_cachet`).
 *
 * | route              | methods   | token                      | answers                         |
 * |--------------------|-----------|----------------------------|---------------------------------|
 * | `P`                | POST      | yes                        | purge (the endpoint's first form) |
 * | `P/`               | GET, HEAD | no (the page holds no data) | the console page               |
 * | `P/console.js|css` | GET, HEAD | no                         | the page's script and style     |
 * | `P/stats`          | GET, HEAD | yes, unless publicMetrics  | `cache.stats()` as JSON         |
 * | `P/metrics`        | GET, HEAD | yes, unless publicMetrics  | Prometheus text                 |
 * | `P/explain`        | POST      | yes                        | `cache.explain(body)`           |
 * | `P/purge`          | POST      | yes                        | purge                           |
 *
 * Anything else under `P/` is 404; a route's other methods 405 with `Allow`. The token travels in
 * `Authorization: Bearer <token>` only, never in a cookie, so another site cannot make a browser
 * send it (CSRF); no CORS header is ever sent. Missing or malformed credentials → 401, a wrong
 * token → 403 (compared in constant time). Every answer is `Cache-Control: no-store`, `nosniff`
 * and under a strict Content-Security-Policy (./assets.ts).
 *
 * It holds against abusive clients: wrong tokens lock the client address out of every route that
 * needs the token (429 with Retry-After, see ../generation/auth-failures.ts), a body larger than
 * `maxBodyBytes` is answered 413 and one slower than `bodyTimeoutMs` 408, and every refusal that
 * leaves a body unread closes the connection rather than reading it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Context, Middleware, Next } from 'koa'
import { AuthFailures, MAX_LOCKOUT_MS } from '../generation/auth-failures.js'
import type { PurgeRequest, PurgeResult } from '../generation/purge.js'
import type { CacheStats } from '../metrics/stats.js'
import type { ExplainRequest, Explanation } from '../request/explain.js'
import { CONTENT_SECURITY_POLICY, consoleAssets } from './assets.js'
import { answer, jsonBody, refuse } from './http.js'
import { type AdminOptions, resolveAdminOptions } from './options.js'

/**
 * What the admin routes call: the cache's own methods, injected (tests, and no import of the
 * cache), or asked of other processes (`cachet serve --workers N`: the primary asks its workers,
 * whence the promises; one that rejects is answered 503).
 */
export interface AdminDeps {
  purge(what: PurgeRequest): Promise<PurgeResult>
  explain(req: ExplainRequest): Explanation | Promise<Explanation>
  stats(): CacheStats | Promise<CacheStats>
  /** the Prometheus text exposition format 0.0.4 */
  prometheus(): string | Promise<string>
}

/** 503 when what the route reports could not be had (a worker that did not answer). */
async function report(ctx: Context, get: () => unknown): Promise<unknown> {
  try {
    return await get()
  } catch (err) {
    answer(ctx, 503, { error: (err as Error).message })
    return undefined
  }
}

type Route =
  | { readonly kind: 'asset'; readonly name: string }
  | { readonly kind: 'stats' | 'metrics' | 'explain' | 'purge' }

const GET: readonly string[] = ['GET', 'HEAD']
const POST: readonly string[] = ['POST']

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

const sha = (s: string) => createHash('sha256').update(s).digest()

export function createAdmin(deps: AdminDeps, opts: AdminOptions): Middleware {
  const o = resolveAdminOptions(opts)
  const { path, maxBodyBytes, bodyTimeoutMs } = o
  const expected = sha(o.token)
  const failures = new AuthFailures({
    maxFailures: o.maxFailures,
    lockoutMs: Math.min(o.lockoutMs, MAX_LOCKOUT_MS),
    maxClients: o.maxClients,
    clock: o.clock,
  })
  const assets = consoleAssets()
  const prefix = `${path}/`

  /** The route of a path under `<path>/`, or undefined (404). */
  const routeOf = (rest: string): Route | undefined => {
    if (assets.has(rest)) return { kind: 'asset', name: rest }
    switch (rest) {
      case 'stats':
      case 'metrics':
      case 'explain':
      case 'purge':
        return { kind: rest }
      default:
        return undefined
    }
  }

  /**
   * The gate of a route that needs the token: lockout (429), then method (405), then credentials
   * (401, 403), in that order, as the purge endpoint always did. False when it answered.
   */
  const admitted = (ctx: Context, methods: readonly string[], needsToken: boolean): boolean => {
    const address = ctx.ip || 'unknown'
    if (needsToken) {
      const wait = failures.lockedFor(address)
      if (wait > 0) {
        // RFC 6585 §4; Retry-After in whole seconds, rounded up (RFC 9110 §10.2.3)
        ctx.set('Retry-After', String(Math.ceil(wait / 1000)))
        refuse(ctx, 429, { error: 'too many wrong tokens from this address: retry later' })
        return false
      }
    }
    if (!methods.includes(ctx.method)) {
      ctx.set('Allow', methods.join(', '))
      refuse(ctx, 405, { error: `use ${methods.join(' or ')}` })
      return false
    }
    if (!needsToken) return true
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(ctx.get('authorization'))
    if (!m) {
      ctx.set('WWW-Authenticate', 'Bearer realm="cachet"')
      refuse(ctx, 401, { error: 'missing bearer token' })
      return false
    }
    // constant time: compare fixed-length digests, so neither length nor prefix leaks
    if (!timingSafeEqual(sha(m[1]!), expected)) {
      failures.fail(address)
      refuse(ctx, 403, { error: 'wrong token' })
      return false
    }
    return true
  }

  const purge = async (ctx: Context): Promise<void> => {
    if (!admitted(ctx, POST, true)) return
    let body: PurgeRequest
    try {
      const read = await jsonBody(ctx, maxBodyBytes, bodyTimeoutMs)
      if (read === 'answered') return
      body = read.value as PurgeRequest
    } catch (err) {
      return answer(ctx, 400, {
        error: `body must be JSON { tags?, urls?, rules?, all? }: ${(err as Error).message}`,
      })
    }
    try {
      const result = await deps.purge(body)
      return answer(ctx, 200, { ok: true, ...result })
    } catch (err) {
      if (err instanceof TypeError) return answer(ctx, 400, { error: err.message })
      // the purge could not be recorded: never claim success
      return answer(ctx, 503, { ok: false, error: (err as Error).message })
    }
  }

  const explain = async (ctx: Context): Promise<void> => {
    if (!admitted(ctx, POST, true)) return
    let req: ExplainRequest
    try {
      const read = await jsonBody(ctx, maxBodyBytes, bodyTimeoutMs)
      if (read === 'answered') return
      req = explainRequest(read.value)
    } catch (err) {
      return answer(ctx, 400, {
        error: `body must be JSON { method?, url, headers? }: ${(err as Error).message}`,
      })
    }
    const explained = await report(ctx, () => deps.explain(req))
    if (explained !== undefined) answer(ctx, 200, explained as Explanation)
  }

  return async function cachetAdmin(ctx: Context, next: Next): Promise<void> {
    const p = ctx.path
    if (p !== path && !p.startsWith(prefix)) return next()
    ctx.set('Cache-Control', 'no-store')
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin')
    if (p === path) {
      // a browser opening the bare path is sent to the console; everything else is the purge endpoint
      if ((ctx.method === 'GET' || ctx.method === 'HEAD') && /\btext\/html\b/.test(ctx.get('accept'))) {
        // relative, so that it holds under a mount prefix (koa-mount strips it from ctx.path)
        ctx.status = 308
        ctx.redirect(`${p.slice(p.lastIndexOf('/') + 1)}/`)
        return
      }
      return purge(ctx)
    }
    const route = routeOf(p.slice(prefix.length))
    if (route === undefined) return refuse(ctx, 404, { error: `no admin route ${p}` })
    switch (route.kind) {
      case 'asset': {
        if (!admitted(ctx, GET, false)) return
        const a = assets.get(route.name)!
        ctx.type = a.type
        ctx.body = a.body
        if (route.name === '') {
          ctx.set('X-Frame-Options', 'DENY') // for browsers that predate frame-ancestors
          ctx.set('Cross-Origin-Opener-Policy', 'same-origin')
        }
        return
      }
      case 'stats': {
        if (!admitted(ctx, GET, !o.publicMetrics)) return
        const stats = await report(ctx, () => deps.stats())
        if (stats !== undefined) answer(ctx, 200, stats as CacheStats)
        return
      }
      case 'metrics': {
        if (!admitted(ctx, GET, !o.publicMetrics)) return
        const text = await report(ctx, () => deps.prometheus())
        if (text === undefined) return
        ctx.status = 200
        ctx.type = PROMETHEUS_TYPE
        ctx.body = text as string
        return
      }
      case 'explain':
        return explain(ctx)
      case 'purge':
        return purge(ctx)
    }
  }
}

/** The explain body, checked: `{ method?: string, url: string, headers?: { name: string | string[] } }`. */
function explainRequest(v: unknown): ExplainRequest {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError('expected an object')
  const { method, url, headers, ...rest } = v as Record<string, unknown>
  const extra = Object.keys(rest)
  if (extra.length > 0) throw new TypeError(`unknown field ${JSON.stringify(extra[0])}`)
  if (typeof url !== 'string' || url === '') throw new TypeError('url must be a non-empty string')
  if (method !== undefined && (typeof method !== 'string' || !/^[A-Za-z]{1,20}$/.test(method)))
    throw new TypeError('method must be a word such as "GET"')
  const h: Record<string, string | string[]> = {}
  if (headers !== undefined) {
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers))
      throw new TypeError('headers must be an object of name → value')
    for (const [name, value] of Object.entries(headers)) {
      const ok =
        typeof value === 'string' || (Array.isArray(value) && value.every((x) => typeof x === 'string'))
      if (!ok) throw new TypeError(`header ${JSON.stringify(name)} must be a string or an array of strings`)
      h[name] = value as string | string[]
    }
  }
  return { url, ...(method !== undefined ? { method } : {}), headers: h }
}
