/**
 * cachet's glob language, compiled and matched here and nowhere else, so the matcher, the lint
 * and `explain` agree on what a glob means (docs/policy-format.md "Globs").
 *
 * Why not micromatch: it compiles a glob to a backtracking RegExp and expands braces before it
 * counts them, so a hostile or careless policy could stall the event loop (issue 12: 22 brace
 * groups took 70 s and 2.7 GB to validate; `/!(a*a*a*a*b)` took 3.7 s on a 352-character path).
 * This engine is linear by construction:
 * - every count is arithmetic: the number of brace variants is computed from the parse tree and
 *   refused above MAX_BRACE_VARIANTS before one is built; the glob's length and nesting are capped;
 * - matching has one backtracking point per level, the way Russ Cox describes glob matching
 *   ("Glob Matching Can Be Simple And Fast Too"): `**` over path segments, `*` over the
 *   characters of one segment. Either retries only from its own last position, so a test costs
 *   O(path length × glob length) whatever the glob.
 * The language is micromatch's, less what cannot be matched that way (`+(…)`, `*(…)`) or reads
 * too easily as something else (bare `(`, `|`, a leading `!`): those are refused with the reason,
 * never given a surprising meaning. Path globs are case-insensitive (a bypass rule must not be
 * escaped by `/ACCOUNT`), and a path matches when it, or it less one trailing `/`, matches.
 */

/** Brace and extglob alternatives may give a glob at most this many variants. */
export const MAX_BRACE_VARIANTS = 64
/** Longest glob accepted, in characters. */
export const MAX_GLOB_LENGTH = 1024
/** Deepest nesting of `{…}`, `@(…)`, `?(…)` and `!(…)` accepted. */
export const MAX_GLOB_DEPTH = 16

/** What is wrong with a glob, and where: `offset` is the 0-based index in the glob's text. */
export class GlobError extends Error {
  readonly offset: number
  constructor(message: string, offset: number) {
    super(`${message} (at character ${offset + 1})`)
    this.name = 'GlobError'
    this.offset = offset
  }
}

/** `path` globs match request paths (segments, `**`, trailing slash); `host` globs a host name. */
export type GlobKind = 'path' | 'host'

// ---------------------------------------------------------------------------------------------
// Case: ECMA-262's Canonicalize for a non-unicode `i` RegExp, the reading @koa/router and
// path-to-regexp give routes: a character is its upper case when that is one character and not
// ASCII unless it already was. We store ASCII letters lower-cased (so the index's keys are the
// path's `A`–`Z` lower-cased), which is the same equivalence.

let canonTable: Uint16Array | undefined
function buildCanon(): Uint16Array {
  const t = new Uint16Array(0x10000)
  for (let c = 0; c < 0x10000; c++) {
    if (c < 128) {
      t[c] = c >= 65 && c <= 90 ? c + 32 : c
      continue
    }
    const u = String.fromCharCode(c).toUpperCase()
    const uc = u.charCodeAt(0)
    t[c] = u.length === 1 && uc >= 128 ? uc : c
  }
  return t
}
/** hot path: the canonical (case-folded) form of one UTF-16 code unit */
function canon(c: number): number {
  if (c < 128) return c >= 65 && c <= 90 ? c + 32 : c
  return (canonTable ??= buildCanon())[c]!
}
/** A canonical non-ASCII code's lower-case partner, for bracket ranges written in lower case. */
function lowerPartner(c: number): number {
  const l = String.fromCharCode(c).toLowerCase()
  return l.length === 1 ? l.charCodeAt(0) : c
}

// ---------------------------------------------------------------------------------------------
// Bracket classes

/** `a-zA-Z0-9` → code-unit ranges */
function rangesOf(spec: string): [number, number][] {
  const out: [number, number][] = []
  for (let i = 0; i < spec.length; i++) {
    if (spec[i + 1] === '-' && i + 2 < spec.length) {
      out.push([spec.charCodeAt(i), spec.charCodeAt(i + 2)])
      i += 2
    } else out.push([spec.charCodeAt(i), spec.charCodeAt(i)])
  }
  return out
}

/** POSIX classes (`[[:alpha:]]`), ASCII only, as micromatch reads them */
const POSIX: ReadonlyMap<string, readonly [number, number][]> = new Map(
  Object.entries({
    alnum: 'a-zA-Z0-9',
    alpha: 'a-zA-Z',
    ascii: '\x00-\x7f',
    blank: ' \t',
    cntrl: '\x00-\x1f\x7f',
    digit: '0-9',
    graph: '!-~',
    lower: 'a-z',
    print: ' -~',
    punct: '!-/:-@[-`{-~',
    space: ' \t\r\n\v\f',
    upper: 'A-Z',
    word: 'A-Za-z0-9_',
    xdigit: 'A-Fa-f0-9',
  }).map(([name, spec]) => [name, rangesOf(spec)]),
)

/** A `[…]` class: ASCII members as a bitmap of canonical codes, others as raw ranges. */
class CharClass {
  readonly negated: boolean
  readonly #ascii = new Uint32Array(4)
  readonly #ranges: number[] = []

  constructor(negated: boolean, ranges: readonly (readonly [number, number])[]) {
    this.negated = negated
    for (const [lo, hi] of ranges) {
      for (let c = lo; c <= Math.min(hi, 127); c++) {
        const k = canon(c)
        this.#ascii[k >>> 5]! |= 1 << (k & 31)
      }
      if (hi >= 128) this.#ranges.push(Math.max(lo, 128), hi)
    }
  }

  /** `k` is a canonical code; `/` is never a member, whatever the class says */
  has(k: number): boolean {
    if (k === 47) return false
    let hit: boolean
    if (k < 128) hit = (this.#ascii[k >>> 5]! & (1 << (k & 31))) !== 0
    else {
      const r = this.#ranges
      const l = lowerPartner(k)
      hit = false
      for (let i = 0; i < r.length && !hit; i += 2)
        hit = (k >= r[i]! && k <= r[i + 1]!) || (l >= r[i]! && l <= r[i + 1]!)
    }
    return hit !== this.negated
  }
}

// ---------------------------------------------------------------------------------------------
// Parse tree

type Node =
  | { readonly t: 'lit'; readonly c: string; readonly at: number }
  | { readonly t: 'star'; readonly at: number }
  | { readonly t: 'any'; readonly at: number }
  | { readonly t: 'class'; readonly cls: CharClass; readonly src: string; readonly at: number }
  | { readonly t: 'slash'; readonly at: number }
  | { readonly t: 'alt'; readonly options: readonly Node[][]; readonly at: number }
  | { readonly t: 'range'; readonly items: RangeSpec; readonly at: number }
  | { readonly t: 'neg'; readonly options: readonly Node[][]; readonly at: number }

interface RangeSpec {
  readonly from: number
  readonly to: number
  readonly step: number
  readonly alpha: boolean
  readonly pad: number
}

function rangeCount(r: RangeSpec): number {
  return Math.floor(Math.abs(r.to - r.from) / r.step) + 1
}
function rangeItems(r: RangeSpec): string[] {
  const out: string[] = []
  const dir = r.to >= r.from ? 1 : -1
  for (let v = r.from, n = rangeCount(r); n > 0; n--, v += dir * r.step) {
    if (r.alpha) out.push(String.fromCharCode(v))
    else {
      const s = String(Math.abs(v)).padStart(r.pad, '0')
      out.push(v < 0 ? `-${s}` : s)
    }
  }
  return out
}

const NUM_RANGE = /^(-?\d{1,15})\.\.(-?\d{1,15})(?:\.\.(-?\d{1,15}))?$/
const ALPHA_RANGE = /^([a-zA-Z])\.\.([a-zA-Z])(?:\.\.(-?\d{1,15}))?$/

/** `{1..10}`, `{01..10..3}`, `{a..e}` → a RangeSpec, or null when `body` is not a range */
function parseRange(body: string): RangeSpec | null {
  const n = NUM_RANGE.exec(body)
  if (n !== null) {
    const pad = [n[1]!, n[2]!].some((s) => /^-?0\d/.test(s)) ? Math.max(n[1]!.length, n[2]!.length) : 0
    const step = Math.abs(Number(n[3] ?? 1)) || 1
    return { from: Number(n[1]), to: Number(n[2]), step, alpha: false, pad }
  }
  const a = ALPHA_RANGE.exec(body)
  if (a === null) return null
  const step = Math.abs(Number(a[3] ?? 1)) || 1
  return { from: a[1]!.charCodeAt(0), to: a[2]!.charCodeAt(0), step, alpha: true, pad: 0 }
}

/** The variant count of a sequence: products of sums, saturated so a bomb cannot overflow. */
function countSeq(seq: readonly Node[]): number {
  let n = 1
  for (const node of seq) {
    let k = 1
    if (node.t === 'alt') {
      k = 0
      for (const o of node.options) k = Math.min(k + countSeq(o), Number.MAX_SAFE_INTEGER)
    } else if (node.t === 'range') k = rangeCount(node.items)
    n = Math.min(n * k, Number.MAX_SAFE_INTEGER)
  }
  return n
}

/** Recursive descent over `src`, with the matching closer of every `{`, `(` and `[` found first. */
class Parser {
  readonly src: string
  /** index of the matching `}`, `)` or `]` for an opener at i; -1 where none */
  readonly #close: Int32Array

  constructor(src: string) {
    this.src = src
    this.#close = new Int32Array(src.length).fill(-1)
    this.#prescan()
  }

  /** One pass with a stack: matching braces and parens, classes skipped, escapes honoured. */
  #prescan(): void {
    const s = this.src
    const stack: number[] = []
    for (let i = 0; i < s.length; i++) {
      const c = s[i]
      if (c === '\\') {
        if (i + 1 >= s.length) throw new GlobError('a trailing "\\" escapes nothing', i)
        i++
      } else if (c === '[') {
        const end = this.#classEnd(i)
        this.#close[i] = end
        i = end
      } else if (c === '{' || c === '(') {
        stack.push(i)
        if (stack.length > MAX_GLOB_DEPTH)
          throw new GlobError(`braces and groups nest deeper than ${MAX_GLOB_DEPTH}`, i)
      } else if (c === '}' || c === ')') {
        const open = stack.pop()
        const want = c === '}' ? '{' : '('
        if (open === undefined || s[open] !== want)
          throw new GlobError(`"${c}" closes nothing; escape it as "\\${c}" for a literal`, i)
        this.#close[open] = i
      }
    }
    const open = stack.pop()
    if (open !== undefined) {
      const what = s[open] === '{' ? '"{" is never closed' : '"(" is never closed'
      throw new GlobError(`${what}; escape it for a literal`, open)
    }
  }

  /** The index of the `]` that closes the class opened at `i` (a first `]` is a member). */
  #classEnd(i: number): number {
    const s = this.src
    let j = i + 1
    if (s[j] === '!' || s[j] === '^') j++
    if (s[j] === ']') j++
    for (; j < s.length; j++) {
      const c = s[j]
      if (c === '\\') j++
      else if (c === '[' && s[j + 1] === ':') {
        const end = s.indexOf(':]', j + 2)
        if (end !== -1) j = end + 1
      } else if (c === ']') return j
    }
    throw new GlobError('"[" is never closed; escape it as "\\[" for a literal', i)
  }

  parse(): Node[] {
    return this.#seq(0, this.src.length, null, 0)
  }

  /** Nodes of src[i, end). `sep` is the separator of the enclosing alternation (`,` or `|`), whose
   *  splitting the caller did; here it can only be an error. */
  #seq(i: number, end: number, sep: ',' | '|' | null, depth: number): Node[] {
    const s = this.src
    const out: Node[] = []
    while (i < end) {
      const c = s[i]!
      const next = s[i + 1]
      if (c === '\\') {
        out.push({ t: 'lit', c: s[i + 1]!, at: i })
        i += 2
      } else if (next === '(' && (c === '@' || c === '?' || c === '!' || c === '+' || c === '*')) {
        if (c === '+' || c === '*')
          throw new GlobError(
            `"${c}(…)" (repetition) is not supported: list the forms with {a,b}, or use "*"`,
            i,
          )
        const close = this.#close[i + 1]!
        const options = this.#split(i + 2, close, '|', depth + 1)
        if (c === '?') options.push([])
        out.push(c === '!' ? { t: 'neg', options, at: i } : { t: 'alt', options, at: i })
        i = close + 1
      } else if (c === '*') {
        out.push({ t: 'star', at: i })
        i++
      } else if (c === '?') {
        out.push({ t: 'any', at: i })
        i++
      } else if (c === '[') {
        const close = this.#close[i]!
        out.push(this.#class(i, close))
        i = close + 1
      } else if (c === '{') {
        const close = this.#close[i]!
        const body = s.slice(i + 1, close)
        const range = parseRange(body)
        if (range !== null) out.push({ t: 'range', items: range, at: i })
        else {
          const options = this.#split(i + 1, close, ',', depth + 1)
          if (options.length < 2)
            throw new GlobError(
              'braces need a comma ({a,b}) or a range ({1..9}); escape "\\{" for a literal brace',
              i,
            )
          out.push({ t: 'alt', options, at: i })
        }
        i = close + 1
      } else if (c === '(' || c === ')' || c === '|') {
        throw new GlobError(
          `"${c}" outside @(…), ?(…) or !(…) is not glob syntax here; write alternatives as {a,b}, or escape "\\${c}"`,
          i,
        )
      } else if (c === '}') {
        throw new GlobError('"}" closes nothing; escape it as "\\}" for a literal', i)
      } else if (c === '!' && i === 0) {
        throw new GlobError(
          'a leading "!" (negation) is not supported: match what the rule covers, and put a cache: false rule first for exceptions',
          i,
        )
      } else if (c === '/') {
        out.push({ t: 'slash', at: i })
        i++
      } else {
        if (c === sep) throw new GlobError(`unexpected "${c}"`, i)
        out.push({ t: 'lit', c, at: i })
        i++
      }
    }
    return out
  }

  /** Splits src[i, end) at top-level `sep` and parses each part. */
  #split(i: number, end: number, sep: ',' | '|', depth: number): Node[][] {
    if (depth > MAX_GLOB_DEPTH) throw new GlobError(`braces and groups nest deeper than ${MAX_GLOB_DEPTH}`, i)
    const s = this.src
    const parts: Node[][] = []
    let start = i
    for (let j = i; j < end; j++) {
      const c = s[j]
      if (c === '\\') j++
      else if (c === '[' || c === '{' || c === '(') j = this.#close[j]!
      else if (c === sep) {
        parts.push(this.#seq(start, j, sep, depth))
        start = j + 1
      }
    }
    parts.push(this.#seq(start, end, sep, depth))
    return parts
  }

  #class(i: number, close: number): Node {
    const s = this.src
    let j = i + 1
    const negated = s[j] === '!' || s[j] === '^'
    if (negated) j++
    const ranges: [number, number][] = []
    const first = j
    while (j < close) {
      if (s[j] === '[' && s[j + 1] === ':') {
        const end = s.indexOf(':]', j + 2)
        if (end !== -1 && end < close) {
          const name = s.slice(j + 2, end)
          const spec = POSIX.get(name)
          if (spec === undefined) throw new GlobError(`unknown class [:${name}:]`, j)
          for (const r of spec) ranges.push([r[0], r[1]])
          j = end + 2
          continue
        }
      }
      let lo: number
      if (s[j] === '\\') {
        lo = s.charCodeAt(j + 1)
        j += 2
      } else {
        lo = s.charCodeAt(j)
        j++
      }
      let hi = lo
      if (s[j] === '-' && j + 1 < close) {
        j++
        if (s[j] === '\\') {
          hi = s.charCodeAt(j + 1)
          j += 2
        } else {
          hi = s.charCodeAt(j)
          j++
        }
        if (hi < lo)
          throw new GlobError(`range ${String.fromCharCode(lo)}-${String.fromCharCode(hi)} is backwards`, i)
      }
      ranges.push([lo, hi])
    }
    if (j === first) throw new GlobError('an empty class "[]" matches nothing', i)
    return { t: 'class', cls: new CharClass(negated, ranges), src: s.slice(i, close + 1), at: i }
  }
}

// ---------------------------------------------------------------------------------------------
// Variants and segments

/** A flat token of one variant: alternatives expanded, ranges written out. */
type Flat =
  | { readonly t: 'lit'; readonly c: string; readonly at: number }
  | { readonly t: 'star' | 'any' | 'slash'; readonly at: number }
  | { readonly t: 'class'; readonly cls: CharClass; readonly src: string; readonly at: number }
  | { readonly t: 'neg'; readonly options: readonly Node[][]; readonly at: number }

function expand(seq: readonly Node[]): Flat[][] {
  let acc: Flat[][] = [[]]
  for (const node of seq) {
    let choices: Flat[][]
    if (node.t === 'alt') choices = node.options.flatMap(expand)
    else if (node.t === 'range')
      choices = rangeItems(node.items).map((item) => [...item].map((c) => ({ t: 'lit', c, at: node.at })))
    else choices = [[node]]
    if (choices.length === 1) {
      for (const a of acc) a.push(...choices[0]!)
      continue
    }
    const next: Flat[][] = []
    for (const a of acc) for (const ch of choices) next.push([...a, ...ch])
    acc = next
  }
  return acc
}

/** pattern tokens: a canonical code (>= 0), or one of these */
export const STAR = -1
export const ANY = -2
/** token of class k: CLASS0 - k */
const CLASS0 = -3

/** One segment of a variant (between `/`s). */
export type Segment =
  | { readonly kind: 'globstar' }
  /** no wildcard: `text` as written, `key` its canonical form */
  | { readonly kind: 'lit'; readonly text: string; readonly key: string }
  /** `tokens`: canonical code (>= 0), STAR, ANY or a class */
  | { readonly kind: 'pat'; readonly tokens: Int32Array; readonly classes: readonly CharClass[] }
  /** `!(a|b)`: any non-empty segment that none of the options match */
  | { readonly kind: 'neg'; readonly options: readonly PatSegment[] }

type PatSegment = Extract<Segment, { kind: 'lit' | 'pat' }>

const RENDER_ESCAPE = /[\\*?[\]{}()!|,@+]/

function render(tokens: readonly Flat[]): string {
  let out = ''
  for (const f of tokens) {
    if (f.t === 'lit') out += RENDER_ESCAPE.test(f.c) ? `\\${f.c}` : f.c
    else if (f.t === 'star') out += '*'
    else if (f.t === 'any') out += '?'
    else if (f.t === 'slash') out += '/'
    else if (f.t === 'class') out += f.src
    else if (f.t === 'neg') out += `!(${f.options.map((o) => render(expand(o)[0] ?? [])).join('|')})`
  }
  return out
}

function patSegment(tokens: readonly Flat[], kind: GlobKind): PatSegment {
  const codes: number[] = []
  const classes: CharClass[] = []
  let text = ''
  let literal = true
  for (const f of tokens) {
    if (f.t === 'lit') {
      text += f.c
      for (let i = 0; i < f.c.length; i++) codes.push(canon(f.c.charCodeAt(i)))
    } else if (f.t === 'star') {
      literal = false
      if (codes[codes.length - 1] !== STAR) codes.push(STAR)
    } else if (f.t === 'any') {
      literal = false
      codes.push(ANY)
    } else if (f.t === 'class') {
      literal = false
      codes.push(CLASS0 - classes.length)
      classes.push(f.cls)
    } else {
      throw new GlobError('"!(…)" must be a whole path segment, like /shop/!(cart|checkout)/*', f.at)
    }
  }
  if (literal) {
    if (kind === 'path' && (text === '.' || text === '..'))
      throw new GlobError(
        `a glob cannot name a "${text}" segment: a path with one matches no rule (it is passed through)`,
        tokens[0]!.at,
      )
    return { kind: 'lit', text, key: String.fromCharCode(...codes) }
  }
  return { kind: 'pat', tokens: Int32Array.from(codes), classes }
}

function segmentOf(tokens: readonly Flat[], kind: GlobKind): Segment {
  if (tokens.length >= 2 && tokens.every((f) => f.t === 'star')) return { kind: 'globstar' }
  const neg = tokens.find((f) => f.t === 'neg')
  if (neg === undefined) return patSegment(tokens, kind)
  if (tokens.length !== 1 || neg.t !== 'neg')
    throw new GlobError('"!(…)" must be a whole path segment, like /shop/!(cart|checkout)/*', neg.at)
  const options = neg.options.map((o) => {
    for (const n of o) {
      if (n.t === 'slash') throw new GlobError('"!(…)" cannot contain "/"', n.at)
      if (n.t === 'alt' || n.t === 'range' || n.t === 'neg')
        throw new GlobError('"!(…)" cannot contain braces or groups: list the options with |', n.at)
    }
    return patSegment(o as Flat[], kind)
  })
  return { kind: 'neg', options }
}

/** One brace variant of a glob: what the matcher indexes and the lint compares. */
export interface GlobVariant {
  /** the variant written back as a glob (escapes normalised): `/a/{b,c}` → `/a/b`, `/a/c` */
  readonly text: string
  /** `text` with its literal segments case-folded: variants with the same key match the same paths;
   *  its segments' texts joined by `/`, a literal segment's as its `key` (lint.ts slices folders from it) */
  readonly key: string
  /** no wildcard at all: it matches only itself (case-insensitively) */
  readonly literal: boolean
  readonly segments: readonly Segment[]
}

/** The one path (as written) a literal variant matches, less the trailing-slash form. */
export function literalPath(v: GlobVariant): string {
  return v.segments.map((g) => (g as { text: string }).text).join('/')
}

export interface Glob {
  readonly source: string
  readonly kind: GlobKind
  readonly variants: readonly GlobVariant[]
  /** hot path: does the glob accept `s` (a request path, or a lower-cased host name)? */
  test(s: string): boolean
  /** @internal `test` for a path the caller already knows has no `.`/`..` segment */
  testClean(s: string): boolean
  /** @internal `testClean` for variant `i` alone (the matcher indexes variants one by one) */
  testVariantClean(i: number, s: string): boolean
}

// ---------------------------------------------------------------------------------------------
// Matching

/** One segment pattern against s[start, end): one backtracking point, at the last `*`. */
function matchPat(seg: PatSegment, s: string, start: number, end: number): boolean {
  if (seg.kind === 'lit') {
    const key = seg.key
    if (end - start !== key.length) return false
    for (let i = 0; i < key.length; i++)
      if (canon(s.charCodeAt(start + i)) !== key.charCodeAt(i)) return false
    return true
  }
  // a pattern with any atom never matches an empty segment (`/a/*` does not accept `/a//b`)
  if (end === start) return false
  const tok = seg.tokens
  const n = tok.length
  let ti = 0
  let i = start
  let starTi = -1
  let starI = 0
  while (i < end) {
    if (ti < n) {
      const t = tok[ti]!
      if (t === STAR) {
        starTi = ti++
        starI = i
        continue
      }
      const k = canon(s.charCodeAt(i))
      if (t === k || t === ANY || (t <= CLASS0 && seg.classes[CLASS0 - t]!.has(k))) {
        ti++
        i++
        continue
      }
    }
    if (starTi < 0) return false
    ti = starTi + 1
    i = ++starI
  }
  while (ti < n && tok[ti] === STAR) ti++
  return ti === n
}

function matchSegment(seg: Segment, s: string, start: number, end: number): boolean {
  if (seg.kind === 'neg') {
    if (end === start) return false
    for (const o of seg.options) if (matchPat(o, s, start, end)) return false
    return true
  }
  return matchPat(seg as PatSegment, s, start, end)
}

/** The segments of a variant against s[0, end): one backtracking point, at the last `**`. */
function matchSegments(segs: readonly Segment[], s: string, end: number): boolean {
  const m = segs.length
  let pi = 0
  let pos = 0
  let starPi = -1
  let starPos = 0
  while (pos <= end) {
    let e = s.indexOf('/', pos)
    if (e === -1 || e > end) e = end
    if (pi < m) {
      const seg = segs[pi]!
      if (seg.kind === 'globstar') {
        starPi = pi++
        starPos = pos
        continue
      }
      if (matchSegment(seg, s, pos, e)) {
        pi++
        pos = e + 1
        continue
      }
    }
    if (starPi < 0) return false
    pi = starPi + 1
    let se = s.indexOf('/', starPos)
    if (se === -1 || se > end) se = end
    starPos = se + 1
    pos = starPos
  }
  while (pi < m && segs[pi]!.kind === 'globstar') pi++
  return pi === m
}

/** @internal the segment walk alone, without the shape shortcuts `test` takes (for its tests) */
export function testBySegments(g: Glob, s: string): boolean {
  if (g.kind === 'path' && hasDotSegment(s)) return false
  const slash = g.kind === 'path' && s.length > 1 && s.charCodeAt(s.length - 1) === 47
  return g.variants.some(
    (v) => matchSegments(v.segments, s, s.length) || (slash && matchSegments(v.segments, s, s.length - 1)),
  )
}

/** A `.` or `..` segment: no path glob matches a path that has one (see patSegment). */
export function hasDotSegment(s: string): boolean {
  for (let i = s.indexOf('.'); i !== -1; i = s.indexOf('.', i + 1)) {
    if (i > 0 && s.charCodeAt(i - 1) !== 47) continue
    let j = i + 1
    if (s.charCodeAt(j) === 46) j++
    if (j === s.length || s.charCodeAt(j) === 47) return true
  }
  return false
}

/** hot path: s[0, p.length) equals the canonical text `p`, case-folded */
function startsCanon(s: string, p: string): boolean {
  if (s.length < p.length) return false
  for (let i = 0; i < p.length; i++) {
    const c = s.charCodeAt(i)
    const k = p.charCodeAt(i)
    if (c !== k && canon(c) !== k) return false
  }
  return true
}

/** How a variant is tested: most globs are one of three shapes that need no segment walk. */
const GENERAL = 0
/** literal segments only: `/about` */
const LITERAL = 1
/** literal segments, then `**`: `/docs/**`, `/**`, `**` */
const TREE = 2
/** literal segments, then one wildcard segment: `/products/*`, `/static/*.css` */
const LEAF = 3
/** literal segments (maybe none), `**`, then one last segment: `**` then `*.css`, `/docs/**` then `intro` */
const DEEP = 4

/** CompiledGlob's per-variant test plan */
interface Prepared {
  readonly segs: readonly (readonly Segment[])[]
  readonly shapes: Uint8Array
  /** LITERAL: the whole canonical text; TREE: the folder before `/**`; LEAF: the text before the leaf */
  readonly prefix: readonly string[]
  readonly leaf: readonly (Segment | undefined)[]
}

class CompiledGlob implements Glob {
  readonly source: string
  readonly kind: GlobKind
  readonly variants: readonly GlobVariant[]
  /** How each variant is tested, worked out on the first test: a load compiles every glob, but
   *  the matcher decides most of them from its own packed tables and never calls `test`. */
  #prepared: Prepared | undefined

  constructor(source: string, kind: GlobKind, variants: readonly GlobVariant[]) {
    this.source = source
    this.kind = kind
    this.variants = variants
  }

  #prepare(): Prepared {
    const variants = this.variants
    const shapes = new Uint8Array(variants.length)
    const prefix: string[] = []
    const leaf: (Segment | undefined)[] = []
    variants.forEach((v, i) => {
      const segs = v.segments
      const keys = leadingLiterals(v)
      const k = keys.length
      const lits = keys.join('/')
      let shape = GENERAL
      if (k === segs.length) shape = LITERAL
      else if (k === segs.length - 1) shape = segs[k]!.kind === 'globstar' ? TREE : k > 0 ? LEAF : GENERAL
      else if (k === segs.length - 2 && segs[k]!.kind === 'globstar' && segs[k + 1]!.kind !== 'globstar')
        shape = DEEP
      shapes[i] = shape
      prefix.push(shape === LEAF ? `${lits}/` : lits)
      leaf.push(shape === LEAF || shape === DEEP ? segs[segs.length - 1] : undefined)
    })
    this.#prepared = { segs: variants.map((v) => v.segments), shapes, prefix, leaf }
    return this.#prepared
  }

  test(s: string): boolean {
    if (this.kind === 'host') {
      const n = this.variants.length
      for (let i = 0; i < n; i++) if (this.#matches(i, s, s.length)) return true
      return false
    }
    return !hasDotSegment(s) && this.testClean(s)
  }

  testClean(s: string): boolean {
    const len = s.length
    const slash = len > 1 && s.charCodeAt(len - 1) === 47
    const n = this.variants.length
    for (let i = 0; i < n; i++) {
      if (this.#matches(i, s, len)) return true
      if (slash && this.#matches(i, s, len - 1)) return true
    }
    return false
  }

  testVariantClean(i: number, s: string): boolean {
    const len = s.length
    return (
      this.#matches(i, s, len) || (len > 1 && s.charCodeAt(len - 1) === 47 && this.#matches(i, s, len - 1))
    )
  }

  /** hot path: variant i against s[0, end) */
  #matches(i: number, s: string, end: number): boolean {
    const x = this.#prepared ?? this.#prepare()
    const shape = x.shapes[i]!
    if (shape === GENERAL) return matchSegments(x.segs[i]!, s, end)
    const p = x.prefix[i]!
    const n = p.length
    if (shape === LITERAL) return end === n && startsCanon(s, p)
    if (shape === TREE) {
      // `**` alone matches everything; otherwise the folder itself or anything below it
      if (x.segs[i]!.length === 1) return true
      return (end === n || (end > n && s.charCodeAt(n) === 47)) && startsCanon(s, p)
    }
    if (shape === LEAF) {
      if (end < n || !startsCanon(s, p)) return false
      const slash = s.indexOf('/', n)
      return (slash === -1 || slash >= end) && matchSegment(x.leaf[i]!, s, n, end)
    }
    // DEEP: the last segment is the leaf; what comes before it is the folder or lies below it
    const last = end === 0 ? -1 : s.lastIndexOf('/', end - 1)
    // with no literal segment first (`**` then the leaf), any folder will do
    if (x.segs[i]!.length > 2 && (last < n || (last > n && s.charCodeAt(n) !== 47) || !startsCanon(s, p)))
      return false
    return matchSegment(x.leaf[i]!, s, last + 1, end)
  }
}

/** Compiled globs by kind and text: a load compiles each glob for the checks, the lint and the
 *  matcher (and a reload mostly the same ones again); a Glob is immutable, so one serves all. */
const compiled = new Map<string, Glob>()
/** Past this many the memo starts over (a memo, not a leak: 100k rules' globs fit). */
const MEMO_SIZE = 250_000

/**
 * Compiles one glob. Throws a GlobError (with the offset in the glob) when it is not valid;
 * never allocates in proportion to a brace bomb: the variant count is checked first.
 */
export function compileGlob(source: string, kind: GlobKind = 'path'): Glob {
  const id = kind === 'path' ? source : `\0${source}`
  let g = compiled.get(id)
  if (g === undefined) {
    g = compileUncached(source, kind)
    if (compiled.size >= MEMO_SIZE) compiled.clear()
    compiled.set(id, g)
  }
  return g
}

/** simpleVariant's shared parts (segments are read-only): a `**` segment, a pattern's empty class list */
const GLOBSTAR_SEGMENT: Segment = { kind: 'globstar' }
const NO_CLASSES: readonly CharClass[] = []

/** no escape, class, brace, group or extglob: only literal characters, `/` and `*` */
const SIMPLE = /^[^\\?[\]{}()!|,@+]*$/

/**
 * The one variant of a simple glob (see SIMPLE), built straight from its text: what the parser
 * and `expand` would make of it, without their per-character nodes (most globs of a large policy
 * are of this kind: at 100k rules the general path was a second of the load). Undefined when a
 * segment is `.` or `..`, which the general path refuses with its message.
 * test/matcher/glob.test.ts compares the two on generated globs.
 */
function simpleVariant(source: string, kind: GlobKind): GlobVariant | undefined {
  const parts = source.split('/')
  const segments: Segment[] = []
  let literal = true
  /** a literal segment was case-folded: only then is the key not the source itself */
  let folds = false
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!
    let seg: Segment
    if (!part.includes('*')) {
      if (kind === 'path' && (part === '.' || part === '..')) return undefined
      // most segments are canonical already (lower case): share the string, do not copy it
      let same = true
      for (let i = 0; i < part.length && same; i++) same = canon(part.charCodeAt(i)) === part.charCodeAt(i)
      let folded = part
      if (!same) {
        const codes: number[] = []
        for (let i = 0; i < part.length; i++) codes.push(canon(part.charCodeAt(i)))
        folded = String.fromCharCode(...codes)
        folds = true
      }
      seg = { kind: 'lit', text: part, key: folded }
    } else {
      literal = false
      if (part.length >= 2 && /^\*+$/.test(part)) seg = GLOBSTAR_SEGMENT
      else {
        const codes: number[] = []
        for (let i = 0; i < part.length; i++) {
          const c = part.charCodeAt(i)
          if (c !== 42) codes.push(canon(c))
          else if (codes[codes.length - 1] !== STAR) codes.push(STAR)
        }
        seg = { kind: 'pat', tokens: Int32Array.from(codes), classes: NO_CLASSES }
      }
    }
    segments.push(seg)
  }
  // the key is the segments' keys (a pattern's text as written) joined by `/`: the source itself
  // unless a literal segment folded, so it is only spelled out then (it was built segment by
  // segment for every glob, then compared with the source, which flattened it)
  let key = source
  if (folds) {
    key = ''
    for (let k = 0; k < segments.length; k++) {
      const seg = segments[k]!
      const text = seg.kind === 'lit' ? seg.key : parts[k]!
      key += k === 0 ? text : `/${text}`
    }
  }
  return Object.freeze({ text: source, key, literal, segments })
}

/** @internal compileGlob without the memo; `simple: false` forces the general path (tests) */
export function compileGlobUncached(source: string, kind: GlobKind, simple = true): Glob {
  return compileUncached(source, kind, simple)
}

function compileUncached(source: string, kind: GlobKind, simple = true): Glob {
  if (source.length > MAX_GLOB_LENGTH)
    throw new GlobError(
      `a glob is at most ${MAX_GLOB_LENGTH} characters, this one has ${source.length}`,
      MAX_GLOB_LENGTH,
    )
  if (source === '') throw new GlobError('an empty glob matches nothing', 0)
  const v = simple && SIMPLE.test(source) ? simpleVariant(source, kind) : undefined
  if (v !== undefined) return new CompiledGlob(source, kind, Object.freeze([v]))
  const tree = new Parser(source).parse()
  const count = countSeq(tree)
  if (count > MAX_BRACE_VARIANTS) {
    const at = tree.find((n) => n.t === 'alt' || n.t === 'range')?.at ?? 0
    throw new GlobError(
      `braces and groups expand to ${count >= Number.MAX_SAFE_INTEGER ? 'more than 2^53' : count} variants, more than ${MAX_BRACE_VARIANTS}; use * or **, or split the rule`,
      at,
    )
  }
  const seen = new Set<string>()
  const variants: GlobVariant[] = []
  for (const flat of expand(tree)) {
    const text = render(flat)
    if (seen.has(text)) continue
    seen.add(text)
    const parts: Flat[][] = [[]]
    for (const f of flat) {
      if (f.t === 'slash') parts.push([])
      else parts[parts.length - 1]!.push(f)
    }
    const segments = parts.map((p) => segmentOf(p, kind))
    const key = segments.map((g, k) => (g.kind === 'lit' ? g.key : render(parts[k]!))).join('/')
    variants.push(Object.freeze({ text, key, literal: segments.every((g) => g.kind === 'lit'), segments }))
  }
  return new CompiledGlob(source, kind, Object.freeze(variants))
}

/** What is wrong with a glob, or undefined when it compiles. */
export function globProblem(source: string, kind: GlobKind = 'path'): GlobError | undefined {
  try {
    compileGlob(source, kind)
    return undefined
  } catch (err) {
    if (err instanceof GlobError) return err
    throw err
  }
}

/** The canonical keys of the literal segments a variant starts with (all of them for a literal
 *  variant): `/API/v1/*` → `['', 'api', 'v1']`. */
export function leadingLiterals(v: GlobVariant): string[] {
  const out: string[] = []
  for (const g of v.segments) {
    if (g.kind !== 'lit') break
    out.push(g.key)
  }
  return out
}

/** The canonical (case-folded) literal folder every path the variant matches lies in, without a
 *  trailing `/`: `/API/products/*` → `/api/products`; `/**` and `**` → ''. For a literal variant,
 *  the whole of it. */
export function literalFolder(v: GlobVariant): string {
  return leadingLiterals(v).join('/')
}

/** The lower-cased ASCII literal text every path the variant matches starts with. */
export function literalPrefix(v: GlobVariant): string {
  let out = ''
  const segs = v.segments
  for (let k = 0; k < segs.length; k++) {
    const g = segs[k]!
    if (k > 0) out += '/'
    if (g.kind === 'lit') {
      const ascii = asciiPrefix(g.key)
      out += ascii
      if (ascii.length < g.key.length) return out
      continue
    }
    if (g.kind === 'globstar') return k > 0 ? out.slice(0, -1) : out
    if (g.kind === 'pat') {
      for (const t of g.tokens) {
        if (t < 0 || t >= 128) break
        out += String.fromCharCode(t)
      }
    }
    return out
  }
  return out
}

/** The canonical literal text the variant's last segment ends with: all of a literal segment, the
 *  run after the last wildcard of a pattern, '' for `**` or `!(…)`. */
export function lastLiteral(v: GlobVariant): string {
  const last = v.segments[v.segments.length - 1]!
  if (last.kind === 'lit') return last.key
  if (last.kind !== 'pat') return ''
  let i = last.tokens.length
  while (i > 0 && last.tokens[i - 1]! >= 0) i--
  return String.fromCharCode(...last.tokens.subarray(i))
}

/** The lower-cased ASCII literal text every path the variant matches ends with (before the one
 *  optional trailing `/`): `/b.css` for a last literal segment `b.css`, `*.json` last → `.json`; '' after `**`. */
export function literalSuffix(v: GlobVariant): string {
  const segs = v.segments
  const tail =
    segs.length > 1 && segs[segs.length - 1]!.kind === 'lit' ? `/${lastLiteral(v)}` : lastLiteral(v)
  let i = tail.length
  while (i > 0 && tail.charCodeAt(i - 1) < 128) i--
  return tail.slice(i)
}

function asciiPrefix(s: string): string {
  let i = 0
  while (i < s.length && s.charCodeAt(i) < 128) i++
  return s.slice(0, i)
}

/** When the variant is literal segments then one `**` (`/p/**`, `/**`, `**`): the canonical keys
 *  of those segments (`['', 'p']`, `['']`, `[]`); a path whose first segments are these is
 *  matched whatever follows. Otherwise undefined. */
export function globstarFolder(v: GlobVariant): readonly string[] | undefined {
  const keys = leadingLiterals(v)
  const segs = v.segments
  return keys.length === segs.length - 1 && segs[keys.length]!.kind === 'globstar' ? keys : undefined
}

// ---------------------------------------------------------------------------------------------
// Query-parameter name globs: a smaller language on purpose. Names like `filter[color]` are
// common, so only `*` (any run, also empty) and `?` (one character) are special, matching is
// case-sensitive (Koa's ctx.query keeps names as sent) and no name glob can be invalid.

export interface NameGlob {
  readonly source: string
  test(name: string): boolean
}

export function compileNameGlob(source: string): NameGlob {
  return Object.freeze({
    source,
    test(name: string): boolean {
      const n = source.length
      let pi = 0
      let i = 0
      let starPi = -1
      let starI = 0
      while (i < name.length) {
        if (pi < n) {
          const p = source.charCodeAt(pi)
          if (p === 42 /* * */) {
            starPi = pi++
            starI = i
            continue
          }
          if (p === 63 /* ? */ || p === name.charCodeAt(i)) {
            pi++
            i++
            continue
          }
        }
        if (starPi < 0) return false
        pi = starPi + 1
        i = ++starI
      }
      while (pi < n && source.charCodeAt(pi) === 42) pi++
      return pi === n
    },
  })
}
