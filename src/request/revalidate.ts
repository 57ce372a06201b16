/**
 * Revalidation (RFC 9111 §4.3): the stored validators go downstream as a conditional request,
 * and a 304 freshens the stored response instead of refetching its body.
 */
import type { Context } from 'koa'
import type { Decision } from './decide.js'
import { encodeEntry, type Entry } from './entry.js'
import { lifetime, verdict } from '../http/freshness.js'
import { NOT_STORED } from '../http/headers.js'
import { storageKey } from '../key/variant.js'
import type { Runtime } from '../runtime.js'

type Lookup = Extract<Decision, { kind: 'lookup' }>

/**
 * §4.3.4: a 304 updates a stored response only if it names the same representation: when both
 * carry an ETag they must match (weakly: W/ prefixes aside).
 */
export function sameRepresentation(stale: Entry, ctx: Context): boolean {
  const fresh = ctx.res.getHeader('etag')
  if (fresh === undefined) return true
  let stored: string | undefined
  for (let i = 0; i < stale.headers.length; i += 2) if (stale.headers[i] === 'etag') stored = String(stale.headers[i + 1])
  if (stored === undefined) return true
  const bare = (t: string) => t.trim().replace(/^W\//, '')
  return bare(String(fresh)) === bare(stored)
}

/** Puts the stored validators on the request: true when there was one to send. */
export function setValidators(ctx: Context, stale: Entry): boolean {
  let etag: string | undefined
  let lastModified: string | undefined
  for (let i = 0; i < stale.headers.length; i += 2) {
    if (stale.headers[i] === 'etag') etag = String(stale.headers[i + 1])
    else if (stale.headers[i] === 'last-modified') lastModified = String(stale.headers[i + 1])
  }
  if (etag === undefined && lastModified === undefined) return false
  const h = ctx.req.headers
  delete h['if-none-match']
  delete h['if-modified-since']
  if (etag !== undefined) h['if-none-match'] = etag
  if (lastModified !== undefined) h['if-modified-since'] = lastModified
  return true
}

/** §4.3.4: the stored response with the 304's end-to-end headers laid over it, and a new lifetime. */
export function freshen(rt: Runtime, ctx: Context, d: Lookup, stale: Entry, tokens: readonly string[] | null, now: number): { entry: Entry; stored: boolean } {
  const res = ctx.res
  const headers = new Map<string, string | readonly string[]>()
  for (let i = 0; i < stale.headers.length; i += 2) headers.set(stale.headers[i] as string, stale.headers[i + 1]!)
  for (const n of res.getHeaderNames()) {
    const v = res.getHeader(n)
    // §3.2: every field of the 304 except framing (Content-Length) and what is never stored
    if (v === undefined || NOT_STORED.has(n) || n === 'content-length' || n === 'content-type') continue
    headers.set(n, typeof v === 'number' ? String(v) : v as string | string[])
  }
  if (res.getHeader('date') === undefined) headers.set('date', new Date(now).toUTCString())
  const flat: (string | readonly string[])[] = []
  for (const [n, v] of headers) flat.push(n, v)
  const cookie = res.getHeader('set-cookie')
  const v = verdict(d.rule, { status: stale.status, header: (n) => (n === 'set-cookie' ? cookie : headers.get(n.toLowerCase())) }, d.authorized, now)
  const life = lifetime(v, headers.has('etag') || headers.has('last-modified'))
  const entry: Entry = { ...stale, headers: flat, storedAt: now, expires: now + (v.reason === undefined ? life.fresh : 0), initialAge: v.initialAge, swr: v.swr, sie: v.sie, tokens: tokens ?? stale.tokens }
  const stored = v.reason === undefined && tokens !== null
  if (stored) rt.store.set(storageKey(d.key, entry.variant), encodeEntry(entry), life.keep).catch(rt.onStoreError)
  return { entry, stored }
}
