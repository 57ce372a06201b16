/**
 * The miss path: a request the cache cannot answer from a fresh entry (none, or a stale one that
 * may not be served as is). One request per key asks the origin (coalesce.ts); what comes back is
 * stored (capture.ts), freshens the stale entry (revalidate.ts), or gives way to the stale one.
 *
 *   follower ──▶ the leader's entry, when usable here; else asks the origin itself
 *   leader   ──▶ fleet lock (else the peer's entry) ─▶ read again ─▶ tokens ─▶ ask the origin
 *            ──▶ 304-same: freshen · 304-other: serve stale, drop it · 5xx/throw in the
 *                stale-if-error window: serve stale · otherwise capture
 */
import type { Context, Next } from 'koa'
import { compatibleTokens, sameTokens } from '../generation/keys.js'
import { fwdStatus, hitStatus } from '../http/cache-status.js'
import { notModified } from '../http/conditional.js'
import { OWN_TARGETED } from '../http/headers.js'
import { matchesVariant, storageKey } from '../key/variant.js'
import { COLLAPSED, REVALIDATED, STALE, STALE_IF_ERROR } from '../metrics/counters.js'
import type { Budget } from './budget.js'
import { capture } from './capture.js'
import type { Flight, Outcome } from './coalesce.js'
import { countMiss, countOutcome, countServed } from './count.js'
import type { LookupDecision } from './decide.js'
import type { Entry } from './entry.js'
import type { Read } from './lookup.js'
import { askOrigin, errorStatus, type OriginAnswer, unreachable } from './origin.js'
import { answerRangeFromResponse, clearResponse, serveEntry, setStatus, ttlSeconds } from './respond.js'
import { freshen } from './revalidate.js'
import type { Stages } from './stages.js'

/**
 * `fwd`: the Cache-Status reason (uri-miss, vary-miss, stale, miss); `read`: what the lookup
 * found, undefined when the store could not answer; `budget`: what is left of the request's
 * store deadline, shared by every store call below that the response waits on.
 */
export async function miss(
  s: Stages,
  ctx: Context,
  next: Next,
  d: LookupDecision,
  stale: Entry | undefined,
  fwd: string,
  read: Read | undefined,
  budget: Budget,
): Promise<void> {
  const { rt } = s
  // HEAD never creates the GET entry (T27): forward it and store nothing.
  if (ctx.method === 'HEAD') {
    await next()
    setStatus(ctx, fwdStatus(rt.name, fwd, { detail: read === undefined ? 'store-unavailable' : undefined }))
    countMiss(d.counters, ctx, read === undefined)
    return
  }
  const pending = s.flights.pending(d.key)
  if (pending !== undefined) {
    // in-process coalescing, also while the store is down (T58: the origin stays protected)
    if (await budget.notCounting(() => follow(s, ctx, d, pending, fwd, read))) return
    // the shared response turned out unusable here (uncacheable, other variant): ask ourselves (T59)
    await fromOrigin(s, ctx, next, d, stale, fwd, read, budget)
    return
  }
  const flight = s.flights.lead(d.key)
  let outcome: Outcome | Promise<Outcome> = null
  try {
    const found = await served(s, ctx, d, flight, stale, read, budget)
    if (found !== undefined) {
      rt.metrics.collapsed++
      const now = rt.now()
      serveEntry(
        ctx,
        found.entry,
        now,
        found.peer
          ? fwdStatus(rt.name, fwd, { collapsed: true })
          : hitStatus(rt.name, ttlSeconds(found.entry, now)),
      )
      countOutcome(d.counters, ctx, COLLAPSED)
      countServed(d.counters, ctx, found.entry)
      outcome = found.entry
      return
    }
    outcome = (await fromOrigin(s, ctx, next, d, stale, fwd, read, budget)).outcome
  } finally {
    flight.settle(outcome)
  }
}

/** A follower: served the leader's entry when it is usable for this request (true), else not. */
async function follow(
  s: Stages,
  ctx: Context,
  d: LookupDecision,
  pending: Promise<Outcome>,
  fwd: string,
  read: Read | undefined,
): Promise<boolean> {
  const { rt } = s
  const e = await s.flights.follow(pending)
  // usable only if it is fresh, matches this request's Vary, and no purge came between the
  // leader's fetch and this request's own read (its tokens are the current ones we saw)
  if (e == null || e.expires <= rt.now()) return false
  if (e.variant !== null && !matchesVariant(e.variant, (n) => ctx.get(n), d.rule.key.varyUnordered))
    return false
  if (read !== undefined && !compatibleTokens(e.tokens, read.tokens)) return false
  rt.metrics.collapsed++
  const detail = read === undefined ? 'store-unavailable' : undefined
  serveEntry(ctx, e, rt.now(), fwdStatus(rt.name, fwd, { collapsed: true, detail }))
  countOutcome(d.counters, ctx, COLLAPSED)
  countServed(d.counters, ctx, e)
  return true
}

/**
 * The leader, before asking the origin: an entry another instance (holding the fleet lock) or a
 * flight that just finished has stored meanwhile, if any.
 */
async function served(
  s: Stages,
  ctx: Context,
  d: LookupDecision,
  flight: Flight,
  stale: Entry | undefined,
  read: Read | undefined,
  budget: Budget,
): Promise<{ entry: Entry; peer: boolean } | undefined> {
  const { rt } = s
  if (!(await flight.lock(budget))) {
    const e = await budget.notCounting(() =>
      flight.awaitPeer(async () => (await s.lookup.read(d, ctx.req.headers)).entry),
    )
    if (e !== undefined) return { entry: e, peer: true }
  }
  if (stale !== undefined || read === undefined) return undefined
  // Read once more as the leader: a flight that finished between our read and now has stored
  // its entry (it settles only after the write), and must not be fetched again.
  const again = await budget
    .run(() => s.lookup.read(d, ctx.req.headers), 'second read')
    .catch(() => undefined)
  const e = again?.entry
  return e !== undefined && e.expires > rt.now() ? { entry: e, peer: false } : undefined
}

/**
 * The miss path proper: asks the origin and acts on its answer; resolves with what coalesced
 * requests get, wrapped: an entry still being stored is a promise that settles only after this
 * response has gone out.
 */
async function fromOrigin(
  s: Stages,
  ctx: Context,
  next: Next,
  d: LookupDecision,
  stale: Entry | undefined,
  fwd: string,
  read: Read | undefined,
  budget: Budget,
): Promise<{ readonly outcome: Outcome | Promise<Outcome> }> {
  const { rt } = s
  // A read that failed does not mean a write will: try (within what is left of the budget) so
  // that a failed moment does not turn every leader into an uncached fetch.
  let tokens: readonly string[] | null = null
  if (rt.store.ready) {
    tokens = await budget
      .run(() => s.lookup.tokensFor(d), 'token read')
      .catch((err) => {
        rt.onStoreError(err)
        return null
      })
  }
  // revalidate only while the stale entry is still current: a purge since our read (new tokens)
  // means its body must not come back through a 304
  const current = stale !== undefined && tokens !== null && sameTokens(stale.tokens, tokens)
  const o = await askOrigin(
    ctx,
    next,
    current ? stale : undefined,
    rt.now,
    d.rule.rangeMiss && ctx.method === 'GET',
  )
  const kept = stale === undefined ? undefined : answerWithStale(s, ctx, d, stale, o, tokens)
  if (kept !== undefined) return kept
  countMiss(d.counters, ctx, read === undefined)
  if (o.kind === 'thrown') throw o.error
  // an error answer never replaces the stale entry (its tokens withheld): "error", else the
  // tokens could not be read: "store-down"
  const overStale = stale !== undefined && o.kind === 'error'
  return storeAnswer(s, ctx, d, o, overStale ? null : tokens, overStale ? 'error' : 'store-down', fwd, read)
}

/**
 * When the origin's answer sends us back to the entry we hold: it failed within the
 * stale-if-error window, or it answered 304 to our validators. Undefined otherwise.
 */
function answerWithStale(
  s: Stages,
  ctx: Context,
  d: LookupDecision,
  stale: Entry,
  o: OriginAnswer,
  tokens: readonly string[] | null,
): { readonly outcome: Outcome } | undefined {
  const { rt } = s
  const { name } = rt
  const now = rt.now()
  const failed = o.kind === 'thrown' || o.kind === 'error'
  const late = now - stale.expires
  // RFC 5861 §4: the origin failed within the stale-if-error window; RFC 9111 §4.2.4: it could
  // not be reached within the staleIfUnreachable one. The stored response, not the error.
  const sie = failed && late < stale.sie
  if (sie || (o.kind === 'thrown' && late < stale.siu && unreachable(o.error))) {
    const status = o.kind === 'thrown' ? errorStatus(o.error) : ctx.status
    if (o.kind === 'thrown') ctx.app.emit('error', o.error, ctx)
    rt.metrics.staleIfError++
    clearResponse(ctx)
    serveEntry(
      ctx,
      stale,
      now,
      fwdStatus(
        name,
        'stale',
        sie ? { fwdStatus: status } : { fwdStatus: status, detail: 'origin-unreachable' },
      ),
    )
    countOutcome(d.counters, ctx, STALE_IF_ERROR)
    countServed(d.counters, ctx, stale)
    return NO_OUTCOME
  }
  if (o.kind === '304-other') {
    // §4.3.4: a 304 naming another representation must not update ours. The application
    // cannot be asked twice within one request: serve what we hold, as stale, and drop it so
    // that the next request fetches the current representation.
    clearResponse(ctx)
    rt.store.delete([storageKey(d.key, stale.variant)]).catch(rt.onStoreError)
    serveEntry(ctx, stale, now, fwdStatus(name, 'stale', { fwdStatus: 304, detail: 'validator-mismatch' }))
    countOutcome(d.counters, ctx, STALE)
    countServed(d.counters, ctx, stale)
    return NO_OUTCOME
  }
  if (o.kind === '304-same') {
    // RFC 9111 §4.3.4: freshen the stored response with the 304's headers, keep its body
    const fresh = freshen(rt, ctx, d, stale, tokens, now)
    clearResponse(ctx)
    rt.metrics.revalidated++
    serveEntry(ctx, fresh.entry, now, fwdStatus(name, 'stale', { fwdStatus: 304, stored: fresh.stored }))
    countOutcome(d.counters, ctx, REVALIDATED)
    countServed(d.counters, ctx, fresh.entry)
    return fresh.stored ? { outcome: fresh.entry } : NO_OUTCOME
  }
  return undefined
}

/**
 * A full answer (or an error with no stale entry to fall back on): capture it (store or not),
 * say so in Cache-Status, and answer the client's own validators. `tokens` null: never stored
 * (an error response is never stored over a good entry: RFC 5861 §4, spec "Freshness").
 */
async function storeAnswer(
  s: Stages,
  ctx: Context,
  d: LookupDecision,
  o: OriginAnswer,
  tokens: readonly string[] | null,
  unwritten: string,
  fwd: string,
  read: Read | undefined,
): Promise<{ readonly outcome: Outcome | Promise<Outcome> }> {
  const { rt } = s
  const c = capture(ctx, rt, {
    key: d.key,
    rule: d.rule,
    counters: d.counters,
    unwritten,
    authorized: d.authorized,
    cover: d.urlAndTagGens,
    tokens,
    fetchStart: o.startedAt,
    background: false,
    preset: o.preset,
  })
  ctx.res.removeHeader(OWN_TARGETED) // read by capture; meant for cachet alone
  const detail = c.refused ?? (read === undefined ? 'store-unavailable' : undefined)
  setStatus(
    ctx,
    fwdStatus(rt.name, fwd, {
      fwdStatus: fwd === 'stale' ? ctx.status : undefined,
      stored: c.storable,
      detail,
    }),
  )
  const h = ctx.req.headers
  if (
    (h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) &&
    (ctx.method === 'GET' || ctx.method === 'HEAD') &&
    notModified(h, {
      status: ctx.status,
      etag: ctx.response.get('etag') || undefined,
      lastModified: ctx.response.get('last-modified') || undefined,
      date: ctx.response.get('date') || undefined,
      receivedAt: rt.now(),
    })
  ) {
    // The client's validators match: it gets a 304. A body being stored is read to its end
    // first: Koa destroys a stream body once the response finishes, which would cut it short.
    if (c.tee !== undefined) {
      c.tee.resume()
      await c.entry
    }
    ctx.status = 304
  } else if (d.rule.rangeMiss && ctx.status === 200 && ctx.method === 'GET' && h.range !== undefined)
    answerRangeFromResponse(ctx, h.range, h['if-range'] as string | undefined, rt.now())
  return { outcome: c.entry }
}

const NO_OUTCOME = Object.freeze({ outcome: null })
