/**
 * One brace variant of a glob as the packed index stores it: a *kind* and a few numbers the hot
 * loop reads from the same typed array as the index keys, so deciding a candidate touches no
 * Glob object (at 100k rules every object is a likely cache miss). A variant that is none of the
 * kinds below is `PROGRAM_GLOB`: the hot loop asks its Glob (`testVariantClean`), which is the
 * truth for every variant. Each kind here restates one shape of `CompiledGlob#matches` (glob.ts)
 * for the path with only `A`–`Z` lower-cased (`lower`), which is the same thing because the
 * literal text of these kinds is ASCII (a non-ASCII path character never folds to ASCII);
 * test/matcher/equivalence.test.ts and program.test.ts hold them to the Glob's answer.
 */
import { ANY, type GlobVariant, lastLiteral, MAX_GLOB_LENGTH, STAR } from './glob.js'

/** the path, less one optional trailing `/`, is the guard */
export const PROGRAM_LITERAL = 0
/** `<guard>/**`: the path is the guard or goes on with a `/` */
export const PROGRAM_TREE = 1
/** `<guard>*` where the guard ends with `/`: one more non-empty segment, then at most a `/` */
export const PROGRAM_STAR = 2
/** `<guard><leaf>` where the guard ends with `/` and the leaf is a pattern of one segment */
export const PROGRAM_LEAF = 3
/** `<guard>/**\/<leaf>` (or `**\/<leaf>` with no guard): the last segment is the leaf */
export const PROGRAM_DEEP = 4
/** `**`: every path */
export const PROGRAM_ALL = 5
/** anything else: the Glob decides */
export const PROGRAM_GLOB = 6

export interface Program {
  readonly kind: number
  /** lower-cased ASCII text every accepted path starts with (LITERAL: the whole of it) */
  readonly guard: string
  /** LEAF, DEEP: the leaf's tokens (ASCII codes, STAR, ANY); a literal leaf is its codes */
  readonly tokens: readonly number[] | null
  /** DEEP: there is a folder before the `**` (the guard must be followed by `/` or end there) */
  readonly rooted: boolean
}

const GLOB: Program = Object.freeze({ kind: PROGRAM_GLOB, guard: '', tokens: null, rooted: false })

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 128) return false
  return true
}

/** The index key every path a variant accepts has (compile.ts explains the buckets). */
export interface Anchor {
  readonly bucket: 'segment' | 'ext'
  readonly key: string
}

/** a literal segment usable as an index key: non-empty, ASCII (its key is then lower-cased ASCII) */
function keySegment(v: GlobVariant, k: number): string | undefined {
  const g = v.segments[k]
  return g !== undefined && g.kind === 'lit' && g.key !== '' && isAscii(g.key) ? g.key : undefined
}

/** The anchor of one brace variant, or null when it has none (residual). */
export function anchorOf(v: GlobVariant): Anchor | null {
  const segs = v.segments
  const first = segs[0]!
  const rooted = first.kind === 'lit' && first.key === ''
  if (v.literal) {
    // `/a`, `/a/`, `/a/b…`: the path is the literal (or it plus one `/`), so it has these segments
    const a = rooted ? keySegment(v, 1) : undefined
    if (a === undefined) return null
    const b = segs.length > 2 ? keySegment(v, 2) : undefined
    return { bucket: 'segment', key: b === undefined ? a : `${a}/${b}` }
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

/** A one-segment leaf as tokens, or null when the hot loop cannot match it by itself (a class,
 *  `!(…)`, non-ASCII text, an empty literal). */
function leafTokens(v: GlobVariant, k: number): number[] | null {
  const g = v.segments[k]!
  if (g.kind === 'lit') {
    if (g.key === '' || !isAscii(g.key)) return null
    const out: number[] = []
    for (let i = 0; i < g.key.length; i++) out.push(g.key.charCodeAt(i))
    return out
  }
  if (g.kind !== 'pat' || g.classes.length !== 0) return null
  const out: number[] = []
  for (const t of g.tokens) {
    if (t >= 128 || (t < 0 && t !== STAR && t !== ANY)) return null
    out.push(t)
  }
  return out
}

/** The program of one variant. */
export function programOf(v: GlobVariant): Program {
  const segs = v.segments
  const n = segs.length
  // the leading literal segments, joined: `/API/v1/*` → `/api/v1`
  let k = 0
  let lits = ''
  for (; k < n; k++) {
    const g = segs[k]!
    if (g.kind !== 'lit') break
    if (!isAscii(g.key)) return GLOB
    lits = k === 0 ? g.key : `${lits}/${g.key}`
  }
  if (k === n) return { kind: PROGRAM_LITERAL, guard: lits, tokens: null, rooted: false }
  if (k === n - 1) {
    if (segs[k]!.kind === 'globstar')
      return n === 1
        ? { kind: PROGRAM_ALL, guard: '', tokens: null, rooted: false }
        : { kind: PROGRAM_TREE, guard: lits, tokens: null, rooted: false }
    if (k === 0) return GLOB
    const tokens = leafTokens(v, k)
    if (tokens === null) return GLOB
    if (tokens.length === 1 && tokens[0] === STAR)
      return { kind: PROGRAM_STAR, guard: `${lits}/`, tokens: null, rooted: false }
    return { kind: PROGRAM_LEAF, guard: `${lits}/`, tokens, rooted: false }
  }
  if (k === n - 2 && segs[k]!.kind === 'globstar' && segs[k + 1]!.kind !== 'globstar') {
    const tokens = leafTokens(v, k + 1)
    if (tokens === null) return GLOB
    return { kind: PROGRAM_DEEP, guard: lits, tokens, rooted: k > 0 }
  }
  return GLOB
}

/** hot path: one segment's tokens (STAR, ANY, codes) against lower[start, end); one
 *  backtracking point, at the last STAR (glob.ts matchPat). A leaf never matches an empty
 *  segment. */
export function matchTokens(
  data: Int32Array,
  at: number,
  n: number,
  lower: string,
  start: number,
  end: number,
): boolean {
  if (end === start) return false
  let ti = 0
  let i = start
  let starTi = -1
  let starI = 0
  while (i < end) {
    if (ti < n) {
      const t = data[at + ti]!
      if (t === STAR) {
        starTi = ti++
        starI = i
        continue
      }
      if (t === lower.charCodeAt(i) || t === ANY) {
        ti++
        i++
        continue
      }
    }
    if (starTi < 0) return false
    ti = starTi + 1
    i = ++starI
  }
  while (ti < n && data[at + ti] === STAR) ti++
  return ti === n
}

/** What the index needs of one glob that `simpleIndexing` read straight from its text. */
export interface SimpleIndexing {
  readonly program: Program
  readonly anchor: Anchor | null
  readonly literal: boolean
}

/** only literal characters, `/` and `*` (glob.ts SIMPLE), and ASCII */
const SIMPLE_ASCII = /^[^\\?[\]{}()!|,@+\u0080-\uffff]*$/

/**
 * The program and anchor of a plain ASCII path glob (`/shop/item-7/*`, `/**\/*.css`), read from
 * its text without building its Glob: what `programOf` and `anchorOf` make of the one variant
 * compileGlob would build (program.test.ts compares the two on random globs). At 100k rules the
 * Globs, their segments and the memo were most of a first compile. Undefined when the glob needs
 * its Glob: another syntax, a `.`/`..` segment or a bad length (compileGlob says why), or a
 * shape the hot loop leaves to `testVariantClean`.
 */
export function simpleIndexing(source: string): SimpleIndexing | undefined {
  if (source === '' || source.length > MAX_GLOB_LENGTH || !SIMPLE_ASCII.test(source)) return undefined
  const parts = source.split('/')
  const n = parts.length
  // kind per part: 0 literal, 1 globstar, 2 pattern
  let k = 0
  let literal = true
  let lits = ''
  for (let i = 0; i < n; i++) {
    const part = parts[i]!
    if (part === '.' || part === '..') return undefined
    const star = part.includes('*')
    if (star) literal = false
    else if (k === i) {
      lits = i === 0 ? part.toLowerCase() : `${lits}/${part.toLowerCase()}`
      k++
    }
  }
  const isGlobstar = (part: string) => part.length >= 2 && /^\*+$/.test(part)
  /** a pattern part's tokens: lower-cased codes, runs of `*` as one STAR */
  const tokensOf = (part: string): number[] => {
    const out: number[] = []
    const lower = part.toLowerCase()
    for (let i = 0; i < lower.length; i++) {
      const c = lower.charCodeAt(i)
      if (c !== 42) out.push(c)
      else if (out[out.length - 1] !== STAR) out.push(STAR)
    }
    return out
  }
  let program: Program
  if (k === n) program = { kind: PROGRAM_LITERAL, guard: lits, tokens: null, rooted: false }
  else if (k === n - 1) {
    const last = parts[k]!
    if (isGlobstar(last))
      program =
        n === 1
          ? { kind: PROGRAM_ALL, guard: '', tokens: null, rooted: false }
          : { kind: PROGRAM_TREE, guard: lits, tokens: null, rooted: false }
    else if (k === 0) return undefined
    else {
      const tokens = tokensOf(last)
      program =
        tokens.length === 1
          ? { kind: PROGRAM_STAR, guard: `${lits}/`, tokens: null, rooted: false }
          : { kind: PROGRAM_LEAF, guard: `${lits}/`, tokens, rooted: false }
    }
  } else if (k === n - 2 && isGlobstar(parts[k]!) && !isGlobstar(parts[k + 1]!)) {
    const leaf = parts[k + 1]!
    if (leaf === '') return undefined
    program = { kind: PROGRAM_DEEP, guard: lits, tokens: tokensOf(leaf), rooted: k > 0 }
  } else return undefined
  return { program, anchor: simpleAnchor(parts, literal), literal }
}

/** anchorOf for the parts of a simple ASCII glob */
function simpleAnchor(parts: readonly string[], literal: boolean): Anchor | null {
  const n = parts.length
  const rooted = parts[0] === ''
  const keyPart = (i: number) => {
    const p = parts[i]
    return p !== undefined && p !== '' && !p.includes('*') ? p.toLowerCase() : undefined
  }
  if (literal) {
    const a = rooted ? keyPart(1) : undefined
    if (a === undefined) return null
    const b = n > 2 ? keyPart(2) : undefined
    return { bucket: 'segment', key: b === undefined ? a : `${a}/${b}` }
  }
  const a = rooted && n > 2 ? keyPart(1) : undefined
  if (a !== undefined) {
    const b = n > 3 ? keyPart(2) : undefined
    return { bucket: 'segment', key: b === undefined ? a : `${a}/${b}` }
  }
  // the literal text the last part ends with: after its last `*` (none after a globstar)
  const last = parts[n - 1]!.toLowerCase()
  const tail = last.length >= 2 && /^\*+$/.test(last) ? '' : last.slice(last.lastIndexOf('*') + 1)
  const dot = tail.lastIndexOf('.')
  if (dot >= 0 && dot < tail.length - 1) return { bucket: 'ext', key: tail.slice(dot + 1) }
  return null
}
