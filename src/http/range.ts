/**
 * Range requests answered from a stored complete response (RFC 9110 §14): the `Range` grammar
 * (bytes only), which ranges are satisfiable against a representation's length, `If-Range`
 * (§13.1.5: a strong entity-tag match, or an exact match of a strong Last-Modified date), and the
 * `multipart/byteranges` body (§14.6).
 */
import { parseHttpDate } from './date.js'

/** Ranges in a request at most; more are answered with the whole representation (CVE-2011-3192). */
export const MAX_RANGES = 16

export type RangeAnswer =
  /** no usable Range: answer the whole representation (a bad or foreign Range is ignored, §14.2) */
  | { readonly kind: 'whole' }
  /** none of the ranges overlaps the representation: 416 with `bytes *\/len` */
  | { readonly kind: 'unsatisfiable' }
  /** inclusive byte offsets, in the order asked */
  | { readonly kind: 'ranges'; readonly ranges: readonly (readonly [number, number])[] }

const WHOLE: RangeAnswer = Object.freeze({ kind: 'whole' })
const UNSATISFIABLE: RangeAnswer = Object.freeze({ kind: 'unsatisfiable' })
const RANGE_SPEC = /^(\d*)-(\d*)$/

/**
 * `Range: bytes=a-b, a-, -n` against a representation of `length` bytes. Anything that is not
 * the bytes unit with a syntactically valid list is ignored as a whole (§14.2: "MAY ignore");
 * so are more than MAX_RANGES ranges and overlapping ones (a server may answer them whole,
 * §14.2, and overlapping ranges are a known amplification attack).
 */
export function parseRange(header: string, length: number): RangeAnswer {
  const eq = header.indexOf('=')
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return WHOLE
  const specs = header.slice(eq + 1).split(',')
  if (specs.length > MAX_RANGES) return WHOLE
  const out: [number, number][] = []
  for (const raw of specs) {
    const m = RANGE_SPEC.exec(raw.trim())
    if (m === null) return WHOLE
    const [, first, last] = m as unknown as [string, string, string]
    if (first === '' && last === '') return WHOLE
    if (first === '') {
      // suffix: the last n bytes (§14.1.1); "-0" is satisfiable by nothing
      const n = Number(last)
      if (n > 0 && length > 0) out.push([Math.max(0, length - n), length - 1])
      continue
    }
    const start = Number(first)
    const end = last === '' ? length - 1 : Number(last)
    if (last !== '' && end < start) return WHOLE // invalid (§14.1.1)
    if (start < length) out.push([start, Math.min(end, length - 1)])
  }
  if (out.length === 0) return UNSATISFIABLE
  if (out.length > 1) {
    const sorted = [...out].sort((a, b) => a[0] - b[0])
    for (let i = 1; i < sorted.length; i++) if (sorted[i]![0] <= sorted[i - 1]![1]) return WHOLE
  }
  return { kind: 'ranges', ranges: out }
}

/**
 * `If-Range` (RFC 9110 §13.1.5): the range applies only when the validator matches the stored
 * representation: an entity-tag by strong comparison (a weak one never matches), or an HTTP-date
 * equal to the stored `Last-Modified` when that one is strong (at least a second before `Date`,
 * §8.8.2.2). Otherwise the whole representation is sent.
 */
export function ifRangeMatches(
  value: string,
  etag: string | undefined,
  lastModified: string | undefined,
  date: string | undefined,
  now: number,
): boolean {
  const v = value.trim()
  if (v.startsWith('"') || v.startsWith('W/')) {
    return !v.startsWith('W/') && etag !== undefined && !etag.startsWith('W/') && etag === v
  }
  const when = parseHttpDate(v, now)
  if (Number.isNaN(when) || lastModified === undefined) return false
  const lm = parseHttpDate(lastModified, now)
  if (Number.isNaN(lm) || lm !== when) return false
  const d = date === undefined ? Number.NaN : parseHttpDate(date, now)
  return !Number.isNaN(d) && d - lm >= 1000
}

/** `Content-Range: bytes a-b/len` */
export function contentRange(r: readonly [number, number], length: number): string {
  return `bytes ${r[0]}-${r[1]}/${length}`
}

/**
 * A `multipart/byteranges` body (§14.6) of `ranges` of `body`, each part with its Content-Type (when
 * the representation has one) and Content-Range.
 */
export function byteranges(
  body: Buffer,
  ranges: readonly (readonly [number, number])[],
  type: string | undefined,
  boundary: string,
): Buffer {
  const parts: Buffer[] = []
  for (const r of ranges) {
    let head = `\r\n--${boundary}\r\n`
    if (type !== undefined) head += `Content-Type: ${type}\r\n`
    head += `Content-Range: ${contentRange(r, body.length)}\r\n\r\n`
    parts.push(Buffer.from(head, 'latin1'), body.subarray(r[0], r[1] + 1))
  }
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'))
  return Buffer.concat(parts)
}
