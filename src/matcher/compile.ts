/**
 * Rule[] → Matcher, compiled once per policy load (style §4). The index only *prunes*: it hands
 * each request a few candidate lists, and the declaration index decides among them (hono's
 * TrieRouter `score` trick), so precedence is never inferred from the index's structure.
 *
 * Every (rule, glob) pair is one *entry*. Each brace variant of its glob gives the entry an
 * *anchor*, a literal the glob's RegExp cannot accept a path without:
 * - `exact`: the variant has no glob syntax: the lower-cased path equals it;
 * - `segment`: the variant starts `/<literal>/`: the path's first segment equals `<literal>`
 *   (also for `/products/**`, whose RegExp accepts `/products` itself); when it starts
 *   `/<a>/<b>/`, the key is `a/b` and the path's first two segments must be `a` and `b`, so a
 *   request scans only the rules of its own second-level directory;
 * - `ext`: the variant ends `.<literal>`: the path, less at most one trailing `/` (picomatch's
 *   `*.css` RegExp ends `\.css\/?`), ends with `.<literal>`;
 * - otherwise the entry is `residual`: scanned on every request.
 * An anchor must hold for *every* path the RegExp accepts (a sound over-approximation);
 * test/matcher/equivalence.test.ts checks that against the linear oracle on random rule sets.
 *
 * The entry's test is the glob's RegExp (the truth), cut where its own source proves it can be:
 * see `splitSource`. A RegExp picked at random among 10,000 costs 1-2 µs a call on our 2-core
 * machine (its native code is cold), a hot one ~0.05 µs, so the cut matters more than the index
 * once most candidates are pruned.
 *
 * Case: GLOB_OPTIONS has `nocase`, so picomatch emits an `i` RegExp without the `u` flag. Under
 * ECMA-262 Canonicalize(rer, ch) without `u`, an ASCII letter only ever matches an ASCII letter (a non-ASCII
 * character whose upper case is ASCII, like U+017F ſ, is left as is), so anchors and prefixes are
 * ASCII-only, lower-cased, and compared with the path with only its `A`–`Z` lower-cased.
 */
import type { Rule } from '../policy/types.js'
import { expandBraces } from './glob.js'
import {
  assertDeclarationOrder,
  compileRuleGlob,
  type MatchExplanation,
  type Matcher,
  type MatcherStats,
} from './matcher.js'

export type { MatchBucket, MatchExplanation, Matcher, MatcherStats } from './matcher.js'

/** "No rule yet": above every rule position, so `position >= best` ends a scan. */
const NO_MATCH = 0x7fffffff
/** shared empty candidate list */
const NO_CANDIDATES = new Int32Array(0)

/** Characters picomatch copies literally (checked against picomatch 2.3 output, see the tests):
 *  no glob syntax (`* ? [ ] { } ( ) ! |`), no escape, no `#`/`^`/quotes, ASCII only. */
const LITERAL = /^[A-Za-z0-9\-._~%:@,;=&+$']+$/
const EXACT = /^(?:\/[A-Za-z0-9\-._~%:@,;=&+$']*)+$/
const EXT = /\.([A-Za-z0-9\-_~%:@,;=&+$']+)$/
/** `|` is a top-level alternation in picomatch's output (`/a|/b.css` accepts `/a`); a leading `!`
 *  negates the whole glob; `\` escapes: none of them can have an anchor. */
const UNANCHORABLE = /[|\\]|^!/
/** Brace sets whose expansion is known to equal picomatch's reading: `{1..10}` expands to ten
 *  variants but picomatch compiles it to the class `[1-10]`, so ranges, and braces mixed with
 *  brackets, groups or escapes, stay unexpanded (and are anchored on what precedes them). */
const UNSAFE_TO_EXPAND = /\.\.|[[\]()\\|$]|^!/

type Bucket = 'exact' | 'segment' | 'ext'
interface Anchor {
  readonly bucket: Bucket
  readonly key: string
}

/** all-dot segments are left alone: `.`/`..` have meanings a path normaliser may give them */
function isSegment(seg: string): boolean {
  return LITERAL.test(seg) && !/^\.+$/.test(seg)
}

/** The anchor of one brace variant, or null when it has none (residual). */
function anchorOf(variant: string): Anchor | null {
  if (UNANCHORABLE.test(variant)) return null
  if (variant.charCodeAt(0) === 47 /* / */) {
    if (EXACT.test(variant)) return { bucket: 'exact', key: variant.toLowerCase() }
    const j = variant.indexOf('/', 1)
    if (j > 1 && isSegment(variant.slice(1, j))) {
      const k = variant.indexOf('/', j + 1)
      const key = k > j + 1 && isSegment(variant.slice(j + 1, k)) ? variant.slice(1, k) : variant.slice(1, j)
      return { bucket: 'segment', key: key.toLowerCase() }
    }
  }
  const m = EXT.exec(variant)
  if (m !== null) return { bucket: 'ext', key: m[1]!.toLowerCase() }
  return null
}

/** The literal directory every path the variant accepts starts with (lower-cased), or '':
 *  `/products/item-5/*` → `/products/item-5`; `/products/**` → `/products` (its RegExp accepts
 *  `/products` itself, so the guard stops before the last `/` ahead of the first glob character). */
function guardOf(variant: string): string {
  if (variant.charCodeAt(0) !== 47 /* / */ || UNANCHORABLE.test(variant)) return ''
  let k = 1
  while (k < variant.length && (variant.charCodeAt(k) === 47 || LITERAL.test(variant[k]!))) k++
  if (k === variant.length) return variant.toLowerCase()
  return variant.slice(0, variant.lastIndexOf('/', k - 1)).toLowerCase()
}

/** longest common prefix: a path any variant accepts starts with it */
function commonPrefix(a: string, b: string): string {
  let i = 0
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++
  return a.slice(0, i)
}

/** RegExp syntax characters: they are literal only when escaped. */
const SYNTAX = new Set(['\\', '^', '$', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|'])
/** after an atom, these make it a quantified atom, not a literal character */
const QUANTIFIER = new Set(['*', '+', '?', '{'])

/** A printable ASCII character that is itself (raw), or an escaped ASCII punctuation character
 *  (an identity escape without the `u` flag; `\d`, `\b`, `\1` are letters/digits, never taken). */
function isRawLiteral(c: string | undefined): c is string {
  if (c === undefined) return false
  const code = c.charCodeAt(0)
  return code >= 0x20 && code <= 0x7e && !SYNTAX.has(c)
}
function isEscapable(c: string | undefined): c is string {
  return c !== undefined && /^[!-/:-@[-`{-~]$/.test(c)
}

/** true when `body` is balanced and has no top-level `|`: a plain concatenation of terms */
function isConcatenation(body: string): boolean {
  let depth = 0
  for (let j = 0; j < body.length; j++) {
    const c = body[j]
    if (c === '\\') j++
    else if (c === '[') {
      for (j++; j < body.length && body[j] !== ']'; j++) if (body[j] === '\\') j++
    } else if (c === '(') depth++
    else if (c === ')') {
      if (--depth < 0) return false
    } else if (c === '|' && depth === 0) return false
  }
  return depth === 0
}

export interface Split {
  readonly prefix: string
  readonly mid: string
  readonly suffix: string
}

/**
 * Cuts a picomatch RegExp `^(?:P M S)$` into its literal prefix P, its middle M and its literal
 * suffix S, when the source proves the cut: flags exactly `i`, a body with no top-level `|`, and
 * P and S made of unquantified literal atoms (printable ASCII, raw or identity-escaped). Then
 *   re.test(p)  ⇔  p starts with P and ends with S (ASCII case-insensitively)
 *                  and /(?:M)[\s\S]{|S|}$/iy, sticky at |P|, accepts p
 * because the engine's choices inside M are the same: it sees the same whole string (look-aheads
 * included), from the same position, and S is just |S| characters whose value is checked apart.
 * The middles of `/a/b/*`, `/a/b/**`, `/**\/*.css` are the same for every rule that shape, so one
 * shared, hot RegExp serves them all; a literal glob has no middle and needs no RegExp.
 */
/** @internal exported for its unit tests */
export function splitSource(re: RegExp): Split | null {
  const src = re.source
  if (re.flags !== 'i' || !src.startsWith('^(?:') || !src.endsWith(')$')) return null
  const body = src.slice(4, -2)
  if (!isConcatenation(body)) return null
  let i = 0
  let prefix = ''
  for (;;) {
    let c: string | undefined, width: number
    if (body[i] === '\\' && isEscapable(body[i + 1])) {
      c = body[i + 1]!
      width = 2
    } else if (isRawLiteral(body[i])) {
      c = body[i]!
      width = 1
    } else break
    if (QUANTIFIER.has(body[i + width] ?? '')) break
    prefix += c
    i += width
  }
  let j = body.length
  let suffix = ''
  while (j > i) {
    const c = body[j - 1]
    let slashes = 0
    while (j - 2 - slashes >= i && body[j - 2 - slashes] === '\\') slashes++
    if (slashes % 2 === 1) {
      // `\c`: an escape; only identity escapes of punctuation are literal
      if (!isEscapable(c)) break
      suffix = c + suffix
      j -= 2
    } else {
      if (!isRawLiteral(c)) break
      suffix = c + suffix
      j -= 1
    }
  }
  return { prefix, mid: body.slice(i, j), suffix }
}

function variantsOf(glob: string): string[] {
  return glob.includes('{') && !UNSAFE_TO_EXPAND.test(glob) ? expandBraces(glob) : [glob]
}

/**
 * hot path: the path as index keys see it: ASCII letters lower-cased, every other character kept,
 * so offsets stay those of `path` (`toLowerCase` would turn U+0130 İ into two characters and the
 * KELVIN SIGN into `k`, which the non-unicode `i` RegExp does not equate). Allocates only when the
 * path has an `A`–`Z`.
 */
function lowerKey(path: string): string {
  let upper = false
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c > 127) return /[A-Z]/.test(path) ? path.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : path
    if (c >= 65 && c <= 90) upper = true
  }
  return upper ? path.toLowerCase() : path
}

/** hot path */
function startsWithAny(s: string, prefixes: readonly string[]): boolean {
  for (let i = 0; i < prefixes.length; i++) if (s.startsWith(prefixes[i]!)) return true
  return false
}

/** (explain) `/a/b/c` → ['a', 'a/b']: the segment keys of a path ('' where it has none) */
function firstSegments(lower: string): [string, string] {
  if (lower.charCodeAt(0) !== 47) return ['', '']
  const j = lower.indexOf('/', 1)
  if (j === -1) return [lower.slice(1), '']
  const k = lower.indexOf('/', j + 1)
  const end2 = k === -1 ? lower.length : k
  return [lower.slice(1, j), end2 > j + 1 ? lower.slice(1, end2) : '']
}

/** (explain) `/a/b.min.css` and `/a/b.css/` → `css`; '' when the last segment has no extension */
function extension(lower: string): string {
  let end = lower.length
  if (end > 0 && lower.charCodeAt(end - 1) === 47) end--
  const dot = lower.lastIndexOf('.', end - 1)
  if (dot < 0 || dot >= end - 1 || lower.lastIndexOf('/', end - 1) > dot) return ''
  return lower.slice(dot + 1, end)
}

/**
 * hot path: a read-only string → list table probed with a *substring* of the path, so a lookup
 * allocates nothing (a `Map` would need `path.slice()` per key: three strings a request, and
 * measured here the scavenger then took ~17% of match time). FNV-1a over the UTF-16 code units,
 * open addressing, load factor <= 1/2.
 */
class KeyTable {
  readonly size: number
  #keys: readonly string[]
  #lists: readonly Int32Array[]
  #slots: Int32Array
  #mask: number

  constructor(entries: ReadonlyMap<string, readonly number[]>) {
    this.size = entries.size
    this.#keys = [...entries.keys()]
    this.#lists = [...entries.values()].map((l) => Int32Array.from(l))
    let cap = 8
    while (cap < this.size * 2) cap *= 2
    this.#mask = cap - 1
    this.#slots = new Int32Array(cap)
    this.#keys.forEach((key, i) => {
      let slot = KeyTable.hash(key, 0, key.length) & this.#mask
      while (this.#slots[slot] !== 0) slot = (slot + 1) & this.#mask
      this.#slots[slot] = i + 1
    })
  }

  static hash(s: string, start: number, end: number): number {
    let h = 0x811c9dc5
    for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    return h
  }

  /** the list stored under `s.slice(start, end)`, without making that string */
  get(s: string, start: number, end: number): Int32Array | undefined {
    const keys = this.#keys,
      slots = this.#slots,
      mask = this.#mask
    const len = end - start
    let slot = KeyTable.hash(s, start, end) & mask
    for (;;) {
      const k = slots[slot]!
      if (k === 0) return undefined
      const key = keys[k - 1]!
      if (key.length === len && s.startsWith(key, start)) return this.#lists[k - 1]
      slot = (slot + 1) & mask
    }
  }
}

interface EntryTest {
  readonly guard: string
  readonly alts: readonly string[] | null
  readonly suffix: string
  readonly at: number
  readonly re: RegExp | null
}

/** How the hot loop tests one entry: cut per splitSource when the source allows, otherwise the
 *  whole RegExp behind the variants' common literal directory. `variants` null: no guards at all. */
function entryTest(re: RegExp, variants: readonly string[] | null, middles: Map<string, RegExp>): EntryTest {
  const guards = variants === null ? [''] : [...new Set(variants.map(guardOf))]
  const alts = guards.length > 1 && !guards.includes('') ? guards : null
  const split = variants === null ? null : splitSource(re)
  if (split === null) return { guard: guards.reduce(commonPrefix), alts, suffix: '', at: 0, re }
  const { prefix, mid, suffix } = split
  if (mid === '')
    return { guard: prefix.toLowerCase(), alts, suffix: suffix.toLowerCase(), at: prefix.length, re: null }
  const src = `(?:${mid})${suffix.length === 0 ? '' : `[\\s\\S]{${suffix.length}}`}$`
  let shared = middles.get(src)
  if (shared === undefined) {
    try {
      shared = new RegExp(src, 'iy')
    } catch {
      // not expected (the middle is a balanced run of the source's own terms); stay uncut if it is
      return { guard: guards.reduce(commonPrefix), alts, suffix: '', at: 0, re }
    }
    middles.set(src, shared)
  }
  return { guard: prefix.toLowerCase(), alts, suffix: suffix.toLowerCase(), at: prefix.length, re: shared }
}

class IndexedMatcher implements Matcher {
  readonly stats: MatcherStats
  /** rule position → Rule (positions follow declaration order) */
  #rules: readonly Rule[]
  /** parallel arrays over entries; entry ids ascend with rule position */
  #entryRule: Int32Array
  #entryMask: Int32Array
  /** lower-cased literal prefix every accepted path starts with, checked before any RegExp
   *  (for a cut entry it is P itself, so the check is part of the match: see splitSource) */
  #entryGuard: readonly string[]
  /** for a brace glob: the guards of its variants, one of which an accepted path starts with
   *  (`/shop/{a,b}-x/*` cuts at `/shop/`, but only `/shop/a-x` and `/shop/b-x` can match) */
  #entryAlts: readonly (readonly string[] | null)[]
  /** lower-cased literal suffix S of a cut entry, '' otherwise */
  #entrySuffix: readonly string[]
  /** the glob's whole RegExp, or the shared sticky middle of a cut one, or null: no middle */
  #entryPath: readonly (RegExp | null)[]
  /** where the middle starts (|P|); 0 for a whole RegExp, which ignores lastIndex */
  #entryAt: Int32Array
  #entryHost: readonly (RegExp | null)[]
  #exact: KeyTable
  #segment: KeyTable
  #ext: KeyTable
  #residual: Int32Array
  /** union of every rule's methods: a request no rule accepts skips the lookups */
  #methods: number

  constructor(rules: readonly Rule[]) {
    this.#rules = rules
    const cache = new Map<string, RegExp>()
    const entryRule: number[] = []
    const entryMask: number[] = []
    const entryPath: (RegExp | null)[] = []
    const entryAt: number[] = []
    const entryGuard: string[] = []
    const entrySuffix: string[] = []
    const entryAlts: (readonly string[] | null)[] = []
    const middles = new Map<string, RegExp>()
    const entryHost: (RegExp | null)[] = []
    const lists = {
      exact: new Map<string, number[]>(),
      segment: new Map<string, number[]>(),
      ext: new Map<string, number[]>(),
    }
    const residual: number[] = []
    const counts = { exact: 0, segment: 0, ext: 0 }
    let methods = 0

    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!
      methods |= rule.methods
      const host = rule.host === null ? null : compileRuleGlob(rule, rule.host, 'host', cache)
      for (const glob of rule.match) {
        const e = entryRule.length
        entryRule.push(r)
        entryMask.push(rule.methods)
        const re = compileRuleGlob(rule, glob, 'match', cache)
        entryHost.push(host)
        const variants = variantsOf(glob)
        // anchors and guards lean on the non-unicode `i` reading of ASCII letters (top of this file)
        const unicode = /[uv]/.test(re.flags)
        const t = entryTest(re, unicode ? null : variants, middles)
        entryGuard.push(t.guard)
        entryAlts.push(t.alts)
        entrySuffix.push(t.suffix)
        entryAt.push(t.at)
        entryPath.push(t.re)
        const anchors: Anchor[] = []
        let anchored = !unicode
        for (const v of variants) {
          if (!anchored) break
          const a = anchorOf(v)
          // one unanchorable variant makes the whole entry residual (it is then scanned anyway)
          if (a === null) {
            anchored = false
            break
          }
          anchors.push(a)
        }
        if (!anchored) {
          residual.push(e)
          continue
        }
        for (const a of anchors) {
          const map = lists[a.bucket]
          let list = map.get(a.key)
          if (list === undefined) map.set(a.key, (list = []))
          // variants of one glob often share an anchor (`/a/{x,y}`): list each entry once
          if (list[list.length - 1] !== e) {
            list.push(e)
            counts[a.bucket]++
          }
        }
      }
    }

    this.#entryRule = Int32Array.from(entryRule)
    this.#entryMask = Int32Array.from(entryMask)
    this.#entryPath = entryPath
    this.#entryAt = Int32Array.from(entryAt)
    this.#entryGuard = entryGuard
    this.#entrySuffix = entrySuffix
    this.#entryAlts = entryAlts
    this.#entryHost = entryHost
    this.#exact = new KeyTable(lists.exact)
    this.#segment = new KeyTable(lists.segment)
    this.#ext = new KeyTable(lists.ext)
    this.#residual = residual.length === 0 ? NO_CANDIDATES : Int32Array.from(residual)
    this.#methods = methods
    this.stats = Object.freeze({ rules: rules.length, ...counts, residual: residual.length })
  }

  // hot path: at most four table probes and five ascending scans; allocates nothing unless the
  // path has an upper-case letter
  match(methodBit: number, host: string, path: string): Rule | undefined {
    if ((methodBit & this.#methods) === 0) return undefined
    const lower = lowerKey(path)
    const len = lower.length
    let best = NO_MATCH
    let list: Int32Array | undefined
    if (this.#exact.size !== 0 && (list = this.#exact.get(lower, 0, len)) !== undefined)
      best = this.#scan(list, best, methodBit, host, path, lower)
    if (this.#segment.size !== 0 && lower.charCodeAt(0) === 47 /* / */) {
      // `/a/b/c`: probe `a`, then `a/b`
      const j = lower.indexOf('/', 1)
      const end1 = j === -1 ? len : j
      if (end1 > 1 && (list = this.#segment.get(lower, 1, end1)) !== undefined)
        best = this.#scan(list, best, methodBit, host, path, lower)
      if (j !== -1) {
        const k = lower.indexOf('/', j + 1)
        const end2 = k === -1 ? len : k
        if (end2 > j + 1 && (list = this.#segment.get(lower, 1, end2)) !== undefined)
          best = this.#scan(list, best, methodBit, host, path, lower)
      }
    }
    if (this.#ext.size !== 0) {
      // `/a/b.min.css` and `/a/b.css/` (picomatch's `*.css` allows one trailing slash): `css`
      const end = len > 0 && lower.charCodeAt(len - 1) === 47 ? len - 1 : len
      const dot = lower.lastIndexOf('.', end - 1)
      if (
        dot !== -1 &&
        dot < end - 1 &&
        lower.lastIndexOf('/', end - 1) < dot &&
        (list = this.#ext.get(lower, dot + 1, end)) !== undefined
      ) {
        best = this.#scan(list, best, methodBit, host, path, lower)
      }
    }
    best = this.#scan(this.#residual, best, methodBit, host, path, lower)
    return best === NO_MATCH ? undefined : this.#rules[best]
  }

  explain(methodBit: number, host: string, path: string): MatchExplanation {
    const lower = lowerKey(path)
    const [seg1, seg2] = firstSegments(lower)
    const ext = extension(lower)
    const get = (t: KeyTable, key: string) =>
      (key === '' ? undefined : t.get(key, 0, key.length)) ?? NO_CANDIDATES
    const consulted: [string, Int32Array][] = [
      ['exact', get(this.#exact, lower)],
      ['segment', get(this.#segment, seg1)],
      ['segment', get(this.#segment, seg2)],
      ['ext', get(this.#ext, ext)],
      ['residual', this.#residual],
    ]
    let best = NO_MATCH
    let bucket = 'none'
    let candidates = 0
    for (const [name, list] of consulted) {
      candidates += list.length
      const b = this.#scan(list, best, methodBit, host, path, lower)
      if (b < best) {
        best = b
        bucket = name
      }
    }
    return {
      rule: best === NO_MATCH ? undefined : this.#rules[best],
      bucket: bucket as MatchExplanation['bucket'],
      candidates,
    }
  }

  /** hot path: `list` ascends by rule position, so stop as soon as an earlier rule already won */
  #scan(
    list: Int32Array,
    best: number,
    methodBit: number,
    host: string,
    path: string,
    lower: string,
  ): number {
    const entryRule = this.#entryRule,
      entryMask = this.#entryMask,
      entryGuard = this.#entryGuard
    const entrySuffix = this.#entrySuffix,
      entryAlts = this.#entryAlts,
      entryPath = this.#entryPath,
      entryAt = this.#entryAt,
      entryHost = this.#entryHost
    for (let k = 0; k < list.length; k++) {
      const e = list[k]!
      const r = entryRule[e]!
      if (r >= best) break
      // string compares first: a RegExp call costs far more, a cold one ~30x more
      if ((entryMask[e]! & methodBit) === 0 || !lower.startsWith(entryGuard[e]!)) continue
      const suffix = entrySuffix[e]!
      if (suffix.length !== 0 && !lower.endsWith(suffix)) continue
      const alts = entryAlts[e]!
      if (alts !== null && !startsWithAny(lower, alts)) continue
      const re = entryPath[e]!
      if (re === null) {
        if (path.length !== entryAt[e]! + suffix.length) continue
      } else {
        re.lastIndex = entryAt[e]!
        if (!re.test(path)) continue
      }
      const h = entryHost[e]!
      // an unknown host ('') never satisfies a rule that names one
      if (h === null || (host !== '' && h.test(host))) return r
    }
    return best
  }
}

/** Compiles the rules (given in declaration order) into an index. Throws an Error naming the
 *  rule on a bad glob, a TypeError when the rules are not in ascending `index` order. */
export function compileMatcher(rules: readonly Rule[]): Matcher {
  assertDeclarationOrder(rules)
  return new IndexedMatcher(rules)
}
