/**
 * The Koa middleware: first matching rule → bypass, hit or miss → store.
 *
 * Fail open: a store error, a deadline overrun or a corrupt entry is a miss; writes are started
 * after the application answered and never awaited, so the store never delays a response.
 */
import { Transform, type Readable } from 'node:stream'
import type { Context, Next } from 'koa'
import { decide } from './decide.js'
import { decodeEntry, encodeEntry, type Entry } from './entry.js'
import { verdict } from './freshness.js'
import { appendStatus, fwdStatus, hitStatus } from './cache-status.js'
import type { Runtime } from './runtime.js'

/** RFC 9110 §7.6.1 hop-by-hop fields, plus what a cache must never replay or must recompute. */
const NOT_STORED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'set-cookie', 'age', 'cache-status',
])

export function createMiddleware(rt: Runtime) {
  const { name, store, metrics } = rt

  return async function cachet(ctx: Context, next: Next): Promise<void> {
    const set = rt.policies.current // read once: this request finishes under this set
    const d = decide(set, name, ctx)
    if (d.kind === 'pass') return next()
    if (d.kind === 'method') {
      metrics.method++
      await next()
      ctx.set('Cache-Status', appendStatus(ctx.response.get('Cache-Status') || undefined, fwdStatus(name, 'method')))
      return
    }
    if (d.kind === 'bypass') {
      metrics.bypass++
      await next()
      ctx.set('Cache-Status', appendStatus(ctx.response.get('Cache-Status') || undefined, fwdStatus(name, 'bypass', { detail: d.detail })))
      return
    }

    // What the application sees: unkeyed query parameters and cookies removed (T04, T05).
    if (d.removedQuery) ctx.querystring = d.querystring
    if (d.cookie !== undefined) {
      if (d.cookie === null) delete ctx.req.headers.cookie
      else ctx.req.headers.cookie = d.cookie
    }

    let entry: Entry | undefined
    let storeDown = false
    if (store.ready) {
      try {
        const buf = await store.get(d.key)
        if (buf !== undefined) {
          entry = decodeEntry(buf)
          if (entry === undefined) {
            metrics.corrupt++
            store.delete([d.key]).catch(rt.onStoreError)
          }
        }
      } catch (err) {
        storeDown = true
        rt.onStoreError(err)
      }
    } else {
      storeDown = true
    }

    const now = rt.now()
    let fwd = storeDown ? 'miss' : 'uri-miss'
    if (entry !== undefined) {
      if (entry.vary !== null && !varyMatches(entry.vary, ctx)) fwd = 'vary-miss'
      else if (entry.expires > now) {
        metrics.hits++
        serveHit(ctx, entry, now, name)
        return
      } else fwd = 'stale'
    }
    metrics.misses++
    const detail = storeDown ? 'store-unavailable' : undefined

    // HEAD never creates the GET entry (T27): forward it and store nothing.
    if (ctx.method === 'HEAD') {
      await next()
      ctx.set('Cache-Status', appendStatus(ctx.response.get('Cache-Status') || undefined, fwdStatus(name, fwd, { detail })))
      return
    }

    // Ask the application for a full response, so that it can be stored; the client's own
    // validators are answered by us afterwards (RFC 9111 §4.3.2).
    const inm = ctx.req.headers['if-none-match']
    const ims = ctx.req.headers['if-modified-since']
    if (inm !== undefined) delete ctx.req.headers['if-none-match']
    if (ims !== undefined) delete ctx.req.headers['if-modified-since']
    try {
      await next()
    } finally {
      if (inm !== undefined) ctx.req.headers['if-none-match'] = inm
      if (ims !== undefined) ctx.req.headers['if-modified-since'] = ims
    }

    const stored = storeDown ? false : store_(ctx, rt, d.key, d.rule, d.authorized)
    ctx.set('Cache-Status', appendStatus(ctx.response.get('Cache-Status') || undefined, fwdStatus(name, fwd, { stored, detail })))
    if ((inm !== undefined || ims !== undefined) && ctx.fresh) ctx.status = 304
  }
}

/** hot path: replay a stored response. */
function serveHit(ctx: Context, entry: Entry, now: number, name: string): void {
  const res = ctx.res
  ctx.status = entry.status
  const h = entry.headers
  for (let i = 0; i < h.length; i += 2) res.setHeader(h[i] as string, h[i + 1] as string | string[])
  // RFC 9111 §4.2.3: current_age = corrected_initial_age + resident_time
  res.setHeader('Age', String(entry.initialAge + Math.max(0, Math.floor((now - entry.storedAt) / 1000))))
  res.setHeader('Cache-Status', hitStatus(name, Math.floor((entry.expires - now) / 1000)))
  if (!entry.nullBody) ctx.body = entry.body
  // Validators from the client against the stored response (RFC 9110 §13.1; weak comparison for If-None-Match)
  if (ctx.fresh) ctx.status = 304
}

function normaliseVaryValue(v: string): string {
  // RFC 9111 §4.1: whitespace around list commas may be normalised away
  return v.trim().replace(/\s*,\s*/g, ',')
}

function varyMatches(vary: readonly string[], ctx: Context): boolean {
  for (let i = 0; i < vary.length; i += 2) {
    if (normaliseVaryValue(ctx.get(vary[i] as string)) !== vary[i + 1]) return false
  }
  return true
}

/**
 * Decides whether the response just produced can be stored and, if so, starts the write.
 * Returns true when a write was started (or, for a stream, will be when it completes).
 */
function store_(ctx: Context, rt: Runtime, key: string, rule: import('./policy/types.js').Rule, authorized: boolean): boolean {
  const res = ctx.res
  if (ctx.respond === false || res.headersSent) return false
  const now = rt.now()
  const v = verdict(rule, { status: ctx.status, header: (n) => res.getHeader(n) }, authorized, now)
  if (v.reason !== undefined) {
    rt.metrics.notStored++
    return false
  }

  let vary: string[] | null = null
  const varyHeader = res.getHeader('vary')
  if (varyHeader !== undefined) {
    vary = []
    for (const n of String(varyHeader).split(',')) {
      const name = n.trim().toLowerCase()
      if (name !== '') vary.push(name, normaliseVaryValue(ctx.get(name)))
    }
  }

  const body = ctx.body as unknown
  const write = (bytes: Buffer, nullBody: boolean) => {
    const headers: (string | string[])[] = []
    const connection = String(res.getHeader('connection') ?? '').toLowerCase()
    for (const [n, val] of Object.entries(res.getHeaders())) {
      if (val === undefined || NOT_STORED.has(n) || (connection !== '' && connection.split(',').some((c) => c.trim() === n))) continue
      headers.push(n, typeof val === 'number' ? String(val) : val)
    }
    if (res.getHeader('date') === undefined) headers.push('date', new Date(now).toUTCString())
    const entry: Entry = { status: ctx.status, headers, storedAt: now, expires: now + v.ttl, initialAge: v.initialAge, vary, nullBody, body: bytes }
    rt.metrics.stores++
    rt.store.set(key, encodeEntry(entry), v.ttl).catch(rt.onStoreError)
  }

  if (body === null || body === undefined) {
    write(Buffer.alloc(0), true)
    return true
  }
  if (Buffer.isBuffer(body)) return sized(body) && (write(body, false), true)
  if (typeof body === 'string') {
    const buf = Buffer.from(body)
    if (!sized(buf)) return false
    ctx.body = buf
    write(buf, false)
    return true
  }
  if (isReadable(body)) {
    // Tee: the client gets every byte as it comes; the entry is written only if the stream
    // completes within maxBodySize (RFC 9111 §3.3: never store an incomplete response, T28).
    const length = res.getHeader('content-length')
    if (length !== undefined && Number(length) > rule.maxBodySize) return false
    const chunks: Buffer[] = []
    let size = 0
    let ok = true
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (ok) {
          size += chunk.length
          if (size > rule.maxBodySize) { ok = false; chunks.length = 0 } else chunks.push(chunk)
        }
        cb(null, chunk)
      },
      flush(cb) {
        if (ok) write(Buffer.concat(chunks, size), false)
        cb()
      },
    })
    body.once('error', (err) => tee.destroy(err))
    body.pipe(tee)
    ctx.body = tee
    if (length !== undefined) ctx.set('Content-Length', String(length))
    return false // not yet stored: Cache-Status says only what is already true
  }
  if (typeof body === 'object' && !(body instanceof ReadableStream) && !(body instanceof Blob) && !(body instanceof Response)) {
    const buf = Buffer.from(JSON.stringify(body)) // exactly what Koa's respond() would send
    if (!sized(buf)) return false
    ctx.body = buf
    write(buf, false)
    return true
  }
  return false

  function sized(buf: Buffer): boolean {
    if (buf.length <= rule.maxBodySize) return true
    rt.metrics.notStored++
    return false
  }
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function'
}
