/**
 * Warnings about one rule on its own: legal settings that cost a lot once traffic arrives (a key
 * that gives every request its own entry, a key an attacker can mint entries with) or that cannot
 * do what they say (a lifetime past the 30-day cap, a stale window no entry can reach, a status
 * that is never stored). Cross-rule warnings (shadowing) are lint.ts.
 *
 * Each finding points at the field that causes it, where it is written: the rule's own field, or
 * the file's `defaults` when the rule inherits it. A finding about a default is reported once per
 * file, naming the rules that inherit it (the default is one line to fix, not one per rule).
 */

import { compileGlob, type GlobVariant } from '../matcher/glob.js'
import { runSteps, STEP_MASK } from '../steps.js'
import { formatDuration } from './duration.js'
import type { RawPolicyFile, RawRule, RawRuleFields } from './normalize.js'
import { type ParsedFile, type PathSegment, posAt } from './source.js'
import type { Diagnostic, Rule } from './types.js'

/** No entry is kept longer than this (the same value as http/freshness.ts MAX_ENTRY_TTL, which
 *  policy code may not import; test/policy/lint-rule.test.ts holds them equal). */
export const LIFETIME_CAP_MS = 30 * 24 * 3600_000

/** Where a finding points: a field path inside the rule (`['key', 'headers', 2]`), in the rule
 *  itself or in the file's defaults, at the value or (a status of a map) at its key. */
export interface FindingAt {
  readonly scope: 'rule' | 'defaults'
  readonly field: readonly PathSegment[]
  readonly at: 'value' | 'key'
}

export interface RuleFinding {
  readonly code: string
  readonly at: FindingAt
  /** starts with the field as the user wrote it (`key.headers[0]: …`, `defaults.ttl: …`) */
  readonly message: string
}

/** The raw fields a rule was normalised from: what it writes itself, and its file's defaults. */
export interface RuleSource {
  readonly rule: RawRule
  readonly defaults?: RawRuleFields | undefined
}

/** Header names that take a new value per request, per client or per session, and what to do. */
const HIGH_CARDINALITY: ReadonlyMap<string, string> = (() => {
  const perRequest =
    'is different on every request: every request misses, reaches the application and stores an entry no one reads again; never key it'
  const perClient =
    'is one value per client address: each client gets a copy of its own, so the cache stops sharing anything and fills with duplicates; a response that really differs per client belongs in a cache: false rule'
  const perSession =
    'is one value per session: each user gets a copy of their own; a response that depends on it is personal, so use cache: false'
  const validator =
    "is the client's own cache state: cachet answers If-None-Match and If-Modified-Since from the stored entry itself, so keying them only gives each client its own entry; remove it"
  const table: Record<string, string> = {
    'user-agent':
      'has thousands of distinct values (every browser, version, OS and device): each gets its own entry, the hit rate collapses and the cache fills with copies; normalise it to a device class before the cache (a middleware that sets x-device: mobile or desktop) and key that instead',
    referer:
      'is one value per linking page: each gets its own entry; key nothing, or what you derive from it',
    date: 'changes every second: every request misses and stores an entry no one reads again; never key it',
    'if-none-match': validator,
    'if-modified-since': validator,
    'x-csrf-token': perSession,
    'x-xsrf-token': perSession,
  }
  for (const h of [
    'x-request-id',
    'x-correlation-id',
    'request-id',
    'x-amzn-trace-id',
    'traceparent',
    'tracestate',
    'b3',
    'x-b3-traceid',
    'x-b3-spanid',
    'x-cloud-trace-context',
    'sentry-trace',
    'cf-ray',
    'x-trace-id',
  ])
    table[h] = perRequest
  for (const h of [
    'x-forwarded-for',
    'x-real-ip',
    'forwarded',
    'true-client-ip',
    'cf-connecting-ip',
    'fastly-client-ip',
    'x-client-ip',
  ])
    table[h] = perClient
  return new Map(Object.entries(table))
})()

/** `key.headers[0]`, `statuses.206`: a field path as it reads in a message. */
function fieldText(scope: FindingAt['scope'], field: readonly PathSegment[]): string {
  let out = scope === 'defaults' ? 'defaults' : ''
  for (const seg of field) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`
  return out
}

/** Does the raw object hold a value at `field`? */
function holds(raw: object | undefined, field: readonly PathSegment[]): boolean {
  let v: unknown = raw
  for (const seg of field) {
    if (v === null || typeof v !== 'object') return false
    v = (v as Record<string, unknown>)[String(seg)]
  }
  return v !== undefined
}

/** A glob with no bound on what it accepts: a `**` segment, or no literal folder to start with. */
function unbounded(glob: string): boolean {
  for (const v of compileGlob(glob).variants) {
    if (noFolder(v)) return true
    for (const seg of v.segments) if (seg.kind === 'globstar') return true
  }
  return false
}

/** `literalFolder(v) === ''` without building the folder: no literal segment first, or only an
 *  empty one (the root's) before the first wildcard. */
function noFolder(v: GlobVariant): boolean {
  const [a, b] = v.segments
  if (a === undefined || a.kind !== 'lit') return true
  return a.key === '' && (b === undefined || b.kind !== 'lit')
}

const CAP = `over the ${formatDuration(LIFETIME_CAP_MS)} cap: no entry is kept longer than that, whatever the policy or the response says; write ${formatDuration(LIFETIME_CAP_MS)} or less`
const FLOOD =
  'anyone can mint new entries with random query parameters (?x=1, ?x=2, …), each a miss that reaches the application and evicts real entries; key only the parameters the response depends on (query: [page, sort]) or none'
const PARTIAL =
  '206 is never stored: a partial response would be replayed to every plain GET (docs/threats.md T27); cachet forwards Range requests on a miss and answers them from a full entry'
const STALE_FIELDS = ['staleWhileRevalidate', 'staleIfError', 'staleIfUnreachable'] as const

/** Where a rule's top-level field comes from: its own, else its file's defaults. */
function scopeOf(src: RuleSource | undefined, field: readonly PathSegment[]): FindingAt['scope'] {
  const top = field.slice(0, 1)
  return src === undefined || holds(src.rule, top) || !holds(src.defaults, top) ? 'rule' : 'defaults'
}

function add(
  out: RuleFinding[],
  src: RuleSource | undefined,
  code: string,
  field: readonly PathSegment[],
  message: string,
  at: FindingAt['at'] = 'value',
): void {
  const scope = scopeOf(src, field)
  out.push({ code, at: { scope, field, at }, message: `${fieldText(scope, field)}: ${message}` })
}

/** A status's lifetime (the rule's ttl when the status gives none). */
const lifetimeOf = (r: Rule, t: number): number => (t >= 0 ? t : r.ttl)

/** Never stored whatever the response: 206 (T27), or a 0 lifetime under origin: override. */
const neverStored = (r: Rule, s: number, t: number): boolean =>
  s === 206 || (r.origin === 'override' && lifetimeOf(r, t) <= 0)

/**
 * The warnings about `r` alone. `src` (the raw rule and its file's defaults) says where each field
 * is written; without it every field counts as the rule's own. Most rules have none: the checks
 * are plain loops, and nothing is built unless one fires (100k rules, issue 12 item 8).
 */
export function lintRule(r: Rule, src?: RuleSource): RuleFinding[] {
  // A rule that stores nothing (bypass, or only unsafe methods) has nothing for these to cost;
  // check.ts reports the fields that have no effect on it.
  if (!r.cache || (r.methods & 3) === 0) return NONE
  const out: RuleFinding[] = []
  const headers = r.key.headers
  for (let i = 0; i < headers.length; i++) {
    const why = HIGH_CARDINALITY.get(headers[i]!)
    if (why !== undefined)
      add(out, src, 'KEY_HIGH_CARDINALITY', ['key', 'headers', i], `${headers[i]} ${why}`)
  }
  const q = r.key.query
  if (q.mode === 'all' || q.mode === 'exclude') queryFlood(out, r, src)
  if (r.ttl > LIFETIME_CAP_MS) add(out, src, 'TTL_CAPPED', ['ttl'], `${formatDuration(r.ttl)} is ${CAP}`)
  let never = 0
  for (const [s, t] of r.statuses) {
    if (t > LIFETIME_CAP_MS)
      add(out, src, 'TTL_CAPPED', ['statuses', String(s)], `${formatDuration(t)} is ${CAP}`)
    if (neverStored(r, s, t)) never++
  }
  for (const field of STALE_FIELDS)
    if (r[field] > LIFETIME_CAP_MS)
      add(out, src, 'TTL_CAPPED', [field], `${formatDuration(r[field])} is ${CAP}`)
  if (never > 0) unstorableStatuses(out, r, src, never)
  if (
    r.origin === 'override' &&
    (r.staleWhileRevalidate > 0 || r.staleIfError > 0 || r.staleIfUnreachable > 0) &&
    never < r.statuses.size
  )
    staleUnreachable(out, r, src)
  return out.length === 0 ? NONE : out
}

const NONE: RuleFinding[] = []

/**
 * Variant flood: with every query parameter keyed, `?x=1`, `?x=2`, … are new entries, each a
 * miss that reaches the application; on paths without a bound, on any path or any depth.
 */
function queryFlood(out: RuleFinding[], r: Rule, src: RuleSource | undefined): void {
  const j = r.match.findIndex(unbounded)
  if (j === -1) return
  const glob = JSON.stringify(r.match[j])
  const all = r.key.query.mode === 'all'
  const what = all ? 'all' : 'an exclude list'
  const writesQuery = src === undefined ? !all : holds(src.rule, ['key', 'query'])
  if (writesQuery) {
    const keys = all ? 'keys every parameter' : 'keys every parameter it does not name'
    add(
      out,
      src,
      'QUERY_UNBOUNDED',
      ['key', 'query'],
      `${what} ${keys}, on paths without a bound (match ${glob}): ${FLOOD}`,
      'key',
    )
    return
  }
  const from = src !== undefined && holds(src.defaults, ['key', 'query']) ? 'from defaults' : 'the default'
  const field = r.match.length === 1 && !Array.isArray(src?.rule.match) ? ['match'] : ['match', j]
  add(out, src, 'QUERY_UNBOUNDED', field, `${glob} has no bound and key.query is ${what} (${from}): ${FLOOD}`)
}

/** Statuses that are never stored, each at its place in the list or map. */
function unstorableStatuses(out: RuleFinding[], r: Rule, src: RuleSource | undefined, never: number): void {
  const raw = src === undefined ? undefined : (src.rule.statuses ?? src.defaults?.statuses)
  const mapped =
    src === undefined
      ? [...r.statuses.values()].some((t) => t >= 0)
      : raw !== undefined && !Array.isArray(raw)
  const list = Array.isArray(raw) ? raw : [...r.statuses.keys()]
  const tail =
    never === r.statuses.size
      ? '; no status this rule lists can be stored, so it stores nothing (use cache: false to bypass)'
      : '; remove it'
  for (const [s, t] of r.statuses) {
    if (!neverStored(r, s, t)) continue
    const why = s === 206 ? PARTIAL : `${s} has a lifetime of 0 under origin: override, so it is never stored`
    if (mapped) add(out, src, 'STATUS_NEVER_STORED', ['statuses', String(s)], `${why}${tail}`, 'key')
    else add(out, src, 'STATUS_NEVER_STORED', ['statuses', Math.max(0, list.indexOf(s))], `${why}${tail}`)
  }
}

/**
 * Stale windows no entry can reach. Under origin: override an entry's freshness is its rule's
 * lifetime for its status (capped at 30 days), and it is kept at most 30 days in all, stale
 * windows included (http/freshness.ts lifetime()): a window past what the cap leaves is never
 * used. Under origin: respect a response may state a shorter lifetime, so nothing is certain.
 */
function staleUnreachable(out: RuleFinding[], r: Rule, src: RuleSource | undefined): void {
  let shortest = LIFETIME_CAP_MS
  let longest = 0
  for (const [s, t] of r.statuses) {
    if (neverStored(r, s, t)) continue
    const life = Math.min(lifetimeOf(r, t), LIFETIME_CAP_MS)
    shortest = Math.min(shortest, life)
    longest = Math.max(longest, life)
  }
  const room = LIFETIME_CAP_MS - shortest
  const lives = `every entry is fresh for ${shortest === longest ? '' : 'at least '}${formatDuration(shortest)}`
  for (const field of STALE_FIELDS) {
    const w = r[field]
    if (w === 0 || w > LIFETIME_CAP_MS || w <= room) continue // off, already TTL_CAPPED, or reachable
    add(
      out,
      src,
      'STALE_UNREACHABLE',
      [field],
      room === 0
        ? `${formatDuration(w)} is never used: under origin: override ${lives}, the ${formatDuration(LIFETIME_CAP_MS)} an entry may be kept in all, so it is dropped the moment it expires; shorten the lifetime or drop the window`
        : `only ${formatDuration(room)} of ${formatDuration(w)} can ever be used: under origin: override ${lives}, and an entry is kept at most ${formatDuration(LIFETIME_CAP_MS)} in all, stale window included`,
    )
  }
}

/**
 * lintRule over one file's rules (`rules[i]` normalised from `raw.rules[i]`), at file:line:col. A
 * finding about a default comes once, without a rule id, naming the rules that inherit it.
 */
export function lintFileRules(pf: ParsedFile, raw: RawPolicyFile, rules: readonly Rule[]): Diagnostic[] {
  return runSteps(lintFileRulesSteps(pf, raw, rules))
}

/** lintFileRules, pausing (a bare `yield`) every STEP_RULES rules. */
export function* lintFileRulesSteps(
  pf: ParsedFile,
  raw: RawPolicyFile,
  rules: readonly Rule[],
): Generator<void, Diagnostic[]> {
  const out: Diagnostic[] = []
  const fromDefaults = new Map<string, { d: Diagnostic; ids: string[] }>()
  for (let i = 0; i < rules.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    const rule = rules[i]!
    for (const f of lintRule(rule, { rule: raw.rules[i]!, defaults: raw.defaults })) {
      const base = f.at.scope === 'rule' ? ['rules', String(i)] : ['defaults']
      const p = posAt(pf, [...base, ...f.at.field.map(String)], f.at.at)
      if (f.at.scope === 'rule') {
        // built whole, not as a spread copy of the one below (a finding on 3 in 10 of the bench's rules)
        out.push({
          code: f.code,
          severity: 'warning',
          file: pf.file,
          line: p.line,
          col: p.col,
          message: f.message,
          ruleId: rule.id,
        })
        continue
      }
      const d: Diagnostic = {
        code: f.code,
        severity: 'warning',
        file: pf.file,
        line: p.line,
        col: p.col,
        message: f.message,
      }
      const k = `${f.code} ${f.message}`
      const seen = fromDefaults.get(k)
      if (seen) seen.ids.push(rule.id)
      else fromDefaults.set(k, { d, ids: [rule.id] })
    }
  }
  for (const { d, ids } of fromDefaults.values()) {
    const who = ids.length === 1 ? `rule "${ids[0]}"` : `rules "${ids[0]}" and ${ids.length - 1} more`
    out.push({ ...d, message: `${d.message} (inherited by ${who})` })
  }
  return out
}
