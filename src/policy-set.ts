/**
 * A compiled, immutable policy set: the rules and the matcher built from them. Reload builds a
 * new one and swaps one reference; a request reads the reference once and finishes under the set
 * it started with (T66).
 */
import type { Diagnostic, Rule } from './policy/types.js'
import { compileMatcher, type Matcher } from './matcher/compile.js'

export interface PolicySet {
  /** digest of all normalised rules: equal content, equal version */
  readonly version: string
  readonly rules: readonly Rule[]
  readonly matcher: Matcher
  readonly files: readonly string[]
  readonly warnings: readonly Diagnostic[]
}

export function compilePolicySet(loaded: { rules: readonly Rule[]; files: readonly string[]; warnings: readonly Diagnostic[]; version: string }): PolicySet {
  return Object.freeze({
    version: loaded.version,
    rules: loaded.rules,
    matcher: compileMatcher(loaded.rules),
    files: loaded.files,
    warnings: loaded.warnings,
  })
}
