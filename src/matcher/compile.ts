/**
 * Rule[] → Matcher, compiled once per policy load (style §4). The index only *prunes*: it hands
 * each request a few candidate lists, and the declaration index decides among them (hono's
 * TrieRouter `score` trick), so precedence is never inferred from the index's structure.
 *
 * Every (rule, glob) pair is one *entry*. Each brace variant of its glob gives the entry an
 * *anchor*, read from the variant's segments (glob.ts), that every path the variant accepts has:
 * - `exact`: the variant is literal: the lower-cased path, or the path less one trailing `/`,
 *   equals it;
 * - `segment`: the variant starts `/<literal>/` and goes on: the path's first segment equals
 *   `<literal>` (also for `/products/**`, which accepts `/products` itself); when it starts
 *   `/<a>/<b>/` and goes on, the key is `a/b` and the path's first two segments must be `a` and
 *   `b`, so a request scans only the rules of its own second-level directory;
 * - `ext`: the variant's last segment ends with the literal `.<ext>`: the path, less at most one
 *   trailing `/`, ends with `.<ext>`;
 * - otherwise the entry is `residual`: scanned on every request.
 * An anchor must hold for *every* path the glob accepts (a sound over-approximation);
 * test/matcher/equivalence.test.ts checks that against the linear oracle on random rule sets.
 *
 * The entry's test is its glob's `test` (the truth, linear in the path), behind a lower-cased
 * literal prefix that every accepted path starts with: most candidates end at that string compare.
 *
 * Case: globs fold case the way a non-unicode `i` RegExp does (glob.ts): an ASCII letter only
 * ever matches an ASCII letter, so anchors and prefixes are ASCII-only, lower-cased, and compared
 * with the path with only its `A`–`Z` lower-cased.
 */
import type { Rule } from '../policy/types.js'
import { runSteps, runStepsAsync } from '../steps.js'
import {
  type Glob,
  type GlobVariant,
  hasDotSegment,
  lastLiteral,
  literalPrefix,
  literalSuffix,
} from './glob.js'
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

type Bucket = 'exact' | 'segment' | 'ext'
interface Anchor {
  readonly bucket: Bucket
  readonly key: string
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 128) return false
  return true
}

/** a literal segment usable as an index key: non-empty, ASCII (its key is then lower-cased ASCII) */
function keySegment(v: GlobVariant, k: number): string | undefined {
  const g = v.segments[k]
  return g !== undefined && g.kind === 'lit' && g.key !== '' && isAscii(g.key) ? g.key : undefined
}

/** The anchor of one brace variant, or null when it has none (residual). */
function anchorOf(v: GlobVariant): Anchor | null {
  const segs = v.segments
  const first = segs[0]!
  const rooted = first.kind === 'lit' && first.key === ''
  if (v.literal) {
    const key = segs.map((g) => (g as { key: string }).key).join('/')
    return rooted && isAscii(key) ? { bucket: 'exact', key } : null
  }
  const a = rooted && segs.length > 2 ? keySegment(v, 1) : undefined
  if (a !== undefined) {
    const b = segs.length > 3 ? keySegment(v, 2) : undefined
    return { bucket: 'segment', key: b === undefined ? a : `${a}/${b}` }
  }
  const tail = lastLiteral(v)
  let start = tail.length
  while (start > 0 && tail.charCodeAt(start - 1) < 128) start--
  const dot = tail.lastIndexOf('.')
  if (dot >= start && dot < tail.length - 1) return { bucket: 'ext', key: tail.slice(dot + 1) }
  return null
}

/** Entries whose glob the string checks already decide, so the hot loop calls no glob for them. */
const TEST_GLOB = 0
/** one literal variant: the path, less one optional `/`, is the guard */
const TEST_LITERAL = 1
/** `<guard>/**`: the path is the guard or goes on with a `/` */
const TEST_TREE = 2
/** `<guard>*` where the guard ends with `/`: one more non-empty segment, then at most a `/` */
const TEST_STAR = 3

function isAsciiLits(v: GlobVariant, upTo: number): boolean {
  for (let k = 0; k < upTo; k++) {
    const g = v.segments[k]!
    if (g.kind !== 'lit' || !isAscii(g.key)) return false
  }
  return true
}

/** How the hot loop decides an entry once its guard matched (see TEST_*). */
function testOf(g: Glob): number {
  if (g.variants.length !== 1) return TEST_GLOB
  const v = g.variants[0]!
  const segs = v.segments
  const n = segs.length
  if (v.literal) return isAsciiLits(v, n) ? TEST_LITERAL : TEST_GLOB
  const last = segs[n - 1]!
  if (n < 2 || !isAsciiLits(v, n - 1)) return TEST_GLOB
  if (last.kind === 'globstar') return TEST_TREE
  if (last.kind === 'pat' && last.tokens.length === 1 && last.tokens[0] === -1) return TEST_STAR
  return TEST_GLOB
}

/** longest common suffix: a path any variant accepts ends with it */
function commonSuffix(a: string, b: string): string {
  let i = 0
  while (i < a.length && i < b.length && a.charCodeAt(a.length - 1 - i) === b.charCodeAt(b.length - 1 - i))
    i++
  return a.slice(a.length - i)
}

/** longest common prefix: a path any variant accepts starts with it */
function commonPrefix(a: string, b: string): string {
  let i = 0
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++
  return a.slice(0, i)
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

/** hot path: `s`, or `s` less one trailing `/`, ends with `suffix` */
function endsWithSlashed(s: string, suffix: string): boolean {
  if (s.endsWith(suffix)) return true
  const n = s.length
  return n > 1 && s.charCodeAt(n - 1) === 47 && s.endsWith(suffix, n - 1)
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
 * open addressing, load factor <= 1/2. Every list lives in one Int32Array (`items`, list k is
 * items[starts[k], starts[k + 1])): at 100k rules, one typed array per list was 90k objects and
 * buffers for the collector, scattered over the heap.
 */
class KeyTable {
  readonly size: number
  readonly items: Int32Array
  /** list k is items[starts[k], starts[k + 1]) */
  readonly starts: Int32Array
  #keys: readonly string[]
  #slots: Int32Array
  #mask: number

  constructor(entries: ReadonlyMap<string, readonly number[]>) {
    this.size = entries.size
    const keys: string[] = []
    this.starts = new Int32Array(this.size + 1)
    let total = 0
    for (const list of entries.values()) total += list.length
    this.items = new Int32Array(total)
    let k = 0
    let at = 0
    for (const [key, list] of entries) {
      keys.push(key)
      this.starts[k++] = at
      for (let i = 0; i < list.length; i++) this.items[at++] = list[i]!
    }
    this.starts[k] = at
    this.#keys = keys
    let cap = 8
    while (cap < this.size * 2) cap *= 2
    this.#mask = cap - 1
    // slot i is [2i] = the key's hash, [2i + 1] = list number + 1 (0: empty). With the hash
    // beside it, a probe for a key that is not there (most probes: a path's `a/b`, its
    // extension) reads one cache line and never the key string.
    this.#slots = new Int32Array(cap * 2)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const h = KeyTable.hash(key, 0, key.length)
      let slot = h & this.#mask
      while (this.#slots[2 * slot + 1] !== 0) slot = (slot + 1) & this.#mask
      this.#slots[2 * slot] = h
      this.#slots[2 * slot + 1] = i + 1
    }
  }

  static hash(s: string, start: number, end: number): number {
    let h = 0x811c9dc5
    for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    return h
  }

  /** the number of the list stored under `s.slice(start, end)`, without making that string; -1 if none */
  find(s: string, start: number, end: number): number {
    const keys = this.#keys,
      slots = this.#slots,
      mask = this.#mask
    const len = end - start
    const h = KeyTable.hash(s, start, end)
    let slot = h & mask
    for (;;) {
      const k = slots[2 * slot + 1]!
      if (k === 0) return -1
      if (slots[2 * slot] === h) {
        const key = keys[k - 1]!
        if (key.length === len && s.startsWith(key, start)) return k - 1
      }
      slot = (slot + 1) & mask
    }
  }

  /** (explain) list k as a view */
  list(k: number): Int32Array {
    return k === -1 ? NO_CANDIDATES : this.items.subarray(this.starts[k]!, this.starts[k + 1]!)
  }
}

class IndexedMatcher implements Matcher {
  readonly stats: MatcherStats
  /** rule position → Rule (positions follow declaration order) */
  #rules: readonly Rule[]
  /** parallel arrays over entries; entry ids ascend with rule position */
  #entryRule: Int32Array
  #entryMask: Int32Array
  /** lower-cased literal prefix every accepted path starts with, checked before the glob */
  #entryGuard: readonly string[]
  /** for a brace glob: the guards of its variants, one of which an accepted path starts with
   *  (`/shop/{a,b}-x/*` shares only `/shop/`, but only `/shop/a-x…` and `/shop/b-x…` can match) */
  #entryAlts: readonly (readonly string[] | null)[]
  /** lower-cased literal suffix every accepted path ends with (less one optional trailing `/`):
   *  (a glob ending `/intro` after a `**`), which prunes what the shared prefix cannot */
  #entrySuffix: readonly string[]
  #entryPath: readonly Glob[]
  /** TEST_* per entry */
  #entryTest: Uint8Array
  #entryHost: readonly (Glob | null)[]
  #exact: KeyTable
  #segment: KeyTable
  #ext: KeyTable
  #residual: Int32Array
  /** union of every rule's methods: a request no rule accepts skips the lookups */
  #methods: number

  constructor(rules: readonly Rule[], c: Collected) {
    this.#rules = rules
    this.#entryRule = Int32Array.from(c.entryRule)
    this.#entryMask = Int32Array.from(c.entryMask)
    this.#entryPath = c.entryPath
    this.#entryTest = Uint8Array.from(c.entryTest)
    this.#entryGuard = c.entryGuard
    this.#entryAlts = c.entryAlts
    this.#entrySuffix = c.entrySuffix
    this.#entryHost = c.entryHost
    this.#exact = new KeyTable(c.lists.exact)
    this.#segment = new KeyTable(c.lists.segment)
    this.#ext = new KeyTable(c.lists.ext)
    this.#residual = c.residual.length === 0 ? NO_CANDIDATES : Int32Array.from(c.residual)
    this.#methods = c.methods
    this.stats = Object.freeze({ rules: rules.length, ...c.counts, residual: c.residual.length })
  }

  // hot path: at most four table probes and five ascending scans; allocates nothing unless the
  // path has an upper-case letter
  match(methodBit: number, host: string, path: string): Rule | undefined {
    // a `.` or `..` segment: no glob matches (docs/policy-format.md "Globs")
    if ((methodBit & this.#methods) === 0 || hasDotSegment(path)) return undefined
    const lower = lowerKey(path)
    const len = lower.length
    let best = NO_MATCH
    let k: number
    const exact = this.#exact
    if (exact.size !== 0) {
      // a literal glob also accepts itself plus one trailing `/`
      if ((k = exact.find(lower, 0, len)) !== -1)
        best = this.#scan(
          exact.items,
          exact.starts[k]!,
          exact.starts[k + 1]!,
          best,
          methodBit,
          host,
          path,
          lower,
        )
      if (len > 1 && lower.charCodeAt(len - 1) === 47 && (k = exact.find(lower, 0, len - 1)) !== -1)
        best = this.#scan(
          exact.items,
          exact.starts[k]!,
          exact.starts[k + 1]!,
          best,
          methodBit,
          host,
          path,
          lower,
        )
    }
    const segment = this.#segment
    if (segment.size !== 0 && lower.charCodeAt(0) === 47 /* / */) {
      // `/a/b/c`: probe `a`, then `a/b`
      const j = lower.indexOf('/', 1)
      const end1 = j === -1 ? len : j
      if (end1 > 1 && (k = segment.find(lower, 1, end1)) !== -1)
        best = this.#scan(
          segment.items,
          segment.starts[k]!,
          segment.starts[k + 1]!,
          best,
          methodBit,
          host,
          path,
          lower,
        )
      if (j !== -1) {
        const i2 = lower.indexOf('/', j + 1)
        const end2 = i2 === -1 ? len : i2
        if (end2 > j + 1 && (k = segment.find(lower, 1, end2)) !== -1)
          best = this.#scan(
            segment.items,
            segment.starts[k]!,
            segment.starts[k + 1]!,
            best,
            methodBit,
            host,
            path,
            lower,
          )
      }
    }
    const ext = this.#ext
    if (ext.size !== 0) {
      // `/a/b.min.css` and `/a/b.css/` (a path may end with one extra `/`): `css`
      const end = len > 0 && lower.charCodeAt(len - 1) === 47 ? len - 1 : len
      const dot = lower.lastIndexOf('.', end - 1)
      if (
        dot !== -1 &&
        dot < end - 1 &&
        lower.lastIndexOf('/', end - 1) < dot &&
        (k = ext.find(lower, dot + 1, end)) !== -1
      ) {
        best = this.#scan(ext.items, ext.starts[k]!, ext.starts[k + 1]!, best, methodBit, host, path, lower)
      }
    }
    const residual = this.#residual
    best = this.#scan(residual, 0, residual.length, best, methodBit, host, path, lower)
    return best === NO_MATCH ? undefined : this.#rules[best]
  }

  explain(methodBit: number, host: string, path: string): MatchExplanation {
    if (hasDotSegment(path)) return { rule: undefined, bucket: 'none', candidates: 0 }
    const lower = lowerKey(path)
    const [seg1, seg2] = firstSegments(lower)
    const ext = extension(lower)
    const get = (t: KeyTable, key: string) =>
      key === '' ? NO_CANDIDATES : t.list(t.find(key, 0, key.length))
    const unslashed = lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : ''
    const consulted: [string, Int32Array][] = [
      ['exact', get(this.#exact, lower)],
      ['exact', get(this.#exact, unslashed)],
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
      const b = this.#scan(list, 0, list.length, best, methodBit, host, path, lower)
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

  /** hot path: `items[from, to)` ascends by rule position, so stop as soon as an earlier rule
   *  already won */
  #scan(
    items: Int32Array,
    from: number,
    to: number,
    best: number,
    methodBit: number,
    host: string,
    path: string,
    lower: string,
  ): number {
    const entryRule = this.#entryRule,
      entryMask = this.#entryMask,
      entryGuard = this.#entryGuard,
      entryAlts = this.#entryAlts,
      entrySuffix = this.#entrySuffix,
      entryPath = this.#entryPath,
      entryTest = this.#entryTest,
      entryHost = this.#entryHost
    const len = lower.length
    for (let k = from; k < to; k++) {
      const e = items[k]!
      const r = entryRule[e]!
      if (r >= best) break
      // string compares first: most candidates end here
      if ((entryMask[e]! & methodBit) === 0 || !lower.startsWith(entryGuard[e]!)) continue
      const suffix = entrySuffix[e]!
      if (suffix.length !== 0 && !endsWithSlashed(lower, suffix)) continue
      const alts = entryAlts[e]!
      if (alts !== null && !startsWithAny(lower, alts)) continue
      const test = entryTest[e]!
      if (test === TEST_GLOB) {
        if (!entryPath[e]!.testClean(path)) continue
      } else {
        // the guard matched; what follows it decides
        const n = entryGuard[e]!.length
        if (test === TEST_LITERAL) {
          if (len !== n && !(len === n + 1 && lower.charCodeAt(n) === 47)) continue
        } else if (test === TEST_TREE) {
          if (len !== n && lower.charCodeAt(n) !== 47) continue
        } else {
          const slash = lower.indexOf('/', n)
          if (len === n || slash === n || (slash !== -1 && slash !== len - 1)) continue
        }
      }
      const h = entryHost[e]!
      // an unknown host ('') never satisfies a rule that names one
      if (h === null || (host !== '' && h.test(host))) return r
    }
    return best
  }
}

/** What the index needs of one glob, worked out once per Glob (rules often share a glob). */
interface Indexing {
  readonly test: number
  readonly guard: string
  readonly alts: readonly string[] | null
  readonly suffix: string
  /** null: some variant has no anchor, so the entry is residual */
  readonly anchors: readonly Anchor[] | null
}

const indexings = new WeakMap<Glob, Indexing>()

function indexing(g: Glob): Indexing {
  let x = indexings.get(g)
  if (x !== undefined) return x
  const vs = g.variants
  let guard: string
  let alts: readonly string[] | null = null
  let suffix: string
  if (vs.length === 1) {
    guard = literalPrefix(vs[0]!)
    suffix = literalSuffix(vs[0]!)
  } else {
    const guards = [...new Set(vs.map(literalPrefix))]
    guard = guards.reduce(commonPrefix)
    if (guards.length > 1 && !guards.includes('')) alts = guards
    suffix = vs.map(literalSuffix).reduce(commonSuffix)
  }
  let anchors: Anchor[] | null = []
  for (const v of vs) {
    const a = anchorOf(v)
    // one unanchorable variant makes the whole entry residual (it is then scanned anyway)
    if (a === null) {
      anchors = null
      break
    }
    anchors.push(a)
  }
  x = { test: testOf(g), guard, alts, suffix, anchors }
  indexings.set(g, x)
  return x
}

/** What indexing the rules collects, for the IndexedMatcher to freeze. */
interface Collected {
  entryRule: number[]
  entryMask: number[]
  entryPath: Glob[]
  entryTest: number[]
  entryGuard: string[]
  entryAlts: (readonly string[] | null)[]
  entrySuffix: string[]
  entryHost: (Glob | null)[]
  lists: Record<Bucket, Map<string, number[]>>
  residual: number[]
  counts: Record<Bucket, number>
  methods: number
}

/** Indexes the rules, pausing (a bare `yield`) every 2,048 rules so an async caller can let the
 *  event loop run: at 100k rules this is seconds of work. Returns the matcher. */
function* indexRules(rules: readonly Rule[]): Generator<void, IndexedMatcher> {
  const entryRule: number[] = []
  const entryMask: number[] = []
  const entryPath: Glob[] = []
  const entryTest: number[] = []
  const entryGuard: string[] = []
  const entryAlts: (readonly string[] | null)[] = []
  const entrySuffix: string[] = []
  const entryHost: (Glob | null)[] = []
  const lists = {
    exact: new Map<string, number[]>(),
    segment: new Map<string, number[]>(),
    ext: new Map<string, number[]>(),
  }
  const residual: number[] = []
  const counts = { exact: 0, segment: 0, ext: 0 }
  let methods = 0

  for (let r = 0; r < rules.length; r++) {
    if ((r & 2047) === 2047) yield
    const rule = rules[r]!
    methods |= rule.methods
    const host = rule.host === null ? null : compileRuleGlob(rule, rule.host, 'host')
    for (const glob of rule.match) {
      const e = entryRule.length
      entryRule.push(r)
      entryMask.push(rule.methods)
      const g = compileRuleGlob(rule, glob, 'match')
      entryHost.push(host)
      entryPath.push(g)
      const x = indexing(g)
      entryTest.push(x.test)
      entryGuard.push(x.guard)
      entryAlts.push(x.alts)
      entrySuffix.push(x.suffix)
      if (x.anchors === null) {
        residual.push(e)
        continue
      }
      const anchors = x.anchors
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

  return new IndexedMatcher(rules, {
    entryRule,
    entryMask,
    entryPath,
    entryTest,
    entryGuard,
    entryAlts,
    entrySuffix,
    entryHost,
    lists,
    residual,
    counts,
    methods,
  })
}

/** Compiles the rules (given in declaration order) into an index. Throws an Error naming the
 *  rule on a bad glob, a TypeError when the rules are not in ascending `index` order. */
export function compileMatcher(rules: readonly Rule[]): Matcher {
  assertDeclarationOrder(rules)
  return runSteps(indexRules(rules))
}

/** compileMatcher, letting the event loop run every few thousand rules (a reload must not hold
 *  it for the seconds 100k rules take). */
export function compileMatcherAsync(rules: readonly Rule[]): Promise<Matcher> {
  assertDeclarationOrder(rules)
  return runStepsAsync(indexRules(rules))
}
