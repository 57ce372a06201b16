/**
 * After the application answered: can the response be stored, and if so, write it — never
 * delaying the response (the write is started, not awaited) and never storing a body that did
 * not complete (a stream is teed and written only when it ends within maxBodySize, T28).
 */
import { finished, type Readable, Transform } from 'node:stream'
import type { Context } from 'koa'
import { coverMs, tagGen, tokenTime } from '../generation/keys.js'
import {
  type Lifetime,
  parseCacheControl,
  type ResponseView,
  responseDirectives,
  type Verdict,
} from '../http/freshness.js'
import { connectionNames, NOT_STORED } from '../http/headers.js'
import { variantKey, varyNames, varyValues } from '../key/variant.js'
import { errorText } from '../log.js'
import type { RuleCounters } from '../metrics/counters.js'
import { type StoreMessage, storeChannel } from '../metrics/trace.js'
import type { Rule } from '../policy/types.js'
import type { Runtime } from '../runtime.js'
import { countNotStored } from './count.js'
import { type Entry, encodeEntry } from './entry.js'
import { storeLimits } from './limits.js'
import { overBodySize, storedLifetime, storeVerdict } from './storable.js'

const MAX_HEADER_TAGS = 64
/** a purge this close before a fetch started may still have raced it (clock skew between instances) */
const HEADER_TAG_SKEW_MS = 1000

export interface StorePlan {
  readonly key: string
  readonly rule: Rule
  /** the rule's counters (decide.ts) */
  readonly counters: RuleCounters
  /** the not-stored reason counted when `tokens` is null: "store-down" unless said otherwise */
  readonly unwritten?: string
  readonly authorized: boolean
  /** tokens of the lookup's generation keys, read before the origin was asked; null: do not store
   *  (the entry is still built, for requests coalesced on this one) */
  readonly tokens: readonly string[] | null
  /** the URL and tag generation keys (the lookup's `urlAndTagGens`): read with a short life
   *  before the origin was asked, extended here to cover the entry */
  readonly cover: readonly string[]
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
  /** why a response the rule would store is refused, for Cache-Status `detail=` */
  readonly refused?: string
}

const NOTHING: Captured = Object.freeze({ storable: false, entry: Promise.resolve(null) })
const DECEPTION: Captured = Object.freeze({ ...NOTHING, refused: 'content-type' })
const VARIANT_CAP: Captured = Object.freeze({ ...NOTHING, refused: 'variant-cap' })
const ENTRY_RATE: Captured = Object.freeze({ ...NOTHING, refused: 'entry-rate' })
const nothing = (): void => {}

/** The response headers set before downstream runs (usually none). */
export function presetHeaders(res: Context['res']): ReadonlyMap<string, unknown> | undefined {
  const names = res.getHeaderNames()
  if (names.length === 0) return undefined
  return new Map(names.map((n) => [n, res.getHeader(n)]))
}

/** Response headers as stored: end-to-end fields only, lower-case names. */
export function storedHeaders(
  res: Context['res'],
  now: number,
  preset?: ReadonlyMap<string, unknown>,
): (string | string[])[] {
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
  if (ctx.respond === false || res.headersSent) return refuse(rt, plan, 'direct', NOTHING, ctx.status)
  const now = rt.now()
  const view: ResponseView = { status: ctx.status, header: (n) => res.getHeader(n) }
  // the same decision explain and `cachet test` report (storable.ts)
  const v = storeVerdict(plan.rule, ctx.path, view, plan.authorized, now)
  if (v.reason !== undefined)
    return refuse(rt, plan, v.reason, v.reason === 'content-type' ? DECEPTION : NOTHING, ctx.status)
  const draft = new Draft(ctx, rt, plan, v, storedLifetime(v, view), now)
  if (plan.tokens !== null) {
    // the rule's bounds on new variants and entries (limits.ts, T12)
    const limited = storeLimits(rt).admit(plan.rule, plan.key, draft.variantKey, plan.background, now)
    if (limited !== undefined)
      return refuse(rt, plan, limited, limited === 'variant-cap' ? VARIANT_CAP : ENTRY_RATE, ctx.status)
  }
  const body = ctx.body as unknown
  if (body === null || body === undefined) return draft.buffered(Buffer.alloc(0), true, false)
  if (Buffer.isBuffer(body)) return draft.buffered(body, false, false)
  if (typeof body === 'string') return draft.buffered(Buffer.from(body), false, true)
  if (isReadable(body)) return draft.stream(body)
  if (
    typeof body === 'object' &&
    !(body instanceof ReadableStream) &&
    !(body instanceof Blob) &&
    !(body instanceof Response)
  ) {
    return draft.buffered(Buffer.from(JSON.stringify(body)), false, true) // exactly what Koa's respond() would send
  }
  return refuse(rt, plan, 'body-type', NOTHING, ctx.status)
}

/** Counts an answer that is not stored, and why (the global counter and the rule's). */
function refuse(rt: Runtime, plan: StorePlan, reason: string, result: Captured, status: number): Captured {
  rt.metrics.notStored++
  countNotStored(plan.counters, reason)
  if (storeChannel.hasSubscribers) publishStore(rt, plan, 'not-stored', reason, status)
  return result
}

/** One cachet:store message (metrics/trace.ts); only called while the channel has subscribers. */
function publishStore(
  rt: Runtime,
  plan: StorePlan,
  outcome: StoreMessage['outcome'],
  reason: string | null,
  status: number,
  stored?: { bytes: number; freshMs: number },
  error?: unknown,
): void {
  const message: StoreMessage = {
    cache: rt.name,
    rule: plan.rule.id,
    key: plan.key,
    outcome,
    reason,
    status,
    bytes: stored?.bytes ?? null,
    freshMs: stored?.freshMs ?? null,
    background: plan.background,
    ...(error !== undefined ? { error: errorText(error) } : {}),
  }
  storeChannel.publish(message)
}

/** A storable response on its way into the store: what the entry will be, short of its body. */
class Draft {
  readonly #ctx: Context
  readonly #rt: Runtime
  readonly #plan: StorePlan
  readonly #now: number
  readonly #verdict: Verdict
  readonly #life: Lifetime
  readonly #status: number
  /** the Vary names of the response, and this request's values for them (null: no Vary) */
  readonly #names: string[] | null
  readonly #variant: string[] | null
  readonly #headerTags: string[]
  /** a targeted field (RFC 9213) governed the decision, not Cache-Control */
  readonly #targeted: boolean
  /** headers as downstream left them, taken once the body is settled (see buffered/stream) */
  #headers: (string | string[])[] = []

  constructor(ctx: Context, rt: Runtime, plan: StorePlan, v: Verdict, life: Lifetime, now: number) {
    const res = ctx.res
    this.#ctx = ctx
    this.#rt = rt
    this.#plan = plan
    this.#now = now
    this.#verdict = v
    this.#status = ctx.status
    this.#life = life
    let names = varyNames(res.getHeader('vary'))
    // A compressed body without `Vary: Accept-Encoding` (nginx's gzip_vary is off by default) would
    // reach clients that cannot decode it: vary on it anyway.
    if (res.getHeader('content-encoding') !== undefined && !(names?.includes('accept-encoding') ?? false)) {
      names = [...(names ?? []), 'accept-encoding']
    }
    this.#names = names
    this.#variant = names === null ? null : varyValues(names, (n) => ctx.get(n), plan.rule.key.varyUnordered)
    this.#headerTags = plan.rule.tagsFromResponse ? responseTags(res) : []
    this.#targeted = responseDirectives(plan.rule.targeted, (n) => res.getHeader(n)).targeted !== undefined
  }

  /** where the entry will live when the response varies, else null */
  get variantKey(): string | null {
    return this.#variant === null ? null : variantKey(this.#plan.key, this.#variant)
  }

  /** whether the entry is written at all (else it is only built, for coalesced requests) */
  get #write(): boolean {
    return this.#plan.tokens !== null
  }

  /**
   * A body in hand, written once the response has gone out with its final headers. `replace`:
   * the body is the serialised form of ctx.body, which then sends exactly these bytes.
   */
  buffered(body: Buffer, nullBody: boolean, replace: boolean): Captured {
    if (overBodySize(this.#plan.rule, body.length))
      return refuse(this.#rt, this.#plan, 'too-large', NOTHING, this.#status)
    if (replace) this.#ctx.body = body
    this.#snapshot()
    if (this.#plan.background) return { storable: this.#write, entry: this.#commit(body, nullBody) }
    const entry = new Promise<Entry | null>((resolve) => {
      finished(this.#ctx.res, () => {
        const late = this.#lateRefusal()
        if (late === undefined) resolve(this.#commit(body, nullBody))
        else {
          refuse(this.#rt, this.#plan, late, NOTHING, this.#status)
          resolve(null)
        }
      })
    })
    return { storable: this.#write, entry }
  }

  /**
   * A stream body, teed: the client gets every byte as it comes; the entry is written only if the
   * stream completes within maxBodySize (RFC 9111 §3.3: never store an incomplete response, T28).
   */
  stream(body: Readable): Captured {
    const { rule, background } = this.#plan
    const length = this.#ctx.res.getHeader('content-length')
    if (length !== undefined && overBodySize(rule, Number(length)))
      return refuse(this.#rt, this.#plan, 'too-large', NOTHING, this.#status)
    const chunks: Buffer[] = []
    let size = 0
    let ok = true
    let flushed = false
    let resolveEntry!: (e: Promise<Entry | null> | null) => void
    const entry = new Promise<Entry | null>((r) => {
      resolveEntry = r
    })
    const tee = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        if (ok) {
          size += chunk.length
          if (!overBodySize(rule, size)) chunks.push(chunk)
          else {
            ok = false
            chunks.length = 0
            refuse(this.#rt, this.#plan, 'too-large', NOTHING, this.#status)
          }
        }
        cb(null, chunk)
      },
      flush: (cb) => {
        flushed = true
        // a body shorter than its Content-Length is incomplete (RFC 9111 §3.3)
        if (ok && length !== undefined && Number(length) !== size) {
          ok = false
          refuse(this.#rt, this.#plan, 'incomplete', NOTHING, this.#status)
        }
        // the headers are final once the body flows: outer middleware has had its say
        const late = ok && !background ? this.#lateRefusal() : undefined
        if (late !== undefined) {
          ok = false
          refuse(this.#rt, this.#plan, late, NOTHING, this.#status)
        }
        resolveEntry(ok ? this.#commit(Buffer.concat(chunks, size), false) : null)
        cb()
      },
    })
    tee.once('close', () => {
      // destroyed or aborted before flush: nothing stored
      if (!flushed && ok) refuse(this.#rt, this.#plan, 'incomplete', NOTHING, this.#status)
      resolveEntry(null)
    })
    body.once('error', (err) => tee.destroy(err))
    body.pipe(tee)
    this.#ctx.body = tee
    if (length !== undefined) this.#ctx.set('Content-Length', String(length))
    this.#snapshot()
    if (background) tee.resume()
    return { storable: false, entry, tee } // not yet stored: Cache-Status says only what is already true
  }

  #snapshot(): void {
    this.#headers = storedHeaders(this.#ctx.res, this.#now, this.#plan.preset)
  }

  /**
   * Middleware outside cachet runs after it and may still add Set-Cookie or make the response
   * private: the decision is checked again on the headers that actually went out. Why it may
   * no longer be stored, or undefined.
   */
  #lateRefusal(): string | undefined {
    const res = this.#ctx.res
    if (res.getHeader('set-cookie') !== undefined) return 'set-cookie'
    // a targeted field decided (RFC 9213 §2.1): Cache-Control speaks to browsers, not to cachet
    if (this.#targeted) return undefined
    const cc = parseCacheControl(res.getHeader('cache-control'))
    return cc.has('no-store') ? 'no-store' : cc.has('private') ? 'private' : undefined
  }

  /** Builds the entry and (unless told not to) writes it; never rejects: a store error is null. */
  #commit(body: Buffer, nullBody: boolean): Promise<Entry | null> {
    return this.#build(body, nullBody).catch((err) => {
      this.#rt.onStoreError(err)
      if (storeChannel.hasSubscribers)
        publishStore(this.#rt, this.#plan, 'failed', null, this.#status, undefined, err)
      return null
    })
  }

  async #build(body: Buffer, nullBody: boolean): Promise<Entry | null> {
    const rt = this.#rt
    const plan = this.#plan
    const keep = this.#life.keep
    let headerTokens: string[] = []
    // The URL and tag tokens were read with a short life (lookup.ts tokensFor): make them outlive
    // the entry (extend, never shorten: a tag shared with a longer-lived entry keeps its life).
    // One store call with the response's own tags when it names any (their tokens go into the
    // entry, so that call is awaited anyway); otherwise sent alongside the entry's SET (one
    // pipeline), so that storing waits no longer than before. Should the extension fail, or come
    // after the token expired, the entry only becomes a miss sooner (README "How purge works").
    let covered: Promise<void> | undefined
    if (this.#write && this.#headerTags.length > 0) {
      const gens = [...plan.cover, ...this.#headerTags.map((t) => tagGen(rt.name, t))]
      headerTokens = (await rt.store.tokens(gens, coverMs(keep))).slice(plan.cover.length)
      // a tag purged while this response was being produced must not be resurrected by it
      if (headerTokens.some((t) => tokenTime(t) + HEADER_TAG_SKEW_MS > plan.fetchStart)) {
        countNotStored(plan.counters, 'purged')
        if (storeChannel.hasSubscribers) publishStore(rt, plan, 'not-stored', 'purged', this.#status)
        return null
      }
    } else if (this.#write && plan.cover.length > 0) {
      covered = rt.store.tokens(plan.cover, coverMs(keep)).then(nothing, rt.onStoreError)
    }
    const v = this.#verdict
    const entry: Entry = {
      kind: 'response',
      status: this.#status,
      headers: this.#headers,
      storedAt: this.#now,
      expires: this.#now + this.#life.fresh,
      initialAge: v.initialAge,
      variant: this.#variant,
      varyNames: null,
      nullBody,
      tokens: plan.tokens ?? [],
      headerTags: this.#headerTags,
      headerTokens,
      swr: v.swr,
      sie: v.sie,
      siu: v.siu,
      body,
    }
    if (!this.#write) {
      // storable, but its tokens are unknown (store down) or withheld: built for coalesced
      // requests, never written
      countNotStored(plan.counters, plan.unwritten ?? 'store-down')
      if (storeChannel.hasSubscribers)
        publishStore(rt, plan, 'not-stored', plan.unwritten ?? 'store-down', this.#status)
      return entry
    }
    rt.metrics.stores++
    plan.counters.stored++
    if (this.#variant === null) {
      await Promise.all([rt.store.set(plan.key, encodeEntry(entry), keep), covered])
    } else {
      const index: Entry = {
        ...entry,
        kind: 'vary',
        variant: null,
        varyNames: this.#names,
        headers: [],
        body: Buffer.alloc(0),
        headerTags: [],
        headerTokens: [],
      }
      await Promise.all([
        rt.store.set(plan.key, encodeEntry(index), keep),
        rt.store.set(variantKey(plan.key, this.#variant), encodeEntry(entry), keep),
        covered,
      ])
    }
    if (storeChannel.hasSubscribers)
      publishStore(rt, plan, 'stored', null, this.#status, { bytes: body.length, freshMs: this.#life.fresh })
    return entry
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
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Readable).pipe === 'function' &&
    typeof (v as Readable).on === 'function'
  )
}
