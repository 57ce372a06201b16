/**
 * Stale-while-revalidate (RFC 5861 §3): after a stale entry was served, downstream runs once more
 * on a detached response (nobody is waiting for it), and its answer freshens or replaces the entry.
 * One refresh per key in this process, and per fleet through the coalescer's lock.
 */
import { finished } from 'node:stream'
import type { Context, Next } from 'koa'
import { sameTokens } from '../generation/keys.js'
import { storageKey } from '../key/variant.js'
import { errorText } from '../log.js'
import { capture } from './capture.js'
import type { LookupDecision } from './decide.js'
import type { Entry } from './entry.js'
import { askOrigin } from './origin.js'
import { clearResponse, detach } from './respond.js'
import { freshen } from './revalidate.js'
import type { Stages } from './stages.js'

/** Runs one refresh of `stale` once this response is sent, unless one is already under way here. */
export function scheduleRefresh(s: Stages, ctx: Context, next: Next, d: LookupDecision, stale: Entry): void {
  if (s.refreshing.has(d.key) || s.flights.busy(d.key)) return
  s.refreshing.add(d.key)
  // finished() also fires for a response that is already closed (a client that left early)
  finished(ctx.res, () => {
    void refresh(s, ctx, next, d, stale)
      .catch((err) =>
        s.rt.log.warn(`background refresh of rule "${d.rule.id}" failed: ${errorText(err)}`, {
          event: 'refresh-failed',
          rule: d.rule.id,
          error: errorText(err),
        }),
      )
      .finally(() => s.refreshing.delete(d.key))
  })
}

async function refresh(s: Stages, ctx: Context, next: Next, d: LookupDecision, stale: Entry): Promise<void> {
  const { rt } = s
  let lock: string | undefined
  if (s.flights.shared) {
    lock = await s.flights.tryLock(d.key)
    if (lock === undefined) return // another instance refreshes
  }
  try {
    rt.metrics.refreshes++
    d.counters.refreshes++
    const tokens = await s.lookup.tokensFor(d)
    detach(ctx)
    // the cache's own request: the full representation, whatever the triggering client asked
    const h = ctx.req.headers
    delete h.range
    delete h['if-range']
    delete h['if-match']
    delete h['if-unmodified-since']
    const o = await askOrigin(ctx, next, sameTokens(stale.tokens, tokens) ? stale : undefined, rt.now)
    if (o.kind === 'thrown') throw o.error
    if (o.kind === '304-same') {
      freshen(rt, ctx, d, stale, tokens, rt.now())
      rt.metrics.revalidated++
      clearResponse(ctx)
    } else if (o.kind === '304-other') {
      rt.store.delete([storageKey(d.key, stale.variant)]).catch(rt.onStoreError)
      clearResponse(ctx)
    } else if (o.kind === 'full') {
      const c = capture(ctx, rt, {
        key: d.key,
        rule: d.rule,
        counters: d.counters,
        authorized: d.authorized,
        cover: d.urlAndTagGens,
        tokens,
        fetchStart: o.startedAt,
        background: true,
      })
      // nobody reads a body that is not being stored: release it (and the upstream connection)
      if (c.tee === undefined) clearResponse(ctx)
      await c.entry
    } else {
      // an error never overwrites a good entry (RFC 5861)
      clearResponse(ctx)
    }
  } finally {
    if (lock !== undefined) s.flights.unlock(d.key, lock)
  }
}
