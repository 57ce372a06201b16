/**
 * The reference matcher: every rule, in declaration order, every glob, first match wins. It is
 * the oracle the indexed matcher is proved against (test/matcher/equivalence.test.ts), so it
 * stays as plain as the spec sentence it implements: "the first rule whose match, host and
 * methods all accept it wins".
 */
import type { Rule } from '../policy/types.js'
import { hasDotSegment } from './glob.js'
import {
  assertDeclarationOrder,
  compileRuleGlob,
  type MatchExplanation,
  type Matcher,
  type MatcherStats,
} from './matcher.js'

export function linearMatcher(rules: readonly Rule[]): Matcher {
  assertDeclarationOrder(rules)
  const table = rules.map((rule) => ({
    rule,
    paths: rule.match.map((g) => compileRuleGlob(rule, g, 'match')),
    host: rule.host === null ? null : compileRuleGlob(rule, rule.host, 'host'),
  }))
  const entries = table.reduce((n, t) => n + t.paths.length, 0)
  const stats: MatcherStats = Object.freeze({
    rules: rules.length,
    exact: 0,
    segment: 0,
    ext: 0,
    residual: entries,
  })

  function match(methodBit: number, host: string, path: string): Rule | undefined {
    // a `.` or `..` segment: no glob matches (docs/policy-format.md "Globs")
    if (hasDotSegment(path)) return undefined
    for (const t of table) {
      if ((t.rule.methods & methodBit) === 0) continue
      // an unknown host ('') never satisfies a rule that names one
      if (t.host !== null && (host === '' || !t.host.test(host))) continue
      for (const g of t.paths) if (g.test(path)) return t.rule
    }
    return undefined
  }

  return Object.freeze({
    match,
    explain(methodBit: number, host: string, path: string): MatchExplanation {
      const rule = match(methodBit, host, path)
      return { rule, bucket: rule === undefined ? 'none' : 'linear', candidates: entries }
    },
    stats,
  })
}
