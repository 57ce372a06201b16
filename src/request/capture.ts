/**
 * After the application answered: can the response be stored, and if so, write it — never
 * delaying the response (the write is started, not awaited) and never storing a body that did
 * not complete (a stream is teed and written only when it ends within maxBodySize, T28).
 */
import { Transform, finished, type Readable } from 'node:stream'
import type { Context } from 'koa'
import type { Rule } from '../policy/types.js'
import type { Runtime } from '../runtime.js'
import { encodeEntry, type Entry } from './entry.js'
import { lifetime, parseCacheControl, verdict } from '../http/freshness.js'
import { connectionNames, NOT_STORED } from '../http/headers.js'
import { variantKey, varyNames, varyValues } from '../key/variant.js'
import { GEN_TTL, tagGen, tokenTime } from '../generation/keys.js'

const MAX_HEADER_TAGS = 64
/** a purge this close before a fetch started may still have raced it (clock skew between instances) */
const HEADER_TAG_SKEW_MS = 1000

export interface StorePlan {
  readonly key: string
  readonly rule: Rule
  readonly authorized: boolean
  /** tokens of the lookup's generation keys, read before the origin was asked; null: do not store
   *  (the entry is still built, for requests coalesced on this one) */
  readonly tokens: readonly string[] | null
  /** when the origin was asked */
  readonly fetchStart: number
  /** refresh in the background: nobody reads the body, so consume it ourselves */
  readonly background: boolean
  /** response headers already set before downstream ran (by outer middleware: a request id…):
   *  they belong to that request, not to the stored response, unless downstream changed them */
  readonly preset?: ReadonlyMap<string, unknown>
}

export interface Captured {
  /** the entry will be written (for a stream: if it completes) */
  readonly storable: boolean
  /** the stored entry once written (coalesced requests are served from it), or null */
  readonly entry: Promise<Entry | null>
  /** for a stream body: the tee now set as ctx.body, which must be read for the entry to complete */
  readonly tee?: Readable
}

const NOTHING: Captured = Object.freeze({ storable: false, entry: Promise.resolve(null) })

/** The response headers set before downstream runs (usually none). */
export function presetHeaders(res: Context['res']): ReadonlyMap<string, unknown> | undefined {
  const names = res.getHeaderNames()
  if (names.length === 0) return undefined
  return new Map(names.map((n) => [n, res.getHeader(n)]))
}

/** Response headers as stored: end-to-end fields only, lower-case names. */
export function storedHeaders(res: Context['res'], now: number, preset?: ReadonlyMap<string, unknown>): (string | string[])[] {
  const headers: (string | string[])[] = []
  const listed = connectionNames(res.getHeader('connection'))
  const named = listed.length === 0 ? null : new Set(listed)
  for (const raw of res.getHeaderNames()) {
    const n = raw.toLowerCase()
    const val = res.getHeader(n)
    if (val === undefined || NOT_STORED.has(n) || named?.has(n)) continue
    if (preset !== undefined && preset.get(n) === val) continue
    headers.push(n, typeof val === 'number' ? String(val) : (val as string | string[]))
  }
  if (res.getHeader('date') === undefined) headers.push('date', new Date(now).toUTCString())
  return headers
}

export function capture(ctx: Context, rt: Runtime, plan: StorePlan): Captured {
  const res = ctx.res
  const rule = plan.rule
  if (ctx.respond === false || res.headersSent) return NOTHING
  const now = rt.now()
  const v = verdict(rule, { status: ctx.status, header: (n) => res.getHeader(n) }, plan.authorized, now)
  if (v.reason !== undefined) {
    rt.metrics.notStored++
    return NOTHING
  }
  const hasValidator = res.getHeader('etag') !== undefined || res.getHeader('last-modified') !== undefined
  const { fresh: ttl, keep: storeTtl } = lifetime(v, hasValidator)

  let names = varyNames(res.getHeader('vary'))
  // A compressed body without `Vary: Accept-Encoding` (nginx's gzip_vary is off by default) would
  // reach clients that cannot decode it: vary on it anyway.
  if (res.getHeader('content-encoding') !== undefined && !(names?.includes('accept-encoding') ?? false)) {
    names = [...(names ?? []), 'accept-encoding']
  }
  const status = ctx.status
  const write = plan.tokens !== null
  const tokens = plan.tokens ?? []
  const headerTags = rule.tagsFromResponse ? responseTags(res) : []
  const variant = names === null ? null : varyValues(names, (n) => ctx.get(n))
  // headers as downstream left them, taken once the body is settled (see each branch below)
  let headers: (string | string[])[] = []
  const snapshot = () => { headers = storedHeaders(res, now, plan.preset) }
  /**
   * Middleware outside cachet runs after it and may still add Set-Cookie or make the response
   * private: the decision is checked again on the headers that actually went out.
   */
  const stillStorable = (): boolean => {
    if (res.getHeader('set-cookie') !== undefined) return false
    const cc = parseCacheControl(res.getHeader('cache-control'))
    return !cc.has('no-store') && !cc.has('private')
  }

  const commit = async (body: Buffer, nullBody: boolean): Promise<Entry | null> => {
    let headerTokens: string[] = []
    if (write && headerTags.length > 0) {
      headerTokens = await rt.store.tokens(headerTags.map((t) => tagGen(rt.name, t)), GEN_TTL)
      // a tag purged while this response was being produced must not be resurrected by it
      if (headerTokens.some((t) => tokenTime(t) + HEADER_TAG_SKEW_MS > plan.fetchStart)) return null
    }
    const entry: Entry = {
      kind: 'response', status, headers, storedAt: now, expires: now + ttl,
      initialAge: v.initialAge, variant, varyNames: null, nullBody, tokens, headerTags, headerTokens, swr: v.swr, sie: v.sie, body,
    }
    if (!write) return entry
    rt.metrics.stores++
    if (variant === null) {
      await rt.store.set(plan.key, encodeEntry(entry), storeTtl)
    } else {
      const index: Entry = {
        ...entry, kind: 'vary', variant: null, varyNames: names, headers: [], body: Buffer.alloc(0), headerTags: [], headerTokens: [],
      }
      await Promise.all([
        rt.store.set(plan.key, encodeEntry(index), storeTtl),
        rt.store.set(variantKey(plan.key, variant), encodeEntry(entry), storeTtl),
      ])
    }
    return entry
  }
  const started = (body: Buffer, nullBody: boolean): Promise<Entry | null> =>
    commit(body, nullBody).catch((err) => { rt.onStoreError(err); return null })
  /** a buffered body: written once the response has gone out with its final headers */
  const whenFinal = (body: Buffer, nullBody: boolean): Promise<Entry | null> => {
    snapshot()
    if (plan.background) return started(body, nullBody)
    return new Promise((resolve) => {
      finished(res, () => {
        if (stillStorable()) resolve(started(body, nullBody))
        else { rt.metrics.notStored++; resolve(null) }
      })
    })
  }

  const body = ctx.body as unknown
  if (body === null || body === undefined) return { storable: write, entry: whenFinal(Buffer.alloc(0), true) }
  if (Buffer.isBuffer(body)) return sized(body) ? { storable: write, entry: whenFinal(body, false) } : NOTHING
  if (typeof body === 'string') {
    const buf = Buffer.from(body)
    if (!sized(buf)) return NOTHING
    ctx.body = buf
    return { storable: write, entry: whenFinal(buf, false) }
  }
  if (isReadable(body)) {
    // Tee: the client gets every byte as it comes; the entry is written only if the stream
    // completes within maxBodySize (RFC 9111 §3.3: never store an incomplete response, T28).
    const length = res.getHeader('content-length')
    if (length !== undefined && Number(length) > rule.maxBodySize) return NOTHING
    const chunks: Buffer[] = []
    let size = 0
    let ok = true
    let resolveEntry!: (e: Promise<Entry | null> | null) => void
    const entry = new Promise<Entry | null>((r) => { resolveEntry = r })
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (ok) {
          size += chunk.length
          if (size > rule.maxBodySize) { ok = false; chunks.length = 0; rt.metrics.notStored++ } else chunks.push(chunk)
        }
        cb(null, chunk)
      },
      flush(cb) {
        // a body shorter than its Content-Length is incomplete (RFC 9111 §3.3)
        if (length !== undefined && Number(length) !== size) ok = false
        // the headers are final once the body flows: outer middleware has had its say
        if (ok && !plan.background && !stillStorable()) { ok = false; rt.metrics.notStored++ }
        resolveEntry(ok ? started(Buffer.concat(chunks, size), false) : null)
        cb()
      },
    })
    tee.once('close', () => resolveEntry(null)) // destroyed or aborted before flush: nothing stored
    body.once('error', (err) => tee.destroy(err))
    body.pipe(tee)
    ctx.body = tee
    if (length !== undefined) ctx.set('Content-Length', String(length))
    snapshot()
    if (plan.background) tee.resume()
    return { storable: false, entry, tee } // not yet stored: Cache-Status says only what is already true
  }
  if (typeof body === 'object' && !(body instanceof ReadableStream) && !(body instanceof Blob) && !(body instanceof Response)) {
    const buf = Buffer.from(JSON.stringify(body)) // exactly what Koa's respond() would send
    if (!sized(buf)) return NOTHING
    ctx.body = buf
    return { storable: write, entry: whenFinal(buf, false) }
  }
  return NOTHING

  function sized(buf: Buffer): boolean {
    if (buf.length <= rule.maxBodySize) return true
    rt.metrics.notStored++
    return false
  }
}

/** Surrogate-Key (space-separated, Fastly) and Cache-Tag (comma-separated, Cloudflare). */
function responseTags(res: Context['res']): string[] {
  const out = new Set<string>()
  const sk = res.getHeader('surrogate-key')
  if (sk !== undefined) for (const t of String(sk).split(/\s+/)) if (t) out.add(t)
  const ct = res.getHeader('cache-tag')
  if (ct !== undefined) for (const t of String(ct).split(',')) if (t.trim()) out.add(t.trim())
  return [...out].slice(0, MAX_HEADER_TAGS)
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function'
}
