/**
 * HTTP-date (RFC 9110 §5.6.7), by the grammar and nothing else: `Date.parse` accepts ISO dates,
 * numeric zones, lower case and a dozen other forms, and a cache that reads `Expires: 2030-01-01`
 * as a date keeps what the origin meant as expired (an invalid Expires means "already expired",
 * RFC 9111 §5.3). Three forms are dates:
 *
 *     IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT     (the one senders generate)
 *     rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT    (obsolete; recipients MUST accept)
 *     asctime-date  Sun Nov  6 08:49:37 1994          (obsolete; no zone: GMT)
 *
 * HTTP-date is case-sensitive and has no optional whitespace inside; the field's own leading and
 * trailing whitespace (OWS, which node:http already strips) is allowed. The day name must be a
 * day name, though not necessarily the right one (the grammar does not tie them); a day that the
 * month does not have (31 Apr), hour 24 or minute 60 is invalid; second 60 (a leap second) is
 * allowed by the grammar and read as the next second.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const DAY = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun'
const LONG_DAY = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday'
const MONTH = MONTHS.join('|')
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)'

const IMF = new RegExp(`^(?:${DAY}), (\\d\\d) (${MONTH}) (\\d{4}) ${TIME} GMT$`)
const RFC850 = new RegExp(`^(?:${LONG_DAY}), (\\d\\d)-(${MONTH})-(\\d\\d) ${TIME} GMT$`)
// asctime's day is `2DIGIT / ( SP DIGIT )`: " 6" or "06"
const ASCTIME = new RegExp(`^(?:${DAY}) (${MONTH}) (\\d\\d| \\d) ${TIME} (\\d{4})$`)

/** HTTP-date → ms since the epoch, or NaN when the value is not one. */
export function parseHttpDate(v: string | undefined, now = Date.now()): number {
  if (v === undefined) return NaN
  const t = trimOws(v)
  let m = IMF.exec(t)
  if (m !== null) return utc(+m[3]!, m[2]!, +m[1]!, m[4]!, m[5]!, m[6]!)
  m = RFC850.exec(t)
  if (m !== null) return utc(fullYear(+m[3]!, now), m[2]!, +m[1]!, m[4]!, m[5]!, m[6]!)
  m = ASCTIME.exec(t)
  if (m !== null) return utc(+m[6]!, m[1]!, +m[2]!.trim(), m[3]!, m[4]!, m[5]!)
  return NaN
}

function trimOws(v: string): string {
  let a = 0
  let b = v.length
  while (a < b && (v.charCodeAt(a) === 0x20 || v.charCodeAt(a) === 0x09)) a++
  while (b > a && (v.charCodeAt(b - 1) === 0x20 || v.charCodeAt(b - 1) === 0x09)) b--
  return a === 0 && b === v.length ? v : v.slice(a, b)
}

/**
 * RFC 9110 §5.6.7: a two-digit year that "appears to be more than 50 years in the future" is the
 * most recent past year with the same last two digits.
 */
function fullYear(yy: number, now: number): number {
  const current = new Date(now).getUTCFullYear()
  let y = current - (current % 100) + yy
  if (y > current + 50) y -= 100
  return y
}

function utc(year: number, month: string, day: number, hh: string, mm: string, ss: string): number {
  const mon = MONTHS.indexOf(month)
  const h = +hh
  const min = +mm
  const s = +ss
  if (day < 1 || h > 23 || min > 59 || s > 60) return NaN
  const ms = Date.UTC(year, mon, day, h, min, s)
  // a day the month does not have (31 Apr, 29 Feb 1995) rolls over in Date.UTC: refuse it
  const d = new Date(s === 60 ? ms - 1000 : ms)
  if (d.getUTCDate() !== day || d.getUTCMonth() !== mon) return NaN
  return ms
}
