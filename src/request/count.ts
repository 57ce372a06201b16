/**
 * The request path's counting sites, one function per kind of event, so that every count is made
 * the same way (metrics/counters.ts): a few increments, no allocation.
 */
import type { Context } from 'koa'
import {
  BYPASS,
  BYPASS_STORE_DOWN,
  bypassReason,
  MISS,
  notStoredReason,
  type RuleCounters,
} from '../metrics/counters.js'
import { noteOutcome, requestChannel } from '../metrics/trace.js'
import type { Entry } from './entry.js'

/** hot path: the request's one outcome (HIT … BYPASS); kept for cachet:request while it has subscribers. */
export function countOutcome(c: RuleCounters, ctx: Context, outcome: number): void {
  c.outcomes[outcome]!++
  if (requestChannel.hasSubscribers) noteOutcome(ctx, outcome)
}

/**
 * hot path: an answer made from a stored entry: its body bytes, unless none go out (HEAD, or a
 * 304 to the client's own validators). Call after serveEntry (which may turn it into a 304).
 */
export function countServed(c: RuleCounters, ctx: Context, entry: Entry): void {
  countServedAs(c, ctx.method, ctx.res.statusCode, entry)
}

/** countServed, for an answer written without a Koa context (raw.ts). */
export function countServedAs(c: RuleCounters, method: string, status: number, entry: Entry): void {
  if (status !== 304 && method !== 'HEAD') c.bytesServed += entry.body.length
}

/** A request the rule matched but did not look up; `reason` as decide.ts' `detail`, or "method". */
export function countBypass(c: RuleCounters, reason: string): void {
  c.outcomes[BYPASS]!++
  c.bypass[bypassReason(reason)]!++
}

/**
 * A request that went to the origin as a miss: a miss, or, when its store read could not be
 * made (not connected, failed, timed out), a bypass for "store-down".
 */
export function countMiss(c: RuleCounters, ctx: Context, readFailed: boolean): void {
  if (readFailed) {
    c.outcomes[BYPASS]!++
    c.bypass[BYPASS_STORE_DOWN]!++
  } else c.outcomes[MISS]!++
  if (requestChannel.hasSubscribers)
    noteOutcome(ctx, readFailed ? BYPASS : MISS, readFailed ? 'store-down' : undefined)
}

/** An origin answer not stored, with why (metrics/counters.ts NOT_STORED_REASONS). */
export function countNotStored(c: RuleCounters, reason: string): void {
  c.notStored[notStoredReason(reason)]!++
}
