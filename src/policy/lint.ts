/**
 * Warnings about legal policies that probably do not do what their author means. Only
 * decidable cases are reported: a warning must be right every
 * time, or people learn to ignore them. Partial overlap between rules is normal and silent.
 */
import {
  compileGlob,
  type Glob,
  type GlobVariant,
  globstarFolder,
  lastLiteral,
  literalPath,
} from '../matcher/glob.js'
import { runSteps, runStepsAsync, STEP_MASK, STEP_RULES } from '../steps.js'
import { type Diagnostic, METHOD_BITS, type Rule, type SourcePos } from './types.js'

/** What the shadowing check needs of a rule, computed once per rule (not once per pair). */
interface Shape {
  variants: readonly GlobVariant[]
  /** canonical texts of the variants (case-folded the way matching folds them), as a Set only
   *  past SMALL of them: most rules have one or two, and 200k Sets were a tenth of the lint */
  keys: ReadonlySet<string> | null
  globs: readonly Glob[]
  /** the first variant's canonical folder (literalFolder) */
  folder: string
  /** the `**` folders (see globstarFolder) of the rule's variants (mostly none: NO_STARS) */
  starFolders: readonly (readonly string[])[]
  /** every variant is literal (they then match only themselves, any case) */
  literal: boolean
}

const SMALL = 8
const NO_STARS: readonly (readonly string[])[] = Object.freeze([])

/**
 * How many segments a variant starts with that are literal, and where their run ends in its key
 * (`end`: the key is its segments' keys joined by `/`, so `key.slice(0, end)` is literalFolder's
 * text, '' when none): literalFolder and globstarFolder without their arrays and joins, and the
 * index lookups below without a string per folder prefix. Module state, read right after the call.
 */
let litCount = 0
let litEnd = 0
function literalRun(v: GlobVariant): void {
  const segs = v.segments
  let k = 0
  let end = -1
  while (k < segs.length) {
    const g = segs[k]!
    if (g.kind !== 'lit') break
    end += g.key.length + 1
    k++
  }
  litCount = k
  litEnd = k === 0 ? 0 : end
}

/** The variant's literalFolder: its key up to the end of its leading literal segments. */
function folderOf(v: GlobVariant): string {
  literalRun(v)
  return litEnd === v.key.length ? v.key : v.key.slice(0, litEnd)
}

/** Is the variant literal segments then one `**` (globstarFolder is not undefined)? After literalRun. */
function isStarFolder(v: GlobVariant): boolean {
  return litCount === v.segments.length - 1 && v.segments[litCount]!.kind === 'globstar'
}

/** Is `key` the canonical text of one of the shape's variants? */
function hasKey(a: Shape, key: string): boolean {
  if (a.keys !== null) return a.keys.has(key)
  for (const v of a.variants) if (v.key === key) return true
  return false
}

/** A variant's segments start with these literal keys (so `**` after them covers it). */
function startsWithKeys(v: GlobVariant, keys: readonly string[]): boolean {
  if (v.segments.length < keys.length) return false
  for (let k = 0; k < keys.length; k++) {
    const g = v.segments[k]!
    if (g.kind !== 'lit' || g.key !== keys[k]) return false
  }
  return true
}

/**
 * Does `a` match every path `b` matches? Sound cases only, per variant of b:
 * (b) the same variant appears in a; (a) b's variant is literal and a's globs match it (a path
 * b accepts is the variant, or it plus one `/`, which a then accepts too); (c) a has `P/**` (or
 * `**`) and b's variant starts with P's literal segments: `**` matches whatever follows.
 */
function covers(a: Shape, b: Shape): boolean {
  for (const v of b.variants) if (!coversVariant(a, v)) return false
  return true
}

function coversVariant(a: Shape, v: GlobVariant): boolean {
  if (v.literal) {
    if (a.literal) return hasKey(a, v.key)
    const path = literalPath(v)
    for (const g of a.globs) if (g.test(path)) return true
    return false
  }
  if (hasKey(a, v.key)) return true
  for (const p of a.starFolders) if (startsWithKeys(v, p)) return true
  return false
}

const compilePath = (m: string): Glob => compileGlob(m)
const variantKey = (v: GlobVariant): string => v.key

function shapeOf(r: Rule): Shape {
  const globs = r.match.length === 1 ? [compileGlob(r.match[0]!)] : r.match.map(compilePath)
  const variants = globs.length === 1 ? globs[0]!.variants : globs.flatMap(variantsOf)
  let literal = true
  let starFolders: (readonly string[])[] | undefined
  for (const v of variants) {
    if (v.literal) continue
    literal = false
    const star = globstarFolder(v)
    if (star !== undefined) (starFolders ??= []).push(star)
  }
  const keys = variants.length > SMALL ? new Set(variants.map(variantKey)) : null
  const folder = variants.length === 0 ? '' : folderOf(variants[0]!)
  return { variants, keys, globs, folder, starFolders: starFolders ?? NO_STARS, literal }
}

const variantsOf = (g: Glob): readonly GlobVariant[] => g.variants

/** Is the host variant `*` followed by literal text (`*.example.com`)? That text, canonical. */
function starSuffix(v: GlobVariant): string | undefined {
  const seg = v.segments[0]
  if (v.segments.length !== 1 || seg?.kind !== 'pat' || !v.text.startsWith('*')) return undefined
  // `*` renders only from a star (a literal one is `\*`), and the rest of the tokens are the
  // literal tail: then the segment is the star and that tail
  const tail = lastLiteral(v)
  return seg.tokens.length === tail.length + 1 ? tail : undefined
}

/**
 * Does host glob `a` accept every host `b` accepts (null: any host)? Sound cases only: a is any
 * host; the same text; every variant of b is literal and a accepts it (`*.example.com` covers
 * `api.example.com`); or a variant of a is `*` then literal S and b's variant ends with literal
 * text that ends with S (`*.example.com` covers `*.api.example.com`): `*` takes whatever comes
 * before. Two globs that merely overlap are not compared.
 */
function hostCovers(a: Rule, b: Rule): boolean {
  if (a.host === null) return true
  if (b.host === null) return false
  if (a.host.toLowerCase() === b.host.toLowerCase()) return true
  const ag = compileGlob(a.host, 'host')
  const suffixes = ag.variants.map(starSuffix).filter((t): t is string => t !== undefined)
  return compileGlob(b.host, 'host').variants.every((v) => {
    if (v.literal) return ag.test(literalPath(v).toLowerCase())
    // a pattern (never `**` or `!(…)`, which also take what `*` does not: the empty host)
    if (v.segments.length !== 1 || v.segments[0]!.kind !== 'pat') return false
    const tail = lastLiteral(v)
    return suffixes.some((t) => tail.endsWith(t))
  })
}

/**
 * The hosts both rules accept, in words, when some certainly exist: '' when a accepts all of b's
 * hosts, else a phrase for a's part of them (`hosts matching "*.example.com"`, `host
 * api.example.com`); undefined when no common host is known (two globs that may not meet).
 */
function sharedHosts(a: Rule, b: Rule): string | undefined {
  if (hostCovers(a, b)) return ''
  const aHost = a.host as string // a null host covers every b
  const ag = compileGlob(aHost, 'host')
  if (b.host === null || hostCovers(b, a))
    return ag.variants.length === 1 && ag.variants[0]!.literal ? `host ${aHost}` : `hosts matching "${aHost}"`
  const bg = compileGlob(b.host, 'host')
  const lit = ag.variants.find((v) => v.literal && bg.test(literalPath(v).toLowerCase()))
  return lit === undefined ? undefined : `host ${literalPath(lit)}`
}

const METHOD_NAMES = Object.keys(METHOD_BITS)
const GET = METHOD_BITS.GET as number
const READS = GET | (METHOD_BITS.HEAD as number)

/**
 * When bypass rule `b` is taken over for part of its requests by the earlier caching rule `a`
 * (a's paths cover b's, and they share GET and some hosts, but not all of b's methods or hosts:
 * all of them is RULE_SHADOWED), those requests in words; else undefined.
 */
function bypassTakenOver(a: Rule, b: Rule): string | undefined {
  if (b.cache || !a.cache || (a.methods & GET) === 0 || (a.methods & b.methods & READS) === 0)
    return undefined
  const hosts = sharedHosts(a, b)
  if (hosts === undefined) return undefined
  const both = a.methods & b.methods
  const methods =
    both === b.methods
      ? ''
      : `${METHOD_NAMES.filter((m) => (both & (METHOD_BITS[m] as number)) !== 0).join(', ')} `
  return `${methods}requests${hosts === '' ? '' : ` to ${hosts}`}`
}

/**
 * Does rule `a` accept every request rule `b` accepts (methods, host and path), by the sound
 * cases above? The pairwise definition; `lintRules` only prunes which pairs it asks.
 */
export function ruleCovers(a: Rule, b: Rule): boolean {
  return (a.methods & b.methods) === b.methods && hostCovers(a, b) && covers(shapeOf(a), shapeOf(b))
}

/**
 * Does the caching rule `a` take over part of bypass rule `b` (BYPASS_SHADOWED): which of b's
 * requests, in words, or undefined. The pairwise definition, as ruleCovers is for RULE_SHADOWED.
 */
export function bypassTakenOverBy(a: Rule, b: Rule): string | undefined {
  const what = bypassTakenOver(a, b)
  return what !== undefined && covers(shapeOf(a), shapeOf(b)) ? what : undefined
}

/** Does `a` accept every path `b` accepts (the sound cases of covers)? For tests' oracles. */
export function pathCovers(a: Rule, b: Rule): boolean {
  return covers(shapeOf(a), shapeOf(b))
}

export { hostCovers }

/**
 * Lint a whole, valid, normalised policy set. `where(rule)` is the place a warning about a
 * rule points at (the loader passes the start of the rule's map; default: its id).
 */
export function lintRules(
  rules: readonly Rule[],
  where: (r: Rule) => SourcePos = (r) => r.pos,
): Diagnostic[] {
  return runSteps(lintSteps(rules, where))
}

/** lintRules, letting the event loop run every few hundred rules: the loader's way, so that
 *  linting 100k rules on a reload does not hold it for seconds. */
export function lintRulesAsync(rules: readonly Rule[], where: (r: Rule) => SourcePos): Promise<Diagnostic[]> {
  return runStepsAsync(lintSteps(rules, where))
}

/** rules plus candidate pairs the shadowing pass looks at between two pauses */
const STEP_WORK = 8 * STEP_RULES

/** The lint, pausing (a bare `yield`) every STEP_RULES rules of each pass; the shadowing pass
 *  also counts the candidates it tries (a literal rule may try hundreds of rules rooted nowhere). */
function* lintSteps(rules: readonly Rule[], where: (r: Rule) => SourcePos): Generator<void, Diagnostic[]> {
  const out: Diagnostic[] = []
  const warn = (r: Rule, code: string, message: string) => {
    const p = where(r)
    out.push({ code, severity: 'warning', file: p.file, line: p.line, col: p.col, ruleId: r.id, message })
  }
  const shapes: Shape[] = []
  for (let i = 0; i < rules.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    shapes.push(shapeOf(rules[i]!))
  }

  // Only a rule that can match b's first variant can cover b, so candidates come from indexes
  // keyed by what that variant has; the cost stays near-linear at 100k rules (issue 12 item 8:
  // a list of "rooted nowhere" rules joined every candidate set, and 10k rules took 12 s):
  // - byVariant: the same variant (case (b), and a literal a for a literal b);
  // - byStar: a `P/**` whose P is a leading run of b's literal segments (case (c));
  // - for a literal b only (case (a), a's glob tried on b's path): byBase, a rooted in a folder
  //   of b; byExt, a rooted nowhere but ending `.ext` as b does; byLast, a rooted nowhere whose
  //   last segment is literal (`/*/edit`), under that segment; and the first UNANCHORED_LINT
  //   rules rooted nowhere at all (they cost a test on every request as well; past that many,
  //   the RULES_UNANCHORED warning says so and their shadowing goes unreported).
  // Each list ascends (rules are added in order); a key most rules have alone holds the bare
  // number, not a list of one (at 100k rules, 200k arrays fewer for the collector).
  const byVariant: Lists = new Map()
  const byBase: Lists = new Map()
  const byStar: Lists = new Map()
  const byExt: Lists = new Map()
  const byLast: Lists = new Map()
  const unanchored: number[] = []
  const push = (m: Lists, k: string, i: number) => {
    const list = m.get(k)
    if (list === undefined) m.set(k, i)
    else if (typeof list === 'number') {
      if (list !== i) m.set(k, [list, i])
    } else if (list[list.length - 1] !== i) list.push(i)
  }
  // byStar is keyed by the `**` folder's text (its keys joined by `/`, a slice of the variant's
  // key); the bare `**` (no literal segment) is starAll. byStar's and byBase's key lengths are
  // kept, so that a rule looks up only the prefixes of its path that some key is as long as.
  const starAll: number[] = []
  const starLengths = new Set<number>()
  const baseLengths = new Set<number>()
  for (let i = 0; i < shapes.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    const variants = shapes[i]!.variants
    for (let k = 0; k < variants.length; k++) {
      const v = variants[k]!
      push(byVariant, v.key, i)
      if (v.literal) continue
      const folder = folderOf(v)
      if (isStarFolder(v)) {
        if (litCount === 0) {
          if (starAll[starAll.length - 1] !== i) starAll.push(i)
        } else {
          push(byStar, folder, i)
          starLengths.add(folder.length)
        }
      }
      if (folder !== '') {
        push(byBase, folder, i)
        baseLengths.add(folder.length)
        continue
      }
      const ext = extOf(v)
      const last = v.segments[v.segments.length - 1]!
      if (ext !== '') push(byExt, ext, i)
      else if (last.kind === 'lit') push(byLast, last.key, i)
      else if (unanchored[unanchored.length - 1] !== i) unanchored.push(i)
    }
  }
  const checkedUnanchored = unanchored.slice(0, UNANCHORED_LINT)
  /** candidates of the rule at j: `found[0, n)`, ascending, each once (reused from rule to rule) */
  let found = new Int32Array(64)
  let n = 0
  /** adds the rules of a list that come before j (only an earlier rule can cover j) */
  const take = (list: number | number[] | undefined, j: number) => {
    if (list === undefined) return
    if (typeof list === 'number') {
      if (list < j) add(list)
      return
    }
    for (let k = 0; k < list.length && list[k]! < j; k++) add(list[k]!)
  }
  const add = (i: number) => {
    if (n === found.length) {
      const bigger = new Int32Array(found.length * 2)
      bigger.set(found)
      found = bigger
    }
    found[n++] = i
  }
  const candidatesFor = (b: Shape, j: number): number => {
    n = 0
    const v0 = b.variants[0]
    if (v0 === undefined) return 0
    take(byVariant.get(v0.key), j)
    // the `**` folders that are a leading run of v0's literal segments: no literal segment, then
    // the runs of 1, 2, … segments, each a prefix of v0's key ending before a `/`
    take(starAll, j)
    const key = v0.key
    literalRun(v0)
    for (let m = 1, end = -1; m <= litCount; m++) {
      end += (v0.segments[m - 1] as { key: string }).key.length + 1
      if (starLengths.has(end)) take(byStar.get(end === key.length ? key : key.slice(0, end)), j)
    }
    if (v0.literal) {
      // the folders a path in b's folder also lies in (`/a/b`: `/a/b`, `/a`), by their lengths
      const folder = b.folder
      for (let e = folder.length; e !== 0; ) {
        if (baseLengths.has(e)) take(byBase.get(e === folder.length ? folder : folder.slice(0, e)), j)
        const slash = folder.lastIndexOf('/', e - 1)
        e = slash === -1 ? e - 1 : slash
      }
      take(byExt.get(extOf(v0)), j)
      take(byLast.get(lastKey(v0)), j)
      take(checkedUnanchored, j)
    }
    if (n < 2) return n
    // numeric order, then each once (a few candidates, the usual case, sorted in place)
    const sorted = n <= 16 ? insertionSort(found, n) : found.subarray(0, n).sort()
    let u = 1
    for (let k = 1; k < n; k++) if (sorted[k] !== sorted[u - 1]) sorted[u++] = sorted[k]!
    return (n = u)
  }

  /** rules reported RULE_SHADOWED: they match nothing, so they take nothing over */
  const shadowedRules = new Set<number>()
  let work = 0
  for (let j = 0; j < rules.length; j++) {
    if (work >= STEP_WORK) {
      work = 0
      yield
    }
    const b = rules[j]!
    const bShape = shapes[j] as Shape
    // the first earlier caching rule that takes part of this bypass rule's requests (BYPASS_SHADOWED),
    // reported unless a rule that covers it whole (RULE_SHADOWED) comes up
    let takenOver: { a: Rule; what: string } | undefined
    let shadowed = false
    /** earlier bypass rules whose paths cover b's: they take b's requests on their hosts first */
    let blockers: Rule[] | undefined
    const count = candidatesFor(bShape, j)
    work += 1 + count
    for (let c = 0; c < count; c++) {
      const i = found[c]!
      const a = rules[i] as Rule
      if ((a.methods & b.methods) !== b.methods || !hostCovers(a, b)) {
        if (takenOver !== undefined || b.cache || !covers(shapes[i] as Shape, bShape)) continue
        if (!a.cache) (blockers ??= []).push(a)
        // a rule that never matches, or whose share of b's requests an earlier bypass rule takes
        // first, takes nothing over
        if (shadowedRules.has(i) || (blockers !== undefined && blockedBy(blockers, a))) continue
        const what = bypassTakenOver(a, b)
        if (what !== undefined) takenOver = { a, what }
        continue
      }
      if (!covers(shapes[i] as Shape, bShape)) continue
      const cached =
        !b.cache && a.cache && (a.methods & GET) !== 0 ? ', and caches what it was meant to bypass' : ''
      // a host glob taking in another host is the order surprise: say it
      const host =
        a.host !== null && b.host !== null && a.host.toLowerCase() !== b.host.toLowerCase()
          ? ` (host "${a.host}" takes in "${b.host}")`
          : ''
      warn(
        b,
        'RULE_SHADOWED',
        `rule "${b.id}" can never match: rule "${a.id}" (${atLine(where, a, b)}) matches everything it matches${host}${cached}`,
      )
      shadowed = true
      shadowedRules.add(j)
      break
    }
    if (takenOver !== undefined && !shadowed) {
      const { a, what } = takenOver
      warn(
        b,
        'BYPASS_SHADOWED',
        `rule "${b.id}" (cache: false) never sees its ${what}: rule "${a.id}" (${atLine(where, a, b)}) comes first and caches them; move "${b.id}" before it, or narrow "${a.id}"`,
      )
    }
  }
  if (unanchored.length > UNANCHORED_LINT) {
    const r = rules[unanchored[UNANCHORED_LINT]!]!
    warn(
      r,
      'RULES_UNANCHORED',
      `${unanchored.length} rules (from rule "${rules[unanchored[0]!]!.id}" on) have a glob with no literal folder, extension or last segment, like ${JSON.stringify(r.match[0])}: each is tried on every request, and rules after the first ${UNANCHORED_LINT} of them are not checked for shadowing; start globs with a literal folder`,
    )
  }

  for (const r of rules) {
    if (!r.cache || (r.methods & 3) === 0) continue
    if (r.key.headers.includes('authorization')) {
      warn(
        r,
        'KEY_UNSAFE',
        "key.headers: keying authorization stores every user's own responses in the shared cache; use cache: false for personal data",
      )
    }
    // Without the host in the key, one host's response is served for another: a glob host (or
    // any host) lets a client pick which host fills the entry (docs/threats.md T01).
    if (!r.key.host && (r.host === null || !isOneHost(r.host))) {
      warn(
        r,
        'KEY_UNSAFE',
        `key.host: false shares entries between all hosts this rule matches (${r.host === null ? 'any host' : `"${r.host}"`}); name one host in host, or key the host`,
      )
    }
  }
  return out
}

/** How a warning about `b` names the place of rule `a`: `line 3`, or `file:line` in another file. */
function atLine(where: (r: Rule) => SourcePos, a: Rule, b: Rule): string {
  const ap = where(a)
  return ap.file === where(b).file ? `line ${ap.line}` : `${ap.file}:${ap.line}`
}

/** Does an earlier bypass rule of `blockers` take rule a's GET requests on a's hosts first? */
function blockedBy(blockers: readonly Rule[], a: Rule): boolean {
  for (const c of blockers) if ((c.methods & GET) !== 0 && hostCovers(c, a)) return true
  return false
}

/** rule numbers by index key: one number, or an ascending list of them */
type Lists = Map<string, number | number[]>

/** How many rules without a literal folder or extension the shadowing check tries per literal rule. */
export const UNANCHORED_LINT = 256

/** Sorts `a[0, n)` in place, ascending; returns `a`. */
function insertionSort(a: Int32Array, n: number): Int32Array {
  for (let k = 1; k < n; k++) {
    const x = a[k]!
    let m = k - 1
    while (m >= 0 && a[m]! > x) {
      a[m + 1] = a[m]!
      m--
    }
    a[m + 1] = x
  }
  return a
}

/** The last non-empty segment of a literal variant (a path may end with one `/` more). */
function lastKey(v: GlobVariant): string {
  const segs = v.segments
  const last = segs[segs.length - 1] as { key: string }
  if (last.key !== '' || segs.length < 2) return last.key
  return (segs[segs.length - 2] as { key: string }).key
}

/** The extension every path the variant matches ends with (lower-cased), or '': `*.CSS` last → `css`.
 *  A path may also end with one `/` more: the extension is read before it, as for the path. */
function extOf(v: GlobVariant): string {
  const last = v.segments[v.segments.length - 1]!
  let tail = lastLiteral(v)
  if (last.kind === 'lit' && tail === '' && v.literal && v.segments.length > 1) {
    // a literal path ending in `/` (`/a.css/`): the path's extension is that of the segment before
    const prev = v.segments[v.segments.length - 2]!
    tail = prev.kind === 'lit' ? prev.key : ''
  }
  const dot = tail.lastIndexOf('.')
  return dot === -1 || dot === tail.length - 1 ? '' : tail.slice(dot + 1)
}

/** A host glob that names exactly one host (no wildcard, no alternatives). */
function isOneHost(host: string): boolean {
  const g = compileGlob(host, 'host')
  return g.variants.length === 1 && g.variants[0]!.literal
}
