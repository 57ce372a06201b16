/**
 * Rule[] → Matcher, compiled once per policy load (style §4). The index only *prunes*: it hands
 * each request a few candidate lists, and the declaration index decides among them (hono's
 * TrieRouter `score` trick), so precedence is never inferred from the index's structure.
 *
 * Every brace variant of every (rule, glob) pair is one *record*. Each record sits in the list of
 * one *anchor*, read from the variant's segments (glob.ts), that every path the variant accepts has:
 * - `segment`: the variant starts `/<literal>/` and goes on, or is the literal `/<literal>`: the
 *   path's first segment equals `<literal>` (also for `/products/**`, which accepts `/products`
 *   itself); when it starts `/<a>/<b>/` and goes on (or is a literal of two or more segments),
 *   the key is `a/b` and the path's first two segments must be `a` and `b`, so a request scans
 *   only the rules of its own second-level directory. A literal variant's record is counted as
 *   `exact` (it is decided by one string compare) but lives in the segment lists;
 * - `ext`: the variant's last segment ends with the literal `.<ext>`: the path, less at most one
 *   trailing `/`, ends with `.<ext>`;
 * - otherwise the record is `residual`: scanned on every request.
 * An anchor must hold for *every* path the variant accepts (a sound over-approximation);
 * test/matcher/equivalence.test.ts checks that against the linear oracle on random rule sets.
 *
 * A record's test is its variant's program (program.ts): most shapes are decided in the packed
 * array itself; the rest ask the Glob for that variant, which is the truth.
 *
 * Case: globs fold case the way a non-unicode `i` RegExp does (glob.ts): an ASCII letter only
 * ever matches an ASCII letter, so anchors and programs are ASCII-only, lower-cased, and compared
 * with the path with only its `A`–`Z` lower-cased.
 */
import type { Rule } from '../policy/types.js'
import { runSteps, runStepsAsync, STEP_MASK } from '../steps.js'
import { type Glob, hasDotSegment } from './glob.js'
import {
  assertDeclarationOrder,
  compileRuleGlob,
  type MatchExplanation,
  type Matcher,
  type MatcherStats,
} from './matcher.js'
import {
  HAS_CHILD,
  N_END,
  N_FLAGS,
  N_KEY,
  N_KEYLEN,
  PackedBuilder,
  packedEquals,
  R_GUARD,
  R_HOST,
  R_KIND,
  R_MASK,
  R_NEXT,
  R_RULE,
  type Slots,
} from './packed.js'
import {
  type Anchor,
  anchorOf,
  matchTokens,
  PROGRAM_ALL,
  PROGRAM_GLOB,
  PROGRAM_LEAF,
  PROGRAM_LITERAL,
  PROGRAM_STAR,
  PROGRAM_TREE,
  type Program,
  programOf,
  simpleIndexing,
} from './program.js'

export type { MatchBucket, MatchExplanation, Matcher, MatcherStats } from './matcher.js'

/** "No rule yet": above every rule position, so `position >= best` ends a scan. */
const NO_MATCH = 0x7fffffff
/** PackedBuilder table numbers */
/** keys of one segment (`a`); TABLE_SEGMENT2 holds the two-segment ones (`a/b`) */
const TABLE_SEGMENT = 0
const TABLE_EXT = 1
const TABLE_RESIDUAL = 2
const TABLE_SEGMENT2 = 3

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

/** hot path: a DEEP record's leaf against lower[.., end): the last segment is the leaf, and with
 *  a folder (`rooted`) what precedes it is the folder or lies below it (glob.ts DEEP) */
function deepAt(d: Int32Array, tok: number, lower: string, n: number, rooted: boolean, end: number): boolean {
  const last = end === 0 ? -1 : lower.lastIndexOf('/', end - 1)
  if (rooted && (last < n || (last > n && lower.charCodeAt(n) !== 47))) return false
  return matchTokens(d, tok + 1, d[tok]!, lower, last + 1, end)
}

class IndexedMatcher implements Matcher {
  readonly stats: MatcherStats
  /** rule position → Rule (positions follow declaration order) */
  readonly #rules: readonly Rule[]
  /** nodes and records (packed.ts) */
  readonly #data: Int32Array
  readonly #segment: Slots
  /** two-segment keys (`a/b`), apart so the one-segment table stays small and cached */
  readonly #segment2: Slots
  readonly #ext: Slots
  /** the node of the records every request scans; -1 when there are none */
  readonly #residual: number
  /** PROGRAM_GLOB records' globs, and every host glob */
  readonly #globs: readonly Glob[]
  readonly #hosts: readonly Glob[]
  /** union of every rule's methods: a request no rule accepts skips the lookups */
  readonly #methods: number

  constructor(rules: readonly Rule[], c: Collected, built: { data: Int32Array; offsets: Int32Array }) {
    this.#rules = rules
    const { data, offsets } = built
    this.#data = data
    this.#segment = c.builder.slots(TABLE_SEGMENT, offsets)
    this.#segment2 = c.builder.slots(TABLE_SEGMENT2, offsets)
    this.#ext = c.builder.slots(TABLE_EXT, offsets)
    this.#residual = c.residual === -1 ? -1 : offsets[c.residual]!
    this.#globs = c.globs
    this.#hosts = c.hosts
    this.#methods = c.methods
    this.stats = Object.freeze({ rules: rules.length, ...c.counts })
  }

  // hot path: at most three table probes and four ascending scans over one typed array;
  // allocates nothing unless the path has an upper-case letter
  match(methodBit: number, host: string, path: string): Rule | undefined {
    // a `.` or `..` segment: no glob matches (docs/policy-format.md "Globs")
    if ((methodBit & this.#methods) === 0 || hasDotSegment(path)) return undefined
    const lower = lowerKey(path)
    const len = lower.length
    const d = this.#data
    let best = NO_MATCH
    let node: number
    let at: number
    const segment = this.#segment
    if (segment.size !== 0 && lower.charCodeAt(0) === 47 /* / */) {
      // `/a/b/c`: probe `a`, then `a/b` when some key starts `a/`
      const j = lower.indexOf('/', 1)
      const end1 = j === -1 ? len : j
      if (end1 > 1 && (node = segment.find(d, lower, 1, end1)) !== -1) {
        if ((at = this.#scan(node, best, methodBit, host, path, lower)) !== -1) best = d[at]!
        if (j !== -1 && (d[node + N_FLAGS]! & HAS_CHILD) !== 0) {
          const i2 = lower.indexOf('/', j + 1)
          const end2 = i2 === -1 ? len : i2
          if (
            end2 > j + 1 &&
            (node = this.#segment2.find(d, lower, 1, end2)) !== -1 &&
            (at = this.#scan(node, best, methodBit, host, path, lower)) !== -1
          )
            best = d[at]!
        }
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
        (node = ext.find(d, lower, dot + 1, end)) !== -1 &&
        (at = this.#scan(node, best, methodBit, host, path, lower)) !== -1
      )
        best = d[at]!
    }
    if (this.#residual !== -1 && (at = this.#scan(this.#residual, best, methodBit, host, path, lower)) !== -1)
      best = d[at]!
    return best === NO_MATCH ? undefined : this.#rules[best]
  }

  explain(methodBit: number, host: string, path: string): MatchExplanation {
    if (hasDotSegment(path)) return { rule: undefined, bucket: 'none', candidates: 0 }
    const lower = lowerKey(path)
    const [seg1, seg2] = firstSegments(lower)
    const ext = extension(lower)
    const d = this.#data
    const get = (t: Slots, key: string) => (key === '' ? -1 : t.find(d, key, 0, key.length))
    const first = get(this.#segment, seg1)
    const consulted: [MatchExplanation['bucket'], number][] = [
      ['segment', first],
      ['segment', first !== -1 && (d[first + N_FLAGS]! & HAS_CHILD) !== 0 ? get(this.#segment2, seg2) : -1],
      ['ext', get(this.#ext, ext)],
      ['residual', this.#residual],
    ]
    let best = NO_MATCH
    let bucket: MatchExplanation['bucket'] = 'none'
    let candidates = 0
    for (const [name, node] of consulted) {
      if (node === -1) continue
      for (
        let at = node + N_KEY + ((d[node + N_KEYLEN]! + 3) >> 2);
        at < d[node + N_END]!;
        at = d[at + R_NEXT]!
      )
        candidates++
      const at = this.#scan(node, best, methodBit, host, path, lower)
      if (at !== -1) {
        best = d[at]!
        bucket = name === 'segment' && (d[at + R_KIND]! & 7) === PROGRAM_LITERAL ? 'exact' : name
      }
    }
    return { rule: best === NO_MATCH ? undefined : this.#rules[best], bucket, candidates }
  }

  /** hot path: the node's records ascend by rule position, so stop as soon as an earlier rule
   *  already won. Returns the offset of the first record that accepts, or -1. */
  #scan(node: number, best: number, methodBit: number, host: string, path: string, lower: string): number {
    const d = this.#data
    const end = d[node + N_END]!
    const len = lower.length
    for (let at = node + N_KEY + ((d[node + N_KEYLEN]! + 3) >> 2); at < end; at = d[at + R_NEXT]!) {
      if (d[at + R_RULE]! >= best) return -1
      if ((d[at + R_MASK]! & methodBit) === 0) continue
      const kind = d[at + R_KIND]!
      const p = kind & 7
      if (p === PROGRAM_GLOB) {
        const g = at + R_GUARD
        if (!this.#globs[d[g]!]!.testVariantClean(d[g + 1]!, path)) continue
      } else if (p !== PROGRAM_ALL) {
        // string compares first: most candidates end here
        const n = kind >>> 4
        if (len < n || !packedEquals(d, at + R_GUARD, lower, 0, n)) continue
        // the guard matched; what follows it decides
        if (p === PROGRAM_LITERAL) {
          if (len !== n && !(len === n + 1 && lower.charCodeAt(n) === 47)) continue
        } else if (p === PROGRAM_TREE) {
          if (len !== n && lower.charCodeAt(n) !== 47) continue
        } else if (p === PROGRAM_STAR) {
          const slash = lower.indexOf('/', n)
          if (len === n || slash === n || (slash !== -1 && slash !== len - 1)) continue
        } else {
          const tok = at + R_GUARD + ((n + 3) >> 2)
          if (p === PROGRAM_LEAF) {
            // one segment after the guard, then at most a `/`
            const slash = lower.indexOf('/', n)
            const stop = slash === -1 ? len : slash === len - 1 ? slash : -1
            if (stop === -1 || !matchTokens(d, tok + 1, d[tok]!, lower, n, stop)) continue
          } else {
            const rooted = (kind & 8) !== 0
            if (
              !deepAt(d, tok, lower, n, rooted, len) &&
              !(len > 1 && lower.charCodeAt(len - 1) === 47 && deepAt(d, tok, lower, n, rooted, len - 1))
            )
              continue
          }
        }
      }
      const h = d[at + R_HOST]!
      // an unknown host ('') never satisfies a rule that names one
      if (h === -1 || (host !== '' && this.#hosts[h]!.test(host))) return at
    }
    return -1
  }
}

/** What indexing the rules collects, for the IndexedMatcher to lay out. */
interface Collected {
  builder: PackedBuilder
  /** the residual node's number, -1 when none */
  residual: number
  globs: Glob[]
  hosts: Glob[]
  counts: { exact: number; segment: number; ext: number; residual: number }
  methods: number
}

/** Indexes the rules, pausing (a bare `yield`) every STEP_RULES rules and in the packing (at 100k
 *  rules, 2,048 rules a slice and the packing in one piece held the loop 100-200 ms at a time),
 *  so an async caller can let the event loop run. Returns the matcher. */
function* indexRules(rules: readonly Rule[]): Generator<void, IndexedMatcher> {
  const builder = new PackedBuilder()
  let residual = -1
  const globs: Glob[] = []
  const globIds = new Map<Glob, number>()
  const hosts: Glob[] = []
  const hostIds = new Map<Glob, number>()
  const counts = { exact: 0, segment: 0, ext: 0, residual: 0 }
  let methods = 0
  /** one record into its anchor's node (the residual one when it has none) */
  const place = (
    r: number,
    mask: number,
    host: number,
    program: Program,
    glob: number,
    variant: number,
    a: Anchor | null,
    literal: boolean,
  ): void => {
    if (a === null) {
      if (residual === -1) residual = builder.node(TABLE_RESIDUAL, '')
      builder.add(residual, r, mask, host, program, glob, variant)
      counts.residual++
      return
    }
    const ext = a.bucket === 'ext'
    const slash = ext ? -1 : a.key.indexOf('/')
    const table = ext ? TABLE_EXT : slash === -1 ? TABLE_SEGMENT : TABLE_SEGMENT2
    builder.add(builder.node(table, a.key), r, mask, host, program, glob, variant)
    if (ext) counts.ext++
    else if (literal) counts.exact++
    else counts.segment++
    // `a/b` is probed only when the `a` node says some key starts `a/`
    if (slash !== -1) builder.flag(builder.node(TABLE_SEGMENT, a.key.slice(0, slash)), HAS_CHILD)
  }

  for (let r = 0; r < rules.length; r++) {
    if ((r & STEP_MASK) === STEP_MASK) yield
    const rule = rules[r]!
    methods |= rule.methods
    let host = -1
    if (rule.host !== null) {
      const h = compileRuleGlob(rule, rule.host, 'host')
      host = hostIds.get(h) ?? -1
      if (host === -1) hostIds.set(h, (host = hosts.push(h) - 1))
    }
    for (const source of rule.match) {
      // most globs of a large policy are plain: indexed from their text, no Glob built
      const simple = simpleIndexing(source)
      if (simple !== undefined) {
        place(r, rule.methods, host, simple.program, -1, 0, simple.anchor, simple.literal)
        continue
      }
      const g = compileRuleGlob(rule, source, 'match')
      const vs = g.variants
      for (let i = 0; i < vs.length; i++) {
        const v = vs[i]!
        const program = programOf(v)
        let glob = -1
        if (program.kind === PROGRAM_GLOB) {
          glob = globIds.get(g) ?? -1
          if (glob === -1) globIds.set(g, (glob = globs.push(g) - 1))
        }
        place(r, rule.methods, host, program, glob, i, anchorOf(v), v.literal)
      }
    }
  }

  const built = yield* builder.buildSteps(TABLE_SEGMENT2)
  return new IndexedMatcher(rules, { builder, residual, globs, hosts, counts, methods }, built)
}

/** Compiles the rules (given in declaration order) into an index. Throws an Error naming the
 *  rule on a bad glob, a TypeError when the rules are not in ascending `index` order. */
export function compileMatcher(rules: readonly Rule[]): Matcher {
  assertDeclarationOrder(rules)
  return runSteps(indexRules(rules))
}

/** compileMatcher, letting the event loop run every few hundred rules and while it packs the
 *  index (a reload must not hold it for the time 100k rules take). */
export function compileMatcherAsync(rules: readonly Rule[]): Promise<Matcher> {
  assertDeclarationOrder(rules)
  return runStepsAsync(indexRules(rules))
}
