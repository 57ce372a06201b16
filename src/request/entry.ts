/**
 * A stored response: one binary value per entry (status, headers and body together), so LRU
 * eviction can never leave half an entry (T37). Layout:
 *
 *   0..1  magic 0xCA 0xC7
 *   2     format version (1)
 *   3..6  meta length, u32 BE
 *   7..   meta: UTF-8 JSON (status, headers, times, vary, tokens) — small
 *   ..    body bytes, raw (no base64)
 *
 * Versioned like http-cache-semantics' `toObject()`: anything else decodes to `undefined`, and the
 * middleware treats it as a miss (T33: foreign writers, older formats, truncation).
 *
 * A "vary" entry is the index stored at the primary key of a URL whose response carries `Vary`:
 * it names the request headers, and each variant lives at `<key>~<digest of their values>`.
 */

export interface Entry {
  readonly kind: 'response' | 'vary'
  readonly status: number
  /** flat [name, value, name, value…] */
  readonly headers: readonly (string | readonly string[])[]
  /** ms since epoch when the response was received */
  readonly storedAt: number
  /** ms since epoch when it stops being fresh */
  readonly expires: number
  /** seconds of age the response already had when received (origin `Age`, RFC 9111 §4.2.3) */
  readonly initialAge: number
  /** a response: flat [name, value…] of the request header values it was selected by, or null
   *  when it did not vary; always null on a vary index */
  readonly variant: readonly string[] | null
  /** a vary index: the request header names its variants vary on; always null on a response */
  readonly varyNames: readonly string[] | null
  /** true when the application set no body (Koa then renders the status message itself) */
  readonly nullBody: boolean
  /** generation tokens, aligned with the lookup's generation keys when it was stored */
  readonly tokens: readonly string[]
  /** tags the response named itself (Surrogate-Key / Cache-Tag), and their tokens */
  readonly headerTags: readonly string[]
  readonly headerTokens: readonly string[]
  /** ms after `expires` during which it may be served while one refresh runs (RFC 5861 §3) */
  readonly swr: number
  /** ms after `expires` during which it may be served when the origin fails (RFC 5861 §4) */
  readonly sie: number
  /** ms after `expires` during which it may be served when the origin cannot be reached (RFC 9111 §4.2.4) */
  readonly siu: number
  readonly body: Buffer
}

interface Meta {
  v: 1
  k?: 1
  s: number
  h: (string | readonly string[])[]
  t: number
  e: number
  a: number
  /** the variant's request header values (a response) or the vary names (an index) */
  y: readonly string[] | null
  n: 0 | 1
  g: readonly string[]
  ht?: readonly string[]
  hg?: readonly string[]
  w: number
  x: number
  /** staleIfUnreachable, ms; absent when 0 (entries written before the field read as 0) */
  u?: number
}

const MAGIC0 = 0xca
const MAGIC1 = 0xc7
const VERSION = 1
const HEAD = 7
const NONE: readonly string[] = Object.freeze([])

export function encodeEntry(e: Entry): Buffer {
  const meta: Meta = {
    v: 1,
    s: e.status,
    h: e.headers as Meta['h'],
    t: e.storedAt,
    e: e.expires,
    a: e.initialAge,
    y: e.kind === 'vary' ? e.varyNames : e.variant,
    n: e.nullBody ? 1 : 0,
    g: e.tokens,
    w: e.swr,
    x: e.sie,
  }
  if (e.siu > 0) meta.u = e.siu
  if (e.kind === 'vary') meta.k = 1
  if (e.headerTags.length > 0) {
    meta.ht = e.headerTags
    meta.hg = e.headerTokens
  }
  const json = Buffer.from(JSON.stringify(meta))
  const out = Buffer.allocUnsafe(HEAD + json.length + e.body.length)
  out[0] = MAGIC0
  out[1] = MAGIC1
  out[2] = VERSION
  out.writeUInt32BE(json.length, 3)
  json.copy(out, HEAD)
  e.body.copy(out, HEAD + json.length)
  return out
}

// The memory store hands back the very Buffer it was given, so a decoded entry can be memoised
// by identity: a memory hit then parses nothing. Redis values are fresh Buffers each time.
const decoded = new WeakMap<Buffer, Entry>()

const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string')

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
// RFC 9110 §5.5 field values: visible ASCII, obs-text, SP and HTAB; never CR, LF or NUL
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/**
 * Stored headers are replayed without Node's per-call validation (respond.ts), so they are
 * validated here, once per decode: lower-case token names, values without control characters.
 * An entry that fails (a foreign or corrupted writer) is not an entry.
 */
function validHeaders(h: unknown[]): boolean {
  if (h.length % 2 !== 0) return false
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]
    const v = h[i + 1]
    if (typeof n !== 'string' || !TOKEN.test(n)) return false
    if (typeof v === 'string') {
      if (BAD_VALUE.test(v)) return false
    } else if (!strings(v) || v.some((x) => BAD_VALUE.test(x))) return false
  }
  return true
}

/**
 * hot path: bytes → Entry, or undefined for anything that is not a complete entry of this version.
 * `memoise`: the store hands back the same Buffer each time (the memory store), so remember it.
 */
export function decodeEntry(buf: Buffer, memoise = false): Entry | undefined {
  if (memoise) {
    const memo = decoded.get(buf)
    if (memo !== undefined) return memo
  }
  if (buf.length < HEAD || buf[0] !== MAGIC0 || buf[1] !== MAGIC1 || buf[2] !== VERSION) return undefined
  const len = buf.readUInt32BE(3)
  if (HEAD + len > buf.length) return undefined
  let m: Meta
  try {
    m = JSON.parse(buf.toString('utf8', HEAD, HEAD + len)) as Meta
  } catch {
    return undefined
  }
  // a status Koa cannot set (an integer in 100-999) would turn every hit on this entry into a 500
  if (
    m === null ||
    typeof m !== 'object' ||
    m.v !== 1 ||
    !Number.isInteger(m.s) ||
    m.s < 100 ||
    m.s > 999 ||
    !Array.isArray(m.h) ||
    typeof m.t !== 'number' ||
    typeof m.e !== 'number' ||
    !strings(m.g) ||
    !validHeaders(m.h)
  )
    return undefined
  const kind = m.k === 1 ? 'vary' : 'response'
  const y = strings(m.y) ? m.y : null
  const entry: Entry = {
    kind,
    status: m.s,
    headers: m.h,
    storedAt: m.t,
    expires: m.e,
    initialAge: typeof m.a === 'number' ? m.a : 0,
    variant: kind === 'response' ? y : null,
    varyNames: kind === 'vary' ? y : null,
    nullBody: m.n === 1,
    tokens: m.g,
    headerTags: strings(m.ht) ? m.ht : NONE,
    headerTokens: strings(m.hg) ? m.hg : NONE,
    swr: typeof m.w === 'number' ? m.w : 0,
    sie: typeof m.x === 'number' ? m.x : 0,
    siu: typeof m.u === 'number' ? m.u : 0,
    body: buf.subarray(HEAD + len),
  }
  if (memoise) decoded.set(buf, entry)
  return entry
}
