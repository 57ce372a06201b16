/**
 * Freshening (RFC 9111 §4.3.4): a 304 to our conditional request lays its headers over the
 * stored response, which keeps its body and gets a new lifetime by the same rule as a new one.
 */
import type { Context } from 'koa'
import { coverMs, tagGen } from '../generation/keys.js'
import { lifetime, verdict } from '../http/freshness.js'
import { NOT_STORED, OWN_TARGETED } from '../http/headers.js'
import { storageKey } from '../key/variant.js'
import type { Runtime } from '../runtime.js'
import type { LookupDecision } from './decide.js'
import { type Entry, encodeEntry } from './entry.js'

/**
 * The stored response with the 304's end-to-end headers laid over it, and a new lifetime; written
 * back (not awaited) when it is storable and `tokens` (read before asking) are known.
 */
export function freshen(
  rt: Runtime,
  ctx: Context,
  d: LookupDecision,
  stale: Entry,
  tokens: readonly string[] | null,
  now: number,
): { entry: Entry; stored: boolean } {
  const res = ctx.res
  const headers = new Map<string, string | readonly string[]>()
  for (let i = 0; i < stale.headers.length; i += 2)
    headers.set(stale.headers[i] as string, stale.headers[i + 1]!)
  for (const n of res.getHeaderNames()) {
    const v = res.getHeader(n)
    // §3.2: every field of the 304 except framing (Content-Length) and what is never stored
    if (v === undefined || NOT_STORED.has(n) || n === 'content-length' || n === 'content-type') continue
    headers.set(n, typeof v === 'number' ? String(v) : (v as string | string[]))
  }
  if (res.getHeader('date') === undefined) headers.set('date', new Date(now).toUTCString())
  const flat: (string | readonly string[])[] = []
  for (const [n, v] of headers) flat.push(n, v)
  const view = {
    status: stale.status,
    // cachet's own field is never stored, so only the 304's can speak
    header: (n: string) =>
      n === 'set-cookie' || n === OWN_TARGETED ? res.getHeader(n) : headers.get(n.toLowerCase()),
  }
  const v = verdict(d.rule, view, d.authorized, now)
  const life = lifetime(v, headers.has('etag') || headers.has('last-modified'))
  const entry: Entry = {
    ...stale,
    headers: flat,
    storedAt: now,
    expires: now + (v.reason === undefined ? life.fresh : 0),
    initialAge: v.initialAge,
    swr: v.swr,
    sie: v.sie,
    siu: v.siu,
    tokens: tokens ?? stale.tokens,
  }
  const stored = v.reason === undefined && tokens !== null
  if (stored) {
    // the entry lives on: so must its URL and tag tokens (capture.ts explains; one pipeline with the SET)
    const cover = [...d.urlAndTagGens, ...entry.headerTags.map((t) => tagGen(rt.name, t))]
    if (cover.length > 0) rt.store.tokens(cover, coverMs(life.keep)).catch(rt.onStoreError)
    rt.store.set(storageKey(d.key, entry.variant), encodeEntry(entry), life.keep).catch(rt.onStoreError)
  }
  return { entry, stored }
}
