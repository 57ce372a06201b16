/**
 * Answering from a stored entry, and detaching a context for a background refresh.
 */
import { ServerResponse } from 'node:http'
import type { Context } from 'koa'
import type { Entry } from './entry.js'

/**
 * hot path: replay a stored response: its status, headers and body byte for byte, a
 * regenerated Age, and our Cache-Status. `status` is the Cache-Status member.
 */
export function serveEntry(ctx: Context, entry: Entry, now: number, status: string): void {
  const res = ctx.res
  ctx.status = entry.status
  const h = entry.headers
  for (let i = 0; i < h.length; i += 2) res.setHeader(h[i] as string, h[i + 1] as string | string[])
  // RFC 9111 §4.2.3: current_age = corrected_initial_age + resident_time
  res.setHeader('Age', String(entry.initialAge + Math.max(0, Math.floor((now - entry.storedAt) / 1000))))
  res.setHeader('Cache-Status', status)
  if (!entry.nullBody) ctx.body = entry.body
  // the client's validators against the stored response (RFC 9110 §13.1.2: weak comparison for
  // If-None-Match); ctx.fresh copies every response header, so only when there is one to check
  const h2 = ctx.req.headers
  if ((h2['if-none-match'] !== undefined || h2['if-modified-since'] !== undefined) && ctx.fresh) ctx.status = 304
}

/** Seconds of freshness left (negative once stale), as Cache-Status' `ttl` (RFC 9211 §2.5). */
export function ttlSeconds(entry: Entry, now: number): number {
  return Math.floor((entry.expires - now) / 1000)
}

/** Removes whatever the application put on a response that will not be sent (stale-if-error). */
export function clearResponse(ctx: Context): void {
  const res = ctx.res
  for (const name of res.getHeaderNames()) res.removeHeader(name)
  const body = ctx.body as { destroy?: () => void } | null | undefined
  if (body && typeof body === 'object' && typeof body.destroy === 'function') body.destroy()
  resetBody(ctx)
}

function resetBody(ctx: Context): void {
  const r = ctx.response as unknown as { _body: unknown; _explicitStatus: boolean; _explicitNullBody: boolean }
  r._body = undefined
  r._explicitStatus = false
  r._explicitNullBody = false
}

/**
 * Gives a context whose response was already sent a fresh, unattached response object, so that
 * downstream can run once more (a stale-while-revalidate refresh) and its status, headers and
 * body be captured without touching the client's connection.
 */
export function detach(ctx: Context): void {
  const res = new ServerResponse(ctx.req)
  res.statusCode = 404
  ctx.res = res
  ctx.request.res = res
  ctx.response.res = res
  resetBody(ctx)
}
