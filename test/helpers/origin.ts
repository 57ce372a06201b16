/**
 * The "origin" behind the cache, after varnishtest's `server s1 { rxreq; txresp }` and
 * nginx-tests' numbered responses: every handler counts its calls (per path) and numbers its
 * responses, so a test asserts how many requests went through and which response it was given.
 *
 * `startSite()` puts it behind a real cachet middleware on a real listening Koa server.
 */
import Koa, { type Context, type Middleware } from 'koa'
import { type Cache, createCache } from '../../src/create-cache.js'
import type { Logger, StoreOption } from '../../src/options.js'
import { eventually, type HttpResponse, listen, type RequestOptions, request } from './http.js'

/** `n` is this path's call number, from 1. */
export type Handler = (ctx: Context, n: number) => unknown

export interface Origin {
  /** mount after the cache middleware */
  readonly middleware: Middleware
  /** handles one exact path, or every path a RegExp matches (first registered wins) */
  route(path: string | RegExp, handler: Handler): Origin
  /** how many requests for this path reached the origin */
  calls(path: string): number
  /** requests that reached the origin, all paths */
  readonly total: number
}

/**
 * The default response: text/plain, `#<n> <method> <url> cookie=<Cookie>`, numbered in
 * `X-Origin-Call`, with an ETag and a custom header. It shows what the application saw.
 */
export const echo: Handler = (ctx, n) => {
  ctx.set('X-Origin-Call', String(n))
  ctx.set('X-Custom', 'custom value')
  ctx.set('ETag', `"${n}"`)
  ctx.type = 'text/plain; charset=utf-8'
  ctx.body = `#${n} ${ctx.method} ${ctx.url} cookie=${ctx.get('cookie')}`
}

export function createOrigin(): Origin {
  const routes: { path: string | RegExp; handler: Handler }[] = []
  const counts = new Map<string, number>()
  let total = 0
  const origin: Origin = {
    async middleware(ctx) {
      const n = (counts.get(ctx.path) ?? 0) + 1
      counts.set(ctx.path, n)
      total++
      const r = routes.find((x) => (typeof x.path === 'string' ? x.path === ctx.path : x.path.test(ctx.path)))
      await (r?.handler ?? echo)(ctx, n)
    },
    route(path, handler) {
      routes.push({ path, handler })
      return origin
    },
    calls: (path) => counts.get(path) ?? 0,
    get total() {
      return total
    },
  }
  return origin
}

export interface SiteOptions {
  /** a policy folder (see policies.ts) */
  policies: string
  store?: StoreOption
  /** Koa's app.proxy: trust X-Forwarded-* */
  proxy?: boolean
  name?: string
  watch?: boolean
  watchDebounceMs?: number
  /** use this cache instead of creating one (it is then not closed by `close()`) */
  cache?: Cache
}

export interface Site {
  readonly cache: Cache
  readonly origin: Origin
  readonly app: Koa
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** `127.0.0.1:PORT`: the Host the client sends by default */
  readonly host: string
  /** everything cachet logged (warnings, errors, info) */
  readonly logs: string[]
  /** errors Koa reported (app 'error' events) */
  readonly appErrors: unknown[]
  get(target: string, opts?: RequestOptions): Promise<HttpResponse>
  /** the key a GET for `target` (a path, or an absolute URL for another scheme/host) would use
   *  (via cache.explain), or null when it would not be looked up */
  key(target: string, headers?: Record<string, string>): string | null
  /** resolves once the GET entry for `target` is in the store (writes are fire-and-forget) */
  waitStored(target: string, headers?: Record<string, string>): Promise<void>
  /** whether the GET entry for `target` is in the store now */
  isStored(target: string, headers?: Record<string, string>): Promise<boolean>
  close(): Promise<void>
}

export async function startSite(opts: SiteOptions): Promise<Site> {
  const logs: string[] = []
  const logger: Logger = {
    error: (m) => {
      logs.push(`error: ${m}`)
    },
    warn: (m) => {
      logs.push(`warn: ${m}`)
    },
    info: (m) => {
      logs.push(`info: ${m}`)
    },
    debug: () => {},
  }
  const cache =
    opts.cache ??
    (await createCache({
      policies: opts.policies,
      ...(opts.store !== undefined ? { store: opts.store } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.watch !== undefined ? { watch: opts.watch } : {}),
      ...(opts.watchDebounceMs !== undefined ? { watchDebounceMs: opts.watchDebounceMs } : {}),
      logger,
    }))
  const origin = createOrigin()
  const app = new Koa()
  app.proxy = opts.proxy ?? false
  const appErrors: unknown[] = []
  app.on('error', (err: unknown) => {
    appErrors.push(err)
  })
  app.use(cache.middleware())
  app.use(origin.middleware)
  const srv = await listen(app)
  const host = `127.0.0.1:${srv.port}`

  // an absolute target (`https://h/p`) names its own scheme and host, as app.proxy would see them
  const key = (target: string, headers: Record<string, string> = {}) =>
    cache.explain({
      method: 'GET',
      url: target,
      headers: /^https?:\/\//.test(target) ? headers : { host, ...headers },
    }).key
  const isStored = async (target: string, headers?: Record<string, string>) => {
    const k = key(target, headers)
    if (k === null) throw new Error(`GET ${target} is not looked up in the cache (explain gives no key)`)
    return (await cache.store.get(k).catch(() => undefined)) !== undefined
  }

  return {
    cache,
    origin,
    app,
    url: srv.url,
    host,
    logs,
    appErrors,
    get: (target, o) => request(srv.url + target, o),
    key,
    isStored,
    waitStored: (target, headers) =>
      eventually(() => isStored(target, headers), `entry for GET ${target} stored`),
    async close() {
      await srv.close()
      if (!opts.cache) await cache.close()
    },
  }
}

/** The `ttl=` of a hit's Cache-Status, or NaN. */
export function hitTtl(res: HttpResponse): number {
  const m = /^cachet; hit; ttl=(-?\d+)$/.exec(res.headers['cache-status'] ?? '')
  return m ? Number(m[1]) : NaN
}

/**
 * Starts sites and closes every one of them, so a failing assertion never leaves a server (or a
 * Redis connection) open and the test file still exits: `s.after.each(sites.closeAll)`.
 */
export function siteTracker(): { start(opts: SiteOptions): Promise<Site>; closeAll(): Promise<void> } {
  const open: Site[] = []
  return {
    async start(opts) {
      const site = await startSite(opts)
      open.push(site)
      return site
    },
    async closeAll() {
      const all = open.splice(0)
      await Promise.all(all.map((s) => s.close()))
    },
  }
}

/** The Cache-Status of a response, exactly as sent (the README's shapes: `cachet; fwd=uri-miss; stored`). */
export function cs(res: HttpResponse): string | undefined {
  return res.headers['cache-status']
}
