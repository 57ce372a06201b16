/**
 * The matcher contract shared by the indexed matcher (`compile.ts`) and the linear oracle
 * (`linear.ts`), plus the compile-time helpers both use so they agree on what a rule means.
 *
 * Semantics (spec "Which rule applies"): the first rule in declaration order (lowest
 * `Rule.index`) whose `match` (any of its globs), `host` and `methods` all accept the request.
 * A glob means exactly what `compileGlob` (glob.ts) makes of it: its `test` is the truth.
 */
import type { Rule } from '../policy/types.js'
import { compileGlob, type Glob } from './glob.js'

/** Which part of the index served a request: `none` when no rule matched. */
export type MatchBucket = 'exact' | 'segment' | 'ext' | 'residual' | 'linear' | 'none'

export interface MatchExplanation {
  readonly rule: Rule | undefined
  readonly bucket: MatchBucket
  /** how many (rule, glob) candidates the index handed to the scan for this request (before the
   *  early exit): the pruning at work. The linear matcher always reports all of them. */
  readonly candidates: number
}

export interface MatcherStats {
  readonly rules: number
  /** index entries per bucket: one per (rule, glob, anchor) after brace expansion and de-duplication.
   *  `residual` entries cost a RegExp test on every request: lint warns when there are many. */
  readonly exact: number
  readonly segment: number
  readonly ext: number
  readonly residual: number
}

export interface Matcher {
  /** hot path. `methodBit` from `methodBit()` in policy/types.ts; `host` = lower-cased host name
   *  without port ('' when unknown: then a rule with a `host` glob does not match); `path` = the
   *  request path, already percent-decoded and without query, starting with '/'. Returns the first
   *  rule (lowest `Rule.index`) whose match (any of its globs), host and methods all accept. */
  match(methodBit: number, host: string, path: string): Rule | undefined
  /** for `cachet explain` and lint: which index bucket served, and how many candidates it had */
  explain(methodBit: number, host: string, path: string): MatchExplanation
  /** counts per bucket, for a lint warning when too many rules are unindexable */
  readonly stats: MatcherStats
}

/**
 * Compiles one of a rule's globs, naming the rule when the glob is bad. compileGlob memoises by
 * text, so rules that share a glob share one Glob (it keeps no state between calls).
 */
export function compileRuleGlob(rule: Rule, glob: string, what: 'match' | 'host'): Glob {
  try {
    return compileGlob(glob, what === 'host' ? 'host' : 'path')
  } catch (err) {
    throw new Error(
      `rule "${rule.id}": ${what}: invalid glob ${JSON.stringify(glob)}: ${(err as Error).message}`,
    )
  }
}

/** Both matchers read rules in declaration order; a caller that sorted them otherwise has a bug. */
export function assertDeclarationOrder(rules: readonly Rule[]): void {
  for (let i = 1; i < rules.length; i++) {
    if (!(rules[i]!.index > rules[i - 1]!.index)) {
      throw new TypeError(
        `rules must be in ascending index order: rule "${rules[i]!.id}" (index ${rules[i]!.index}) follows index ${rules[i - 1]!.index}`,
      )
    }
  }
}
