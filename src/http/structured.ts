/**
 * RFC 8941 Structured Field Dictionaries, parsed as §4.2.2 says, for the targeted cache-control
 * fields of RFC 9213 (`CDN-Cache-Control`, `Cachet-Cache-Control`): those are Dictionaries, and
 * one that fails to parse is ignored as a whole (RFC 9213 §2.1), so the parser is strict and
 * answers `undefined` rather than guessing.
 *
 * Members come out as the directive map the freshness code reads (http/freshness.ts): a bare key
 * or `?1` is a directive without argument (`''`), `?0` is no directive at all, an Integer its
 * decimal digits (a negative one keeps its sign, which delta-seconds then refuses: stale), a
 * Token or String its text, and anything else (Decimal, Byte Sequence, Inner List) a value no
 * directive accepts. Parameters are parsed and dropped (RFC 9213 defines none).
 */

/** the Dictionary's members by key (last one wins, §4.2.2), or undefined when it is not one */
export function parseDictionary(input: string): Map<string, string> | undefined {
  // leading and trailing SP are discarded (§4.2); node:http has already trimmed tabs
  let a = 0
  let b = input.length
  while (a < b && input.charCodeAt(a) === 0x20) a++
  while (b > a && input.charCodeAt(b - 1) === 0x20) b--
  const p = new Parser(input.slice(a, b))
  const out = new Map<string, string>()
  if (p.end()) return out
  for (;;) {
    const key = p.key()
    if (key === undefined) return undefined
    let value: string | undefined | false
    if (p.peek() === 0x3d /* = */) {
      p.i++
      value = p.peek() === 0x28 /* ( */ ? p.innerList() : p.bareItem()
    } else value = ''
    if (value === false || !p.parameters()) return undefined
    if (value === undefined) out.delete(key)
    else out.set(key, value)
    p.ows()
    if (p.end()) return out
    if (p.peek() !== 0x2c /* , */) return undefined
    p.i++
    p.ows()
    if (p.end()) return undefined // a trailing comma
  }
}

/** what an Inner List or another non-directive value becomes: no digits, so never a lifetime */
const OPAQUE = '\u0000'

class Parser {
  i = 0
  constructor(readonly s: string) {}

  end(): boolean {
    return this.i >= this.s.length
  }
  peek(): number {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1
  }
  sp(): void {
    while (this.peek() === 0x20) this.i++
  }
  ows(): void {
    while (this.peek() === 0x20 || this.peek() === 0x09) this.i++
  }

  /** §4.2.3.3: lcalpha / "*", then lcalpha / DIGIT / "_" / "-" / "." / "*" */
  key(): string | undefined {
    const start = this.i
    const c = this.peek()
    if (!((c >= 0x61 && c <= 0x7a) || c === 0x2a)) return undefined
    this.i++
    for (;;) {
      const d = this.peek()
      if (
        (d >= 0x61 && d <= 0x7a) ||
        (d >= 0x30 && d <= 0x39) ||
        d === 0x5f ||
        d === 0x2d ||
        d === 0x2e ||
        d === 0x2a
      )
        this.i++
      else break
    }
    return this.s.slice(start, this.i)
  }

  /** `;key[=bare-item]`*; false when malformed */
  parameters(): boolean {
    while (this.peek() === 0x3b /* ; */) {
      this.i++
      this.sp()
      if (this.key() === undefined) return false
      if (this.peek() === 0x3d) {
        this.i++
        if (this.bareItem() === false) return false
      }
    }
    return true
  }

  /** §4.2.1.2 */
  innerList(): string | false {
    this.i++ // (
    for (;;) {
      this.sp()
      if (this.peek() === 0x29 /* ) */) {
        this.i++
        return OPAQUE
      }
      if (this.bareItem() === false || !this.parameters()) return false
      const c = this.peek()
      if (c !== 0x20 && c !== 0x29) return false
    }
  }

  /** §4.2.3.1; undefined for `?0` (no directive), false when malformed */
  bareItem(): string | undefined | false {
    const c = this.peek()
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number()
    if (c === 0x22) return this.string()
    if (c === 0x3a) return this.bytes()
    if (c === 0x3f) return this.boolean()
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2a) return this.token()
    return false
  }

  /** §4.2.4: at most 15 integer digits; a Decimal at most 12 before and 3 after the point */
  number(): string | false {
    const start = this.i
    if (this.peek() === 0x2d) this.i++
    const digitsAt = this.i
    while (this.peek() >= 0x30 && this.peek() <= 0x39) this.i++
    const whole = this.i - digitsAt
    if (whole === 0) return false
    if (this.peek() !== 0x2e) return whole > 15 ? false : this.s.slice(start, this.i)
    if (whole > 12) return false
    this.i++
    const fracAt = this.i
    while (this.peek() >= 0x30 && this.peek() <= 0x39) this.i++
    const frac = this.i - fracAt
    if (frac < 1 || frac > 3) return false
    return this.s.slice(start, this.i) // a Decimal: not delta-seconds
  }

  /** §4.2.5: printable ASCII, `\"` and `\\` the only escapes */
  string(): string | false {
    this.i++
    let out = ''
    for (;;) {
      const c = this.peek()
      if (c === -1) return false
      this.i++
      if (c === 0x22) return out
      if (c === 0x5c) {
        const e = this.peek()
        if (e !== 0x22 && e !== 0x5c) return false
        this.i++
        out += String.fromCharCode(e)
      } else if (c < 0x20 || c > 0x7e) return false
      else out += String.fromCharCode(c)
    }
  }

  /** §4.2.6: ALPHA / "*", then tchar / ":" / "/" */
  token(): string {
    const start = this.i
    this.i++
    while (this.i < this.s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/.test(this.s[this.i]!)) this.i++
    return this.s.slice(start, this.i)
  }

  /** §4.2.7 */
  bytes(): string | false {
    this.i++
    while (this.i < this.s.length && /[A-Za-z0-9+/=]/.test(this.s[this.i]!)) this.i++
    if (this.peek() !== 0x3a) return false
    this.i++
    return OPAQUE
  }

  /** §4.2.8 */
  boolean(): string | undefined | false {
    this.i++
    const c = this.peek()
    if (c !== 0x30 && c !== 0x31) return false
    this.i++
    return c === 0x31 ? '' : undefined
  }
}
