/**
 * Tracing hooks: `node:diagnostics_channel` channels, the convention undici and fastify follow,
 * so that OpenTelemetry (or anything else) can attach without cachet depending on it.
 *
 *   cachet:request  one message per request the middleware handled, once its outcome is known
 *   cachet:store    one per origin answer to a lookup: written, not stored (and why), or failed
 *   cachet:purge    one per recorded purge() and per invalidation after an unsafe method
 *
 * Zero cost when nobody subscribes: every publishing site first reads `channel.hasSubscribers`
 * (lru-cache's way: no message, no closure, no timer is made otherwise), and the hit path then
 * does one property read more. The message shapes are part of the public surface (README
 * "Tracing"); `ctx` is the Koa context, for subscribers that attach to the request's own span.
 */
import { channel } from 'node:diagnostics_channel'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'koa'
import { OUTCOMES } from './counters.js'
import type { Outcome } from './stats.js'

export const requestChannel = channel('cachet:request')
export const storeChannel = channel('cachet:store')
export const purgeChannel = channel('cachet:purge')

export interface RequestMessage {
  /** the cache's name */
  readonly cache: string
  /** the rule that matched, or null when none did */
  readonly rule: string | null
  /** as in stats(): hit, stale, miss, revalidated, collapsed, stale-if-error, bypass; null when no rule matched */
  readonly outcome: Outcome | null
  /** why a bypass (stats' bypass reasons: rule, path, body, authorization, cookie, method, store-down, other); else null */
  readonly reason: string | null
  readonly method: string
  /** the URL the application saw (unkeyed query parameters already removed) */
  readonly url: string
  /** the response status once the middleware returned (the body may still be streaming) */
  readonly status: number
  /** the hashed storage key of a lookup; null when the request was not looked up */
  readonly key: string | null
  /** from the middleware's start to its return, ms */
  readonly durationMs: number
  /** what the downstream threw, when it threw (the request's outcome is then what was counted) */
  readonly error?: unknown
  /**
   * the Koa context; absent for a hit `cachet serve` answered below Koa (its Koa app never saw
   * the request): `req` and `res` are always there
   */
  readonly ctx?: Context
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

export interface StoreMessage {
  readonly cache: string
  readonly rule: string
  readonly key: string
  /** stored: the write was acknowledged; not-stored: refused (`reason`); failed: the write failed (`error`) */
  readonly outcome: 'stored' | 'not-stored' | 'failed'
  /** stats' not-stored reasons (status, set-cookie, no-store, private, too-large, …); null otherwise */
  readonly reason: string | null
  /** the origin's status */
  readonly status: number
  /** body bytes written; null unless stored */
  readonly bytes: number | null
  /** fresh for this long, ms; null unless stored */
  readonly freshMs: number | null
  /** a background refresh (stale-while-revalidate), not a client's request */
  readonly background: boolean
  readonly error?: string
}

export type PurgeMessage =
  | {
      readonly cache: string
      readonly source: 'purge'
      readonly tags: readonly string[]
      readonly urls: readonly string[]
      readonly rules: readonly string[]
      readonly all: boolean
      /** generation keys given a new token */
      readonly generations: number
    }
  | {
      readonly cache: string
      /** after an unsafe method (RFC 9111 §4.4): the request's URL, Location, Content-Location, the rule's `invalidate` tags */
      readonly source: 'invalidation'
      readonly rule: string | null
      readonly method: string
      readonly path: string
      readonly generations: number
    }

const kOutcome = Symbol('cachet.outcome')
const kReason = Symbol('cachet.reason')
interface Noted {
  [kOutcome]?: number
  [kReason]?: string
}

/** count.ts: the request's outcome slot (and bypass reason), kept on ctx for the request message. Only while subscribed. */
export function noteOutcome(ctx: Context, outcome: number, reason?: string): void {
  const n = ctx as Noted
  n[kOutcome] = outcome
  if (reason !== undefined) n[kReason] = reason
}

/** The outcome noted for this request, if any, and its bypass reason. */
export function notedOutcome(ctx: Context): { outcome: Outcome | null; reason: string | null } {
  const n = ctx as Noted
  const i = n[kOutcome]
  return { outcome: i === undefined ? null : (OUTCOMES[i] ?? null), reason: n[kReason] ?? null }
}
