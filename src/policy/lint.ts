/**
 * Warnings about legal policies that probably do not do what their author means. Only
 * decidable cases are reported: a warning must be right every
 * time, or people learn to ignore them. Partial overlap between rules is normal and silent.
 */
import { compileGlob, expandBraces, literalBase } from '../matcher/glob.js'
import type { Diagnostic, Rule, SourcePos } from './types.js'

/** What the shadowing check needs of a rule, computed once per rule (not once per pair). */
interface Shape {
  variants: string[]
  variantSet: Set<string>
  /** the rule's globs; compiled on first use (compiling is ~80 µs a glob, and most pairs never need it) */
  globs: readonly string[]
  regexes: RegExp[] | null
  /** `**` prefixes (see globstarPrefix) */
  prefixes: string[]
  /** per variant: is it literal (no glob syntax)? */
  literal: boolean[]
  /** per literal variant: its regex, compiled on first use */
  literalRes: (RegExp | undefined)[]
  /** lower-cased variants when every variant is literal (they then match only themselves, any case) */
  lowerLiterals: Set<string> | null
}

/** A variant with no glob syntax at all: it matches exactly itself (case-insensitively). */
function isLiteral(v: string): boolean {
  return !v.includes('\\') && !literalBase(v).isGlob
}

/**
 * The lower-cased literal folder every path a glob variant matches starts with (picomatch's
 * scan base, without trailing slashes): `/api/products/*` → `/api/products`; `''` when there is
 * none (`/**`, `**`, `*.css`).
 */
function baseOf(v: string): string {
  if (!v.startsWith('/')) return ''
  return literalBase(v).base.toLowerCase().replace(/\/+$/, '')
}

/** `/a/b` → [`/a/b`, `/a`]: every folder a path under `/a/b` is also under. */
function folderPrefixes(base: string): string[] {
  const out: string[] = []
  for (let p = base; p !== ''; p = p.slice(0, p.lastIndexOf('/'))) out.push(p)
  return out
}

/** The prefix a `**` variant covers: `**` → `''`, `/**` → `/`, `/p/**` → `/p/` (P literal), else undefined. */
function globstarPrefix(v: string): string | undefined {
  if (v === '**') return ''
  if (!v.endsWith('/**')) return undefined
  const p = v.slice(0, -2)
  return p === '/' || isLiteral(p) ? p : undefined
}

/**
 * Does `a` match every path `b` matches? Sound cases only, per variant of b:
 * (b) the same variant appears in a; (a) b's variant is literal and a's regexes match it (and
 * its trailing-slash form when b accepts that); (c) a has `P/**` (or `**`) and b's variant lies
 * under `P/` with no dot segment: picomatch never lets `**` match `.` or `..`, so a variant
 * that names one could match where `**` does not.
 */
function covers(a: Shape, b: Shape): boolean {
  return b.variants.every((v, k) => {
    if (a.variantSet.has(v)) return true
    if (b.literal[k]) {
      if (a.lowerLiterals) return a.lowerLiterals.has(v.toLowerCase())
      const bRe = (b.literalRes[k] ??= compileGlob(v))
      const aRes = (a.regexes ??= a.globs.map(compileGlob))
      return [v, `${v}/`].every((s) => !bRe.test(s) || aRes.some((re) => re.test(s)))
    }
    return a.prefixes.some((p) => {
      if (!v.startsWith(p)) return false
      const rest = p === '' ? v.replace(/^\//, '') : v.slice(p.length)
      return rest !== '' && rest.split('/').every(plainSegment)
    })
  })
}

/** A segment that can never be `.` or `..` (which `**` never matches) and is not empty. */
function plainSegment(seg: string): boolean {
  if (seg === '') return false
  try {
    const re = compileGlob(seg)
    return !re.test('.') && !re.test('..')
  } catch {
    return false
  }
}

function shapeOf(r: Rule): Shape {
  const variants = r.match.flatMap(expandBraces)
  const literal = variants.map(isLiteral)
  return {
    variants,
    variantSet: new Set(variants),
    globs: r.match,
    regexes: null,
    prefixes: variants.map(globstarPrefix).filter((p): p is string => p !== undefined),
    literal,
    literalRes: [],
    lowerLiterals: literal.every(Boolean) ? new Set(variants.map((v) => v.toLowerCase())) : null,
  }
}

function hostCovers(a: Rule, b: Rule): boolean {
  return a.host === null || (b.host !== null && a.host.toLowerCase() === b.host.toLowerCase())
}

/**
 * Does rule `a` accept every request rule `b` accepts (methods, host and path), by the sound
 * cases above? The pairwise definition; `lintRules` only prunes which pairs it asks.
 */
export function ruleCovers(a: Rule, b: Rule): boolean {
  return (a.methods & b.methods) === b.methods && hostCovers(a, b) && covers(shapeOf(a), shapeOf(b))
}

/**
 * Lint a whole, valid, normalised policy set. `where(rule)` is the place a warning about a
 * rule points at (the loader passes the start of the rule's map; default: its id).
 */
export function lintRules(
  rules: readonly Rule[],
  where: (r: Rule) => SourcePos = (r) => r.pos,
): Diagnostic[] {
  const out: Diagnostic[] = []
  const warn = (r: Rule, code: string, message: string) => {
    const p = where(r)
    out.push({ code, severity: 'warning', file: p.file, line: p.line, col: p.col, ruleId: r.id, message })
  }
  const shapes = rules.map(shapeOf)

  // Only a rule that can match b's first variant can cover b: one with the same variant, a glob
  // rooted in a folder of it, or a glob rooted nowhere (`/**`). Indexing those three keeps the
  // lint near-linear for the thousands-of-rules sets the matcher is built for;
  // comparing every pair took seconds at 4,000 rules under one `/api`.
  const byVariant = new Map<string, number[]>()
  const byBase = new Map<string, number[]>()
  const wild: number[] = []
  const push = (m: Map<string, number[]>, k: string, i: number) => {
    const list = m.get(k)
    if (list === undefined) m.set(k, [i])
    else if (list[list.length - 1] !== i) list.push(i)
  }
  shapes.forEach((sh, i) => {
    sh.variants.forEach((v, k) => {
      push(byVariant, v.toLowerCase(), i)
      if (sh.literal[k]) return
      const base = baseOf(v)
      if (base === '') {
        if (wild[wild.length - 1] !== i) wild.push(i)
      } else push(byBase, base, i)
    })
  })
  const candidatesFor = (b: Shape): number[] => {
    const v0 = b.variants[0]
    if (v0 === undefined) return []
    const found = new Set<number>([...wild, ...(byVariant.get(v0.toLowerCase()) ?? [])])
    for (const p of folderPrefixes(b.literal[0] ? v0.toLowerCase().replace(/\/+$/, '') : baseOf(v0))) {
      for (const i of byBase.get(p) ?? []) found.add(i)
    }
    return [...found].sort((x, y) => x - y)
  }

  rules.forEach((b, j) => {
    const bShape = shapes[j] as Shape
    for (const i of candidatesFor(bShape)) {
      if (i >= j) break
      const a = rules[i] as Rule
      if ((a.methods & b.methods) !== b.methods || !hostCovers(a, b)) continue
      if (!covers(shapes[i] as Shape, bShape)) continue
      const ap = where(a)
      const at = ap.file === where(b).file ? `line ${ap.line}` : `${ap.file}:${ap.line}`
      warn(
        b,
        'RULE_SHADOWED',
        `rule "${b.id}" can never match: rule "${a.id}" (${at}) matches everything it matches`,
      )
      break
    }
  })

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
    if (!r.key.host && (r.host === null || literalBase(r.host).isGlob)) {
      warn(
        r,
        'KEY_UNSAFE',
        `key.host: false shares entries between all hosts this rule matches (${r.host === null ? 'any host' : `"${r.host}"`}); name one host in host, or key the host`,
      )
    }
  }
  return out
}
