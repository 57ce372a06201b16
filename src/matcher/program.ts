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
import { ANY, type GlobVariant, STAR } from './glob.js'

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
