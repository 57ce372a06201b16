/**
 * Semantic checks: what the JSON Schema cannot say. Runs on schema-valid parts only (a rule
 * with schema errors is skipped, so one mistake is not reported twice in two wordings).
 *
 * Field checks run once where the field is written (a bad `defaults.host` is one error, not
 * one per rule); checks of the merged rule (a cached rule needs a lifetime) run per rule.
 * Besides errors it reports fields that can have no effect on their rule, as warnings.
 */
import { compileGlob, type GlobKind, type GlobVariant, globProblem as whyInvalid } from '../matcher/glob.js'
import { runSteps, STEP_MASK } from '../steps.js'
import { parseDuration, parseSize } from './duration.js'
import {
  DEFAULT_METHODS,
  mergeDefaults,
  queryKey,
  queryKeyed,
  type RawKey,
  type RawPolicyFile,
  type RawRule,
  type RawRuleFields,
} from './normalize.js'
import { type ParsedFile, type PathSegment, posAt } from './source.js'
import { parseTagTemplate, tagQueryNames } from './tag-template.js'
import { type Diagnostic, METHOD_BITS, type Severity } from './types.js'
import { render } from './validate.js'

/** Why a glob does not compile, in one line, or undefined (glob.ts's messages name the character). */
function globProblem(kind: GlobKind, glob: string): string | undefined {
  return whyInvalid(glob, kind)?.message
}

const UNSAFE = ['POST', 'PUT', 'PATCH', 'DELETE']
const isUnsafe = (m: string): boolean => UNSAFE.includes(m)
const STALE_FIELDS = ['staleWhileRevalidate', 'staleIfError', 'staleIfUnreachable', 'heuristicMax'] as const
const TAGS_PATH: readonly PathSegment[] = ['tags']
const INVALIDATE_TAGS_PATH: readonly PathSegment[] = ['invalidate', 'tags']

/** Where glob `j` of a rule's match is (-1: match is one glob), and how it reads in a message. */
const matchPath = (base: readonly PathSegment[], j: number): PathSegment[] =>
  j === -1 ? [...base, 'match'] : [...base, 'match', j]
const matchField = (j: number): string => (j === -1 ? 'match' : `match[${j}]`)

/** The methods of a list in METHOD_ORDER, for messages. */
const orderedMethods = (list: readonly string[]): string[] => METHOD_ORDER.filter((m) => list.includes(m))

/** Where a rule's `field` is written: in the rule, or else in its file's defaults. */
function writtenAt(rule: RawRule, base: readonly PathSegment[], field: keyof RawRuleFields): PathSegment[] {
  return rule[field] !== undefined ? [...base, field] : ['defaults', field]
}

const RESPONSE_FIELDS = ['otherStatuses', 'heuristic'] as const
/** fields that do nothing on a rule that stores nothing */
const STORE_FIELDS = [
  'tags',
  'tagsFromResponse',
  'staleWhileRevalidate',
  'staleIfError',
  'staleIfUnreachable',
  'contentTypes',
] as const

/** A glob variant that cannot match a path (which starts with `/`): its first segment is neither
 *  `**` nor empty. */
function notFromRoot(v: GlobVariant): boolean {
  const first = v.segments[0]!
  return !(first.kind === 'globstar' || (first.kind === 'lit' && first.key === ''))
}
const METHOD_ORDER = Object.keys(METHOD_BITS)

/** How a rule's key.query reads in a message about a parameter it does not key. */
function unkeyedBecause(q: RawKey['query']): string {
  if (q === 'none') return 'key.query is none'
  return Array.isArray(q) ? 'key.query does not list it' : 'key.query excludes it'
}

export function checkFile(
  pf: ParsedFile,
  raw: RawPolicyFile,
  skipRules: ReadonlySet<number>,
  skipDefaults: boolean,
): Diagnostic[] {
  return runSteps(checkFileSteps(pf, raw, skipRules, skipDefaults))
}

/** checkFile, pausing (a bare `yield`) every STEP_RULES rules. */
export function* checkFileSteps(
  pf: ParsedFile,
  raw: RawPolicyFile,
  skipRules: ReadonlySet<number>,
  skipDefaults: boolean,
): Generator<void, Diagnostic[]> {
  const out: Diagnostic[] = []
  const report = (
    code: string,
    path: readonly PathSegment[],
    ruleId: string | undefined,
    message: string,
    severity: Severity = 'error',
    at: 'value' | 'key' = 'value',
  ) => {
    const p = posAt(pf, path.map(String), at)
    out.push({
      code,
      severity,
      file: pf.file,
      line: p.line,
      col: p.col,
      ...(ruleId !== undefined ? { ruleId } : {}),
      message,
    })
  }
  const warn = (code: string, path: readonly PathSegment[], ruleId: string | undefined, message: string) =>
    report(code, path, ruleId, message, 'warning', 'key')

  /** Template syntax of a list of tags; `where` is how the list reads in messages (`tags`, `invalidate.tags`). */
  const checkTags = (
    list: readonly string[] | undefined,
    base: readonly PathSegment[],
    at: readonly PathSegment[],
    ruleId: string | undefined,
    where: string,
  ) => {
    if (list === undefined) return
    for (let i = 0; i < list.length; i++) {
      const parsed = parseTagTemplate(list[i]!)
      if (!parsed.ok) report('TAG_TEMPLATE', [...base, ...at, i], ruleId, `${where}[${i}]: ${parsed.problem}`)
    }
  }

  /** Checks of fields as written, in a rule or in `defaults` (`prefix` names the latter in messages). */
  const checkFields = (
    f: RawRuleFields,
    base: readonly PathSegment[],
    ruleId: string | undefined,
    prefix: string,
  ) => {
    if (f.host !== undefined) {
      const problem = globProblem('host', f.host)
      if (problem)
        report(
          'GLOB_INVALID',
          [...base, 'host'],
          ruleId,
          `${prefix}host: invalid glob ${render(f.host)}: ${problem}`,
        )
      else if (f.host.includes('/'))
        report(
          'HOST_FORMAT',
          [...base, 'host'],
          ruleId,
          `${prefix}host: expected a host name glob without scheme or path, got ${render(f.host)}`,
        )
      // Rules see the host name without the port (Koa's ctx.hostname); `[::1]` is an IPv6 literal.
      else if (/:\d*$/.test(f.host) && !f.host.startsWith('['))
        report(
          'HOST_FORMAT',
          [...base, 'host'],
          ruleId,
          `${prefix}host: expected a host name glob without port, got ${render(f.host)}`,
        )
    }
    if (f.ttl !== undefined && parseDuration(f.ttl) === undefined) {
      report(
        'DURATION_RANGE',
        [...base, 'ttl'],
        ruleId,
        `${prefix}ttl: duration ${render(f.ttl)} is too large`,
      )
    }
    if (f.statuses !== undefined && !Array.isArray(f.statuses)) {
      for (const [s, d] of Object.entries(f.statuses)) {
        if (parseDuration(d) === undefined)
          report(
            'DURATION_RANGE',
            [...base, 'statuses', s],
            ruleId,
            `${prefix}statuses.${s}: duration ${render(d)} is too large`,
          )
      }
    }
    for (const field of STALE_FIELDS) {
      const d = f[field]
      if (d !== undefined && parseDuration(d) === undefined)
        report(
          'DURATION_RANGE',
          [...base, field],
          ruleId,
          `${prefix}${field}: duration ${render(d)} is too large`,
        )
    }
    checkTags(f.tags, base, TAGS_PATH, ruleId, `${prefix}tags`)
    if (f.invalidate !== undefined)
      checkTags(f.invalidate.tags, base, INVALIDATE_TAGS_PATH, ruleId, `${prefix}invalidate.tags`)
    if (f.maxBodySize !== undefined && parseSize(f.maxBodySize) === undefined) {
      report(
        'SIZE_RANGE',
        [...base, 'maxBodySize'],
        ruleId,
        `${prefix}maxBodySize: size ${render(f.maxBodySize)} is too large`,
      )
    }
    const headers = f.key?.headers
    if (headers !== undefined && headers.length > 0) {
      const seen = new Set<string>()
      for (let i = 0; i < headers.length; i++) {
        const h = headers[i]!
        const lower = h.toLowerCase()
        // The Cookie header holds every cookie: keying it whole would give each session its own
        // entry and defeat the cookie rules (spec "Cookies"). key.cookies names the ones that matter.
        if (lower === 'cookie')
          report(
            'KEY_COOKIE_HEADER',
            [...base, 'key', 'headers', i],
            ruleId,
            `${prefix}key.headers[${i}]: the cookie header cannot be keyed; list the cookies that matter in key.cookies`,
          )
        else if (seen.has(lower))
          report(
            'POLICY_SCHEMA',
            [...base, 'key', 'headers', i],
            ruleId,
            `${prefix}key.headers[${i}]: ${render(h)} is listed twice (header names are case-insensitive)`,
          )
        seen.add(lower)
      }
    }
    const contentTypes = f.contentTypes
    if (contentTypes !== undefined && contentTypes.length > 1) {
      const types = new Set<string>()
      for (let i = 0; i < contentTypes.length; i++) {
        const t = contentTypes[i]!
        const lower = t.toLowerCase()
        if (types.has(lower))
          report(
            'POLICY_SCHEMA',
            [...base, 'contentTypes', i],
            ruleId,
            `${prefix}contentTypes[${i}]: ${render(t)} is listed twice (media types are case-insensitive)`,
          )
        types.add(lower)
      }
    }
  }

  if (raw.defaults !== undefined && !skipDefaults)
    checkFields(raw.defaults, ['defaults'], undefined, 'defaults.')

  /** One glob of a rule's match (`j`: its place in a list, -1 when match is one glob). */
  const checkMatch = (glob: string, j: number, base: readonly PathSegment[], id: string) => {
    const problem = globProblem('path', glob)
    if (problem) {
      report(
        'GLOB_INVALID',
        matchPath(base, j),
        id,
        `${matchField(j)}: invalid glob ${render(glob)}: ${problem}`,
      )
      return
    }
    // Paths always start with "/": a glob that cannot (`products/*`, `*.css`) would silently
    // match nothing. A leading `**` matches the empty first segment, so `**/*.css` is fine.
    const bad = compileGlob(glob).variants.find(notFromRoot)
    if (bad !== undefined) {
      // `*.css` is the usual slip: say what it should have been
      const rest = bad.text.replace(/^\*+\/?/, '')
      const hint = bad.text.startsWith('*')
        ? ` (a leading * never matches the "/" a path starts with: write **/${rest})`
        : ''
      report(
        'MATCH_NOT_PATH',
        matchPath(base, j),
        id,
        `${matchField(j)}: expected a path glob starting with "/" or "**", got ${render(glob)}${hint}`,
      )
    }
  }

  const checkRule = (rule: RawRule, i: number) => {
    if (skipRules.has(i)) return
    const base = ['rules', i]
    const id = rule.id
    if (Array.isArray(rule.match))
      for (let j = 0; j < rule.match.length; j++) checkMatch(rule.match[j]!, j, base, id)
    else checkMatch(rule.match, -1, base, id)
    checkFields(rule, base, id, '')

    if (skipDefaults) return
    const merged = mergeDefaults(raw.defaults, rule)
    const cached = merged.cache !== false
    // the rule's methods in METHOD_ORDER are only spelled out for a message (orderedMethods)
    const methodList = merged.methods ?? DEFAULT_METHODS
    const readable = methodList.includes('GET') || methodList.includes('HEAD')
    const statusMap = merged.statuses !== undefined && !Array.isArray(merged.statuses)
    if (cached && readable && merged.ttl === undefined && !statusMap) {
      report(
        'TTL_MISSING',
        base,
        id,
        'missing ttl: a rule with cache: true needs a ttl (here or in defaults) or statuses as a map like { 200: 5m }; use cache: false to bypass',
      )
    }
    if (
      cached &&
      merged.origin === 'override' &&
      merged.ttl !== undefined &&
      parseDuration(merged.ttl) === 0 &&
      !statusMap
    ) {
      const at = rule.ttl !== undefined ? [...base, 'ttl'] : base
      report('TTL_ZERO', at, id, 'ttl: 0 with origin: override stores nothing; use cache: false to bypass')
    }

    // otherStatuses and heuristic read the response's own statements: under origin: override the
    // rule's ttl decides everything, so they would silently do nothing; and a statuses list is
    // the rule's allow-list (issue 8: "what a rule lists stays the allow-list when it lists").
    if (cached && readable) {
      for (const field of RESPONSE_FIELDS) {
        const on =
          field === 'otherStatuses' ? merged.otherStatuses === 'explicit' : merged.heuristic !== undefined
        if (on && merged.origin === 'override')
          report(
            'FIELD_CONFLICT',
            writtenAt(rule, base, field),
            id,
            `${field} reads what the response states, which origin: override ignores; use origin: respect or drop ${field}`,
          )
      }
      if (merged.otherStatuses === 'explicit' && merged.statuses !== undefined)
        report(
          'FIELD_CONFLICT',
          writtenAt(rule, base, 'otherStatuses'),
          id,
          'otherStatuses: explicit applies to a rule without statuses: a statuses list is the allow-list; drop one of them',
        )
    }

    // Tags are resolved from what the key sees (src/decide.ts passes the keyed query pairs): a
    // parameter outside the key would read as empty, and two requests sharing one entry could
    // otherwise disagree on its tags, so a purge by one of them would miss it.
    if (cached && readable && merged.tags !== undefined) {
      const own = rule.tags !== undefined
      const q = queryKey(merged.key?.query)
      for (let j = 0; j < merged.tags.length; j++) {
        const parsed = parseTagTemplate(merged.tags[j]!)
        if (!parsed.ok) continue // reported where it is written
        for (const name of tagQueryNames(parsed.parts)) {
          if (queryKeyed(q, name)) continue
          report(
            'TAG_QUERY_UNKEYED',
            own ? [...base, 'tags', j] : ['defaults', 'tags', j],
            id,
            `${own ? '' : 'defaults.'}tags[${j}]: {query.${name}} reads query parameter ${JSON.stringify(name)}, but ${unkeyedBecause(merged.key?.query)}: ` +
              'a tag may only use query parameters the key sees, otherwise two requests sharing an entry could disagree on its tags',
          )
        }
      }
    }

    // invalidate runs after an unsafe request (spec "Tags and invalidation"); on a rule that
    // never matches one it would silently never run.
    if (merged.invalidate !== undefined && !methodList.some(isUnsafe)) {
      const at =
        rule.invalidate !== undefined
          ? [...base, 'invalidate']
          : rule.methods !== undefined
            ? [...base, 'methods']
            : base
      report(
        'INVALIDATE_SAFE_METHODS',
        at,
        id,
        `invalidate applies after POST/PUT/PATCH/DELETE; this rule only matches ${orderedMethods(methodList).join(', ')}`,
        'error',
        'key',
      )
    }

    // Legal but useless: said once, where the rule itself writes the field (an inherited
    // default is meant for the file's other rules).
    if (!cached || !readable) {
      for (const field of STORE_FIELDS) {
        if (rule[field] === undefined) continue
        if (field === 'tags' && rule.tags?.length === 0) continue
        if (field === 'tagsFromResponse' && rule.tagsFromResponse === false) continue
        const why = !cached
          ? 'with cache: false (nothing this rule matches is stored)'
          : `on a rule that only matches ${orderedMethods(methodList).join(', ')} (only GET and HEAD responses are stored)`
        const hint = field === 'tags' && cached ? '; to purge tags after a write, use invalidate.tags' : ''
        warn('FIELD_UNUSED', [...base, field], id, `${field}: has no effect ${why}${hint}`)
      }
    }
  }
  for (let i = 0; i < raw.rules.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    checkRule(raw.rules[i]!, i)
  }
  return out
}
