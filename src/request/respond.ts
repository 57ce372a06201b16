/**
 * Answering from a stored entry, and detaching a context for a background refresh.
 */
import { randomBytes } from 'node:crypto'
import { IncomingMessage, ServerResponse } from 'node:http'
import { Readable, Transform } from 'node:stream'
import type { Context } from 'koa'
import { appendStatus, hitStatus } from '../http/cache-status.js'
import { notModified, storedView } from '../http/conditional.js'
import { byteranges, contentRange, ifRangeMatches, parseRange, type RangeAnswer } from '../http/range.js'
import type { Entry } from './entry.js'

/**
 * Node keeps a response's headers in `res[kOutHeaders]` as { lower-case name: [name, value] }.
 * setHeader() validates each name and value on every call: a fifth of a hit's JavaScript when
 * measured (bench/hit-path.ts). Stored headers are validated once, when decoded (entry.ts), so a
 * hit writes them there directly. Found by probing at load; if this Node keeps them elsewhere,
 * setHeader() is used.
 */
const kOutHeaders: symbol | undefined = (() => {
  const probe = new ServerResponse(new IncomingMessage(null as never))
  probe.setHeader('x-probe', '1')
  const k = Object.getOwnPropertySymbols(probe).find((s) => s.description === 'kOutHeaders')
  const store =
    k === undefined
      ? undefined
      : ((probe as unknown as Record<symbol, unknown>)[k] as Record<string, unknown> | undefined)
  const ok =
    store !== undefined && Array.isArray(store['x-probe']) && (store['x-probe'] as unknown[])[1] === '1'
  return ok ? k : undefined
})()

/**
 * hot path: replay a stored response: its status, headers and body byte for byte, a
 * regenerated Age, and our Cache-Status. `status` is the Cache-Status member.
 */
export function serveEntry(ctx: Context, entry: Entry, now: number, status: string): void {
  ctx.status = entry.status
  const out = putStoredHeaders(ctx.res, entry, now, status)
  if (!entry.nullBody) {
    const r = ctx.response as unknown as KoaResponseInternals
    if (out !== undefined && r._body == null) {
      // what Koa's body setter does for a Buffer (Content-Type when none was stored,
      // Content-Length unless chunked), without its header lookups, mime table and validations
      bodyHeaders(out, entry.body.length)
      r._body = entry.body
    } else ctx.body = entry.body
  }
  // the client's validators against the stored response (http/conditional.ts), only when it sent one
  const h2 = ctx.req.headers
  if (
    (h2['if-none-match'] !== undefined || h2['if-modified-since'] !== undefined) &&
    (ctx.method === 'GET' || ctx.method === 'HEAD') &&
    notModified(h2, storedView(entry.status, entry.headers, entry.storedAt))
  )
    ctx.status = 304
  // RFC 9110 §14: a Range on GET is answered from the stored complete response (after the
  // validators: §13.2.2 evaluates If-Range last), only when the client sent one
  else if (h2.range !== undefined && ctx.method === 'GET' && entry.status === 200 && !entry.nullBody)
    answerRange(ctx, entry, h2.range, h2['if-range'] as string | undefined, now)
}

/**
 * hot path: the stored headers, a regenerated Age (RFC 9111 §4.2.3: corrected_initial_age +
 * resident_time) and our Cache-Status `status`, on `res` before it is written. Returns Node's
 * header record when the headers went there directly, else undefined (setHeader was used).
 */
function putStoredHeaders(
  res: ServerResponse,
  entry: Entry,
  now: number,
  status: string,
): Record<string, unknown> | undefined {
  const h = entry.headers
  const out = kOutHeaders === undefined || res.headersSent ? undefined : headerStore(res, kOutHeaders)
  const age = String(ageSeconds(entry, now))
  if (out !== undefined) {
    for (let i = 0; i < h.length; i += 2)
      out[h[i] as string] = [h[i] as string, h[i + 1] as string | readonly string[]]
    // both values are ours: digits, and a token name with fixed parameters
    out.age = ['Age', age]
    out['cache-status'] = ['Cache-Status', status]
  } else {
    for (let i = 0; i < h.length; i += 2) res.setHeader(h[i] as string, h[i + 1] as string | string[])
    res.setHeader('Age', age)
    res.setHeader('Cache-Status', status)
  }
  return out
}

/**
 * hot path of `cachet serve`: a fresh entry written straight to node:http's response, before any
 * Koa context exists, with the very bytes serveEntry's answer gets once Koa has rendered it
 * (test/conformance/raw-hit.test.ts compares the two): Koa's body setter adds
 * `Content-Type: application/octet-stream` when none was stored and sets `Content-Length`
 * (unless the entry is chunked), and a 304 drops both and Transfer-Encoding. Only for a GET or
 * HEAD without Range, of an entry with a body (raw.ts checks).
 */
export function writeEntry(
  req: IncomingMessage,
  res: ServerResponse,
  entry: Entry,
  now: number,
  name: string,
): void {
  res.statusCode = entry.status
  const h2 = req.headers
  const notMod =
    (h2['if-none-match'] !== undefined || h2['if-modified-since'] !== undefined) &&
    notModified(h2, storedView(entry.status, entry.headers, entry.storedAt))
  const out = kOutHeaders === undefined || res.headersSent ? undefined : headerStore(res, kOutHeaders)
  if (out === undefined) {
    putStoredHeaders(res, entry, now, hitStatus(name, ttlSeconds(entry, now)))
    if (!notMod) {
      if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/octet-stream')
      if (!res.hasHeader('Transfer-Encoding')) res.setHeader('Content-Length', String(entry.body.length))
    }
  } else {
    // the entry's header tuples, made once per entry (headOf); only Age and Cache-Status are new
    const head = headOf(entry)
    const stored = head.stored
    for (let i = 0; i < stored.length; i += 2) out[stored[i] as string] = stored[i + 1]
    // Age and Cache-Status change once a second at most: their tuples are kept while they hold
    const age = ageSeconds(entry, now)
    const ttl = ttlSeconds(entry, now)
    let t = head.tuples
    if (t === undefined || t.age !== age || t.ttl !== ttl || t.name !== name)
      head.tuples = t = {
        age,
        ttl,
        name,
        ageTuple: ['Age', String(age)],
        statusTuple: ['Cache-Status', hitStatus(name, ttl)],
      }
    out.age = t.ageTuple
    out['cache-status'] = t.statusTuple
    if (!notMod) {
      const body = head.body
      for (let i = 0; i < body.length; i += 2) out[body[i] as string] = body[i + 1]
    }
  }
  if (notMod) {
    res.statusCode = 304
    res.removeHeader('Content-Type')
    res.removeHeader('Content-Length')
    res.removeHeader('Transfer-Encoding')
    res.end()
    return
  }
  // node:http sends no body on a HEAD whatever end() is given
  res.end(entry.body)
}

/**
 * An entry's headers as Node's header record holds them ([lower-case name, [name, value]]
 * flat), with what Koa's body setter adds (bodyHeaders): built once per decoded entry and
 * shared by every raw hit on it. Safe to share only because writeEntry ends the response at
 * once: nothing can append to a tuple afterwards (the middleware's serveEntry, after which other
 * middleware may, makes its own).
 */
interface Head {
  readonly stored: readonly unknown[]
  /** the body's own: written unless the answer is a 304 */
  readonly body: readonly unknown[]
  /** the Age and Cache-Status tuples last written, and the values they were made for */
  tuples:
    | {
        readonly age: number
        readonly ttl: number
        readonly name: string
        readonly ageTuple: readonly [string, string]
        readonly statusTuple: readonly [string, string]
      }
    | undefined
}

const heads = new WeakMap<Entry, Head>()

function headOf(entry: Entry): Head {
  let head = heads.get(entry)
  if (head !== undefined) return head
  const h = entry.headers
  const stored: unknown[] = []
  let typed = false
  let chunked = false
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i] as string
    if (n === 'content-type') typed = true
    else if (n === 'transfer-encoding') chunked = true
  }
  const length = String(entry.body.length)
  let sized = false
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i] as string
    // a stored Content-Length keeps its place, with the body's length (as Koa's setter leaves it)
    if (n === 'content-length' && !chunked) {
      stored.push(n, ['Content-Length', length])
      sized = true
    } else stored.push(n, [n, h[i + 1]])
  }
  const body: unknown[] = []
  if (!typed) body.push('content-type', ['Content-Type', 'application/octet-stream'])
  if (!chunked && !sized) body.push('content-length', ['Content-Length', length])
  head = { stored, body, tuples: undefined }
  heads.set(entry, head)
  return head
}

/** RFC 9111 §4.2.3: current_age = corrected_initial_age + resident_time, in seconds. */
function ageSeconds(entry: Entry, now: number): number {
  return entry.initialAge + Math.max(0, Math.floor((now - entry.storedAt) / 1000))
}

/** Koa's body setter for a Buffer, on Node's header record: its Content-Type default and Content-Length. */
function bodyHeaders(out: Record<string, unknown>, length: number): void {
  if (out['content-type'] === undefined) out['content-type'] = ['Content-Type', 'application/octet-stream']
  if (out['transfer-encoding'] === undefined) out['content-length'] = ['Content-Length', String(length)]
}

/** The Koa response's own fields this module sets directly. */
interface KoaResponseInternals {
  _body: unknown
  _explicitStatus: boolean
  _explicitNullBody: boolean
}

/**
 * 206 with the range (or `multipart/byteranges` for several), or 416 with `bytes *\/len`, from
 * the stored body; the whole 200 when the Range is unusable or If-Range does not match.
 */
function answerRange(
  ctx: Context,
  entry: Entry,
  range: string,
  ifRange: string | undefined,
  now: number,
): void {
  const v = storedView(entry.status, entry.headers, entry.storedAt)
  if (ifRange !== undefined && !ifRangeMatches(ifRange, v.etag, v.lastModified, v.date, now)) return
  rangeOfBody(ctx, entry.body, parseRange(range, entry.body.length))
}

function rangeOfBody(ctx: Context, body: Buffer, r: RangeAnswer): void {
  if (r.kind === 'whole') return
  if (r.kind === 'unsatisfiable') {
    unsatisfiable(ctx, body.length)
    return
  }
  ctx.status = 206
  if (r.ranges.length === 1) {
    const one = r.ranges[0]!
    ctx.body = body.subarray(one[0], one[1] + 1)
    ctx.set('Content-Range', contentRange(one, body.length))
    return
  }
  const type = ctx.response.get('Content-Type') || undefined
  const boundary = randomBytes(12).toString('hex')
  ctx.body = byteranges(body, r.ranges, type, boundary)
  ctx.set('Content-Type', `multipart/byteranges; boundary=${boundary}`)
}

/**
 * `rangeMiss: fetch`: the origin was asked for the whole 200 (its Range withheld); the client's
 * Range is answered from it as from an entry. A buffered body is cut like a stored one; a stream
 * of known length is cut on the fly for one range (the whole stream is still read, so that it
 * is stored); anything else is answered whole, as a server may (RFC 9110 §14.2).
 */
export function answerRangeFromResponse(
  ctx: Context,
  range: string,
  ifRange: string | undefined,
  now: number,
): void {
  const res = ctx.response
  if (
    ifRange !== undefined &&
    !ifRangeMatches(
      ifRange,
      res.get('ETag') || undefined,
      res.get('Last-Modified') || undefined,
      res.get('Date') || undefined,
      now,
    )
  )
    return
  const body = ctx.body as unknown
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const buf = typeof body === 'string' ? Buffer.from(body) : body
    rangeOfBody(ctx, buf, parseRange(range, buf.length))
    return
  }
  const length = Number(res.get('Content-Length'))
  if (!(body instanceof Readable) || !Number.isSafeInteger(length)) return
  const r = parseRange(range, length)
  if (r.kind === 'whole' || (r.kind === 'ranges' && r.ranges.length > 1)) return
  if (r.kind === 'unsatisfiable') {
    body.resume() // still read to its end: it is being stored
    unsatisfiable(ctx, length)
    return
  }
  const [first, last] = r.ranges[0]!
  let at = 0
  const cut = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const from = Math.max(0, first - at)
      const to = Math.min(chunk.length, last + 1 - at)
      at += chunk.length
      cb(null, from < to ? chunk.subarray(from, to) : undefined)
    },
  })
  body.once('error', (err) => cut.destroy(err))
  ctx.status = 206
  ctx.body = body.pipe(cut)
  ctx.set('Content-Length', String(last - first + 1))
  ctx.set('Content-Range', contentRange([first, last], length))
}

/** 416 with `Content-Range: bytes *\/length` (RFC 9110 §15.5.17) and no body. */
function unsatisfiable(ctx: Context, length: number): void {
  ctx.status = 416
  ctx.body = EMPTY
  ctx.remove('Content-Encoding')
  ctx.set('Content-Range', `bytes */${length}`)
}

const EMPTY = Buffer.alloc(0)

function headerStore(res: ServerResponse, k: symbol): Record<string, unknown> {
  const r = res as unknown as Record<symbol, Record<string, unknown> | null>
  let out = r[k]
  if (out === null || out === undefined) r[k] = out = Object.create(null) as Record<string, unknown>
  return out
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
  const r = ctx.response as unknown as KoaResponseInternals
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

/** Appends our Cache-Status member to whatever an inner cache (or the application) set (RFC 9211 §2). */
export function setStatus(ctx: Context, mine: string): void {
  ctx.set('Cache-Status', appendStatus(ctx.response.get('Cache-Status') || undefined, mine))
}
