/**
 * The Koa middleware: the first matching rule decides (decide.ts), then
 *
 *   pass    ──▶ downstream untouched (no rule)
 *   unsafe  ──▶ downstream, then invalidation of what it changed (RFC 9111 §4.4)
 *   bypass  ──▶ downstream, Cache-Status says why
 *   lookup  ──▶ read (lookup.ts) ──fresh──────────────▶ hit (downstream never runs)
 *                                 ──stale, swr window──▶ served now; one refresh after (refresh.ts)
 *                                 ──otherwise─────────▶ miss.ts: coalesce, ask the origin, store
 *
 * Fail open: a store error, a deadline overrun or a corrupt entry is a miss; writes are started
 * after the application answered and never awaited, so the store never delays a response.
 */
import type { Context, Middleware, Next } from 'koa'
import { invalidateAfterUnsafe, isUnsafe } from '../generation/invalidate.js'
import { fwdStatus, hitStatus } from '../http/cache-status.js'
import { connectionDropped, OWN_TARGETED } from '../http/headers.js'
import { BYPASS_REASONS, bypassReason, HIT, STALE } from '../metrics/counters.js'
import { notedOutcome, type RequestMessage, requestChannel } from '../metrics/trace.js'
import type { Rule } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'
import type { Runtime } from '../runtime.js'
import { Budget } from './budget.js'
import { Coalescer } from './coalesce.js'
import { countBypass, countOutcome, countServed } from './count.js'
import { type Decision, decide, type LookupDecision } from './decide.js'
import { Lookup, NOT_NOW, peekFailOpen, type Read, readFailOpen } from './lookup.js'
import { miss } from './miss.js'
import { kPrefetched, type Prefetched, type RawHit, rawHits, type Stashed } from './raw.js'
import { scheduleRefresh } from './refresh.js'
import { serveEntry, setStatus, ttlSeconds } from './respond.js'
import type { Stages } from './stages.js'

/** The middleware, and (for cachet serve) its hit path below Koa over the same state (raw.ts). */
export interface CachetMiddleware extends Middleware {
  [kRawHit]: RawHit
}

export const kRawHit = Symbol('cachet.rawHit')

export function createMiddleware(rt: Runtime): CachetMiddleware {
  const s: Stages = { rt, lookup: new Lookup(rt), flights: new Coalescer(rt), refreshing: new Set() }
  const { name, metrics, counters } = rt

  // Not async itself: a hit from a store that answers in process returns synchronously (undefined),
  // and koa-compose wraps it; a synchronous throw is a rejection to koa-compose as well.
  const middleware = function cachet(ctx: Context, next: Next): Promise<void> | undefined {
    const pre = (ctx.req as Stashed)[kPrefetched]
    if (pre !== undefined) {
      // decided and read below Koa by cachet serve (raw.ts): continue from there
      ;(ctx.req as Stashed)[kPrefetched] = undefined
      if (requestChannel.hasSubscribers) return traced(s, ctx, next, pre.d, pre.set, pre)
      return lookup(s, ctx, next, pre.d, pre)
    }
    const set = rt.policies.current // read once: this request finishes under this set
    const conn = ctx.req.headers.connection
    // hop-by-hop fields named by Connection are dropped by any proxy downstream: drop them before
    // keying, so the key, the Vary match and the application all see the same request
    if (conn !== undefined && conn !== 'keep-alive' && conn !== 'close') dropConnectionNamed(ctx)
    const d = decide(set, name, ctx, ctx.req.headers)
    // tracing hooks (metrics/trace.ts): one property read when nobody subscribes
    if (requestChannel.hasSubscribers) return traced(s, ctx, next, d, set, undefined)
    return route(s, ctx, next, d, set, undefined)
  } as CachetMiddleware
  middleware[kRawHit] = rawHits(s)
  return middleware

  function route(
    s: Stages,
    ctx: Context,
    next: Next,
    d: Decision,
    set: PolicySet,
    pre: Prefetched | undefined,
  ): Promise<void> | undefined {
    switch (d.kind) {
      case 'lookup':
        return lookup(s, ctx, next, d, pre)
      case 'pass':
        counters.unmatched++
        return isUnsafe(ctx.method) ? forwardUnsafe(rt, ctx, next, set, undefined) : forwardPass(ctx, next)
      case 'unsafe':
        metrics.method++
        countBypass(set.counters[d.rule.index]!, 'method')
        return forwardUnsafe(rt, ctx, next, set, d.rule)
      case 'bypass':
        metrics.bypass++
        countBypass(set.counters[d.rule.index]!, d.detail)
        return forwardBypass(rt, ctx, next, d.detail)
    }
  }

  /** route(), then one cachet:request message, also when downstream threw. */
  async function traced(
    s: Stages,
    ctx: Context,
    next: Next,
    d: Decision,
    set: PolicySet,
    pre: Prefetched | undefined,
  ): Promise<void> {
    const start = performance.now()
    let error: unknown
    let threw = false
    try {
      await route(s, ctx, next, d, set, pre)
    } catch (err) {
      threw = true
      error = err
      throw err
    } finally {
      if (requestChannel.hasSubscribers) {
        const noted =
          d.kind === 'lookup'
            ? notedOutcome(ctx)
            : d.kind === 'pass'
              ? { outcome: null, reason: null }
              : {
                  outcome: 'bypass' as const,
                  reason: d.kind === 'unsafe' ? 'method' : bypassReasonName(d.detail),
                }
        const message: RequestMessage = {
          cache: name,
          rule: d.kind === 'pass' ? null : d.rule.id,
          outcome: noted.outcome,
          reason: noted.reason,
          method: ctx.method,
          url: ctx.url,
          status: ctx.status,
          key: d.kind === 'lookup' ? d.key : null,
          durationMs: performance.now() - start,
          ...(threw ? { error } : {}),
          ctx,
          req: ctx.req,
          res: ctx.res,
        }
        requestChannel.publish(message)
      }
    }
  }
}

/** An unsafe request: downstream, then what it changed is invalidated; Cache-Status when a rule matched. */
async function forwardUnsafe(
  rt: Runtime,
  ctx: Context,
  next: Next,
  set: PolicySet,
  rule: Rule | undefined,
): Promise<void> {
  await next()
  ctx.res.removeHeader(OWN_TARGETED)
  if (rule !== undefined) setStatus(ctx, fwdStatus(rt.name, 'method'))
  if (isUnsafe(ctx.method)) await invalidateAfterUnsafe(rt, ctx, set, rule)
}

/** No rule matched: the application answers; cachet's own targeted field still never goes out. */
async function forwardPass(ctx: Context, next: Next): Promise<void> {
  await next()
  ctx.res.removeHeader(OWN_TARGETED)
}

async function forwardBypass(rt: Runtime, ctx: Context, next: Next, detail: string): Promise<void> {
  await next()
  ctx.res.removeHeader(OWN_TARGETED)
  setStatus(ctx, fwdStatus(rt.name, 'bypass', { detail }))
}

/** hot path: a request a rule caches: a hit, a stale hit, or the miss path. */
function lookup(
  s: Stages,
  ctx: Context,
  next: Next,
  d: LookupDecision,
  pre: Prefetched | undefined,
): Promise<void> | undefined {
  const { rt } = s
  // What the application sees: unkeyed query parameters and cookies removed (T04, T05).
  if (d.removedQuery) stripQuery(ctx, d.querystring)
  if (d.cookie !== undefined) {
    if (d.cookie === null) delete ctx.req.headers.cookie
    else ctx.req.headers.cookie = d.cookie
  }
  // key.normalize: the application and the Vary match see the value the key saw
  const norm = d.normalized
  for (let i = 0; i < norm.length; i++) {
    const [n, v] = norm[i]!
    if (v === null) delete ctx.req.headers[n]
    else ctx.req.headers[n] = v
  }
  // cachet serve read it below Koa (raw.ts) and found no fresh hit it could write itself
  if (pre !== undefined) return answer(s, ctx, next, d, pre.read, pre.readAt)
  const readAt = performance.now() // the request's store budget starts here (budget.ts)
  // a store holding the answer in process (memory, a near hit) answers without a promise
  const r = peekFailOpen(rt, s.lookup, d, ctx.req.headers, readAt)
  if (r !== NOT_NOW) return answer(s, ctx, next, d, r, readAt)
  return readFailOpen(rt, s.lookup, d, ctx.req.headers, readAt).then((r) =>
    answer(s, ctx, next, d, r, readAt),
  )
}

/** hot path: what the read found decides: a hit, a stale hit (stale-while-revalidate), or the miss path. */
function answer(
  s: Stages,
  ctx: Context,
  next: Next,
  d: LookupDecision,
  r: Read | undefined,
  readAt: number,
): Promise<void> | undefined {
  const { rt } = s
  const now = rt.now()
  const entry = r?.entry
  if (entry !== undefined) {
    if (entry.expires > now) {
      rt.metrics.hits++
      serveEntry(ctx, entry, now, hitStatus(rt.name, ttlSeconds(entry, now)))
      countOutcome(d.counters, ctx, HIT)
      countServed(d.counters, ctx, entry)
      return undefined
    }
    if (now - entry.expires < entry.swr && ctx.method === 'GET') {
      // RFC 5861 §3: serve stale at once; one refresh runs after this response is sent
      rt.metrics.staleServed++
      serveEntry(ctx, entry, now, hitStatus(rt.name, ttlSeconds(entry, now)))
      countOutcome(d.counters, ctx, STALE)
      countServed(d.counters, ctx, entry)
      scheduleRefresh(s, ctx, next, d, entry)
      return undefined
    }
  }
  rt.metrics.misses++
  const fwd = r === undefined ? 'miss' : entry !== undefined ? 'stale' : r.varyMiss ? 'vary-miss' : 'uri-miss'
  return miss(s, ctx, next, d, entry, fwd, r, new Budget(readAt, rt.readDeadlineMs))
}

/**
 * The application must not see a removed parameter anywhere: not in ctx.query/ctx.querystring
 * (ctx.url), nor in ctx.originalUrl, ctx.href or ctx.URL, which canonical links are built from.
 */
function stripQuery(ctx: Context, querystring: string): void {
  ctx.querystring = querystring
  const orig = ctx.originalUrl
  const q = orig.indexOf('?')
  const rewritten = (q === -1 ? orig : orig.slice(0, q)) + (querystring === '' ? '' : `?${querystring}`)
  ctx.originalUrl = rewritten
  ctx.request.originalUrl = rewritten
  ;(ctx.request as unknown as { memoizedURL?: unknown }).memoizedURL = undefined
}

function dropConnectionNamed(ctx: Context): void {
  const h = ctx.req.headers
  for (const n of connectionDropped(h.connection)) delete h[n]
}

/** decide.ts' detail as stats' bypass reason ("other" for one outside the list). */
function bypassReasonName(detail: string): string {
  return BYPASS_REASONS[bypassReason(detail)]!
}
