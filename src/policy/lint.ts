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
  leadingLiterals,
  literalFolder,
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
  /** per variant: its canonical folder (literalFolder) */
  folders: string[]
  /** the `**` folders (see globstarFolder) of the rule's variants */
  starFolders: (readonly string[])[]
  /** every variant is literal (they then match only themselves, any case) */
  literal: boolean
}

const SMALL = 8

/** Is `key` the canonical text of one of the shape's variants? */
function hasKey(a: Shape, key: string): boolean {
  if (a.keys !== null) return a.keys.has(key)
  for (const v of a.variants) if (v.key === key) return true
  return false
}

/** The folders a path in `folder` also lies in: `/a/b` → [`/a/b`, `/a`]. */
function folderPrefixes(folder: string): string[] {
  const out: string[] = []
  for (let p = folder; p !== ''; p = p.slice(0, p.lastIndexOf('/'))) out.push(p)
  return out
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
  return b.variants.every((v) => {
    if (v.literal) {
      if (a.literal) return hasKey(a, v.key)
      const path = literalPath(v)
      return a.globs.some((g) => g.test(path))
    }
    if (hasKey(a, v.key)) return true
    return a.starFolders.some((p) => startsWithKeys(v, p))
  })
}

function shapeOf(r: Rule): Shape {
  const globs = r.match.map((m) => compileGlob(m))
  const variants = globs.length === 1 ? globs[0]!.variants : globs.flatMap((g) => g.variants)
  let literal = true
  const folders: string[] = []
  const starFolders: (readonly string[])[] = []
  for (const v of variants) {
    if (!v.literal) literal = false
    folders.push(literalFolder(v))
    const star = globstarFolder(v)
    if (star !== undefined) starFolders.push(star)
  }
  const keys = variants.length > SMALL ? new Set(variants.map((v) => v.key)) : null
  return { variants, keys, globs, folders, starFolders, literal }
}

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
  for (let i = 0; i < shapes.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    const sh = shapes[i]!
    sh.variants.forEach((v, k) => {
      push(byVariant, v.key, i)
      if (v.literal) return
      const star = globstarFolder(v)
      if (star !== undefined) push(byStar, starKey(star, star.length), i)
      const folder = sh.folders[k]!
      if (folder !== '') {
        push(byBase, folder, i)
        return
      }
      const ext = extOf(v)
      const last = v.segments[v.segments.length - 1]!
      if (ext !== '') push(byExt, ext, i)
      else if (last.kind === 'lit') push(byLast, last.key, i)
      else if (unanchored[unanchored.length - 1] !== i) unanchored.push(i)
    })
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
    const lits = leadingLiterals(v0)
    for (let m = 0; m <= lits.length; m++) take(byStar.get(starKey(lits, m)), j)
    if (v0.literal) {
      for (const p of folderPrefixes(b.folders[0]!)) take(byBase.get(p), j)
      take(byExt.get(extOf(v0)), j)
      take(byLast.get(lastKey(v0)), j)
      take(checkedUnanchored, j)
    }
    if (n < 2) return n
    // numeric order, then each once
    const sorted = found.subarray(0, n).sort()
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
    const at = (a: Rule) => {
      const ap = where(a)
      return ap.file === where(b).file ? `line ${ap.line}` : `${ap.file}:${ap.line}`
    }
    // the first earlier caching rule that takes part of this bypass rule's requests (BYPASS_SHADOWED),
    // reported unless a rule that covers it whole (RULE_SHADOWED) comes up
    let takenOver: { a: Rule; what: string } | undefined
    let shadowed = false
    /** earlier bypass rules whose paths cover b's: they take b's requests on their hosts first */
    const blockers: Rule[] = []
    const count = candidatesFor(bShape, j)
    work += 1 + count
    for (let c = 0; c < count; c++) {
      const i = found[c]!
      const a = rules[i] as Rule
      if ((a.methods & b.methods) !== b.methods || !hostCovers(a, b)) {
        if (takenOver !== undefined || b.cache || !covers(shapes[i] as Shape, bShape)) continue
        if (!a.cache) blockers.push(a)
        // a rule that never matches, or whose share of b's requests an earlier bypass rule takes
        // first, takes nothing over
        if (shadowedRules.has(i) || blockers.some((c) => (c.methods & GET) !== 0 && hostCovers(c, a)))
          continue
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
        `rule "${b.id}" can never match: rule "${a.id}" (${at(a)}) matches everything it matches${host}${cached}`,
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
        `rule "${b.id}" (cache: false) never sees its ${what}: rule "${a.id}" (${at(a)}) comes first and caches them; move "${b.id}" before it, or narrow "${a.id}"`,
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

/** rule numbers by index key: one number, or an ascending list of them */
type Lists = Map<string, number | number[]>

/** How many rules without a literal folder or extension the shadowing check tries per literal rule. */
export const UNANCHORED_LINT = 256

/** The last non-empty segment of a literal variant (a path may end with one `/` more). */
function lastKey(v: GlobVariant): string {
  const segs = v.segments
  const last = segs[segs.length - 1] as { key: string }
  if (last.key !== '' || segs.length < 2) return last.key
  return (segs[segs.length - 2] as { key: string }).key
}

/** index key of the first `m` of `keys` (distinct for `[]` and `['']`) */
function starKey(keys: readonly string[], m: number): string {
  let k = ''
  for (let i = 0; i < m; i++) k += `/${keys[i]}`
  return k
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
