/**
 * Running policy test cases: each request goes through `explain` (src/request/explain.ts), that
 * is through the very `decide()` the middleware runs and, given a response, through the storage
 * decision the miss path runs (src/request/storable.ts). Nothing here re-states a caching rule:
 * it only compares what those say with what the case expects.
 */
import { formatDuration } from '../policy/duration.js'
import type { Diagnostic, Rule, SourcePos } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'
import { type Explanation, explain } from '../request/explain.js'
import type { TestCase, TestRequest } from './file.js'

/** One expectation that does not hold: where it is written, and both sides as text lines. */
export interface Failure {
  /** the expectation, as the file names it: `stored`, `removed.query`, `sameKey[1]` */
  readonly field: string
  readonly pos: SourcePos
  readonly expected: string
  readonly actual: string
}

export interface CaseResult {
  readonly name: string
  readonly pos: SourcePos
  readonly ok: boolean
  readonly failures: readonly Failure[]
  /** ids of the rules the case's requests matched (for RULE_UNTESTED) */
  readonly matched: readonly string[]
}

const list = (xs: readonly string[]) => `[${xs.join(', ')}]`
const sortedSet = (xs: readonly string[]) => [...new Set(xs)].sort()
const sameSet = (a: readonly string[], b: readonly string[]) => list(sortedSet(a)) === list(sortedSet(b))

function ruleText(id: string | null): string {
  return id === null ? 'none (no rule matches)' : id
}

function decisionText(x: Explanation): string {
  return x.decision === 'bypass' ? `bypass (${x.detail})` : x.decision
}

function storageText(x: Explanation): string {
  const s = x.storage!
  if (s.stored) {
    const fresh = formatDuration(Math.round(s.ttl! * 1000))
    const kept = formatDuration(Math.round(s.keep! * 1000))
    return kept === fresh ? `stored, fresh for ${fresh}` : `stored, fresh for ${fresh} (kept ${kept})`
  }
  return `not stored (${s.reason})`
}

/** What tells two looked-up requests' keys apart, in words. */
function keyDifference(a: Explanation, b: Explanation): string {
  if (a.rule !== b.rule) return `rule ${b.rule} vs ${a.rule}`
  const pa = a.keyParts!
  const pb = b.keyParts!
  const out: string[] = []
  if (pa.scheme !== pb.scheme || pa.host !== pb.host)
    out.push(`host ${pb.scheme}://${pb.host} vs ${pa.scheme}://${pa.host}`)
  if (pa.path !== pb.path) out.push(`path ${pb.path} vs ${pa.path}`)
  const q = (p: typeof pa) => p.query.map(([k, v]) => `${k}=${v}`).join('&') || '(none)'
  if (q(pa) !== q(pb)) out.push(`query ${q(pb)} vs ${q(pa)}`)
  for (const h of Object.keys(pa.headers))
    if (pa.headers[h] !== pb.headers[h])
      out.push(`header ${h} ${pb.headers[h] ?? '(absent)'} vs ${pa.headers[h] ?? '(absent)'}`)
  const c = (p: typeof pa) => (p.cookies ?? []).map(([k, v]) => `${k}=${v}`).join('; ') || '(none)'
  if (c(pa) !== c(pb)) out.push(`cookies ${c(pb)} vs ${c(pa)}`)
  // the method class (GET/HEAD vs the rest) is the remaining part of the key material
  return out.length > 0 ? out.join(', ') : 'method'
}

function notLookedUp(r: TestRequest, x: Explanation): string {
  return `${r.text} is not looked up (decision: ${decisionText(x)}), so it shares no entry`
}

export function runCase(set: PolicySet, name: string, c: TestCase): CaseResult {
  const failures: Failure[] = []
  const x = explain(set, name, { ...c.request, ...(c.response ? { response: c.response } : {}) })
  const matched = new Set<string>(x.rule === null ? [] : [x.rule])
  const fail = (field: string, at: { pos: SourcePos }, expected: string, actual: string) =>
    failures.push({ field, pos: at.pos, expected, actual })
  const e = c.expect

  if (e.rule && e.rule.value !== x.rule) {
    const known = set.rules.some((r: Rule) => r.id === e.rule!.value)
    fail(
      'rule',
      e.rule,
      ruleText(e.rule.value) + (known || e.rule.value === null ? '' : ' (no rule has this id)'),
      ruleText(x.rule),
    )
  }
  if (e.decision && e.decision.value !== x.decision)
    fail('decision', e.decision, e.decision.value, decisionText(x))
  if (e.bypass && !(x.decision === 'bypass' && x.detail === e.bypass.value))
    fail('bypass', e.bypass, `bypass (${e.bypass.value})`, decisionText(x))

  for (const [field, same] of [
    ['sameKey', true],
    ['differentKey', false],
  ] as const) {
    e[field]?.forEach((r, i) => {
      const y = explain(set, name, r)
      if (y.rule !== null) matched.add(y.rule)
      const label = e[field]!.length > 1 ? `${field}[${i}]` : field
      const expected = `${same ? 'the same entry as' : 'another entry than'} ${c.request.text}`
      if (x.decision !== 'lookup') fail(label, r, expected, notLookedUp(c.request, x))
      else if (y.decision !== 'lookup') fail(label, r, expected, notLookedUp(r, y))
      else if (same && x.key !== y.key)
        fail(label, r, expected, `${r.text}: another entry (${keyDifference(x, y)})`)
      else if (!same && x.key === y.key) fail(label, r, expected, `${r.text}: the same entry`)
    })
  }

  if (e.removed) {
    for (const part of ['query', 'cookies', 'headers'] as const) {
      const want = e.removed[part]
      if (want && !sameSet(want.value, x.removed[part]))
        fail(`removed.${part}`, want, list(sortedSet(want.value)), list(sortedSet(x.removed[part])))
    }
  }
  if (e.tags && !sameSet(e.tags.value, x.tags)) {
    fail(
      'tags',
      e.tags,
      list(sortedSet(e.tags.value)),
      x.decision === 'lookup' ? list(sortedSet(x.tags)) : `none (decision: ${decisionText(x)})`,
    )
  }
  if (e.stored) {
    const s = x.storage!
    const want = e.stored.value
    const ok = typeof want === 'boolean' ? s.stored === want : s.stored && Math.round(s.ttl! * 1000) === want
    if (!ok) {
      const expected =
        want === false ? 'not stored' : want === true ? 'stored' : `stored, fresh for ${formatDuration(want)}`
      fail('stored', e.stored, expected, storageText(x))
    }
  }
  if (e.notStored) {
    const s = x.storage!
    if (s.stored || s.reason !== e.notStored.value)
      fail('notStored', e.notStored, `not stored (${e.notStored.value})`, storageText(x))
  }
  // in the order the file states them
  failures.sort((a, b) => a.pos.line - b.pos.line || a.pos.col - b.pos.col)
  return { name: c.name, pos: c.pos, ok: failures.length === 0, failures, matched: [...matched] }
}

/**
 * RULE_UNTESTED: the rules no request of any case matched (warnings at each rule's id). Only
 * meaningful when test files exist: the caller decides that.
 */
export function untestedRules(rules: readonly Rule[], results: readonly CaseResult[]): Diagnostic[] {
  const matched = new Set(results.flatMap((r) => r.matched))
  return rules
    .filter((r) => !matched.has(r.id))
    .map((r) => ({
      code: 'RULE_UNTESTED',
      severity: 'warning' as const,
      ...r.pos,
      ruleId: r.id,
      message: `rule "${r.id}" is matched by no request of the policy test files`,
    }))
}
