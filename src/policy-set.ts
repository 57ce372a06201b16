/**
 * A compiled, immutable policy set: the rules, the matcher built from them and each rule's tag
 * templates. Reload builds a new one and swaps one reference; a request reads the reference once
 * and finishes under the set it started with (T66).
 */

import { compileMatcher, compileMatcherAsync, type Matcher } from './matcher/compile.js'
import { RuleCounters } from './metrics/counters.js'
import { compileTag, type TagTemplate } from './policy/tag-template.js'
import type { Diagnostic, Rule } from './policy/types.js'
import { runSteps, runStepsAsync, STEP_MASK } from './steps.js'

export interface PolicySet {
  /** digest of all normalised rules: equal content, equal version */
  readonly version: string
  readonly rules: readonly Rule[]
  readonly matcher: Matcher
  readonly files: readonly string[]
  readonly warnings: readonly Diagnostic[]
  /** by rule.index: the rule's `tags` templates, compiled */
  readonly tags: readonly (readonly TagTemplate[])[]
  /** by rule.index: the rule's `invalidate.tags` templates, compiled */
  readonly invalidate: readonly (readonly TagTemplate[])[]
  /**
   * by rule.index: the rule's counters (metrics/counters.ts). A rule whose id was in the set this
   * one replaces keeps that set's counters object, so its counts survive the reload.
   */
  readonly counters: readonly RuleCounters[]
  /** decide.ts' memo (key material → key, generations, tags); dropped with the set on reload */
  readonly memo: Map<
    string,
    {
      readonly key: string
      readonly gens: readonly string[]
      readonly urlAndTagGens: readonly string[]
      readonly tags: readonly string[]
    }
  >
}

interface Loaded {
  rules: readonly Rule[]
  files: readonly string[]
  warnings: readonly Diagnostic[]
  version: string
}

export function compilePolicySet(loaded: Loaded): PolicySet {
  return runSteps(assemble(loaded, compileMatcher(loaded.rules), undefined))
}

/**
 * compilePolicySet, letting the event loop run every few hundred rules (reloads use this).
 * `previous`: the set it replaces, whose rules' counters are carried over by id.
 */
export async function buildPolicySet(loaded: Loaded, previous?: PolicySet): Promise<PolicySet> {
  return runStepsAsync(assemble(loaded, await compileMatcherAsync(loaded.rules), previous))
}

/** The set around its matcher: tag templates and counters per rule, pausing every STEP_RULES rules. */
function* assemble(
  loaded: Loaded,
  matcher: Matcher,
  previous: PolicySet | undefined,
): Generator<void, PolicySet> {
  const tags: TagTemplate[][] = []
  const invalidate: TagTemplate[][] = []
  const counters: RuleCounters[] = []
  const kept = new Map<string, RuleCounters>()
  if (previous !== undefined)
    for (const r of previous.rules) {
      kept.set(r.id, previous.counters[r.index]!)
      if ((r.index & STEP_MASK) === STEP_MASK) yield
    }
  for (const r of loaded.rules) {
    tags[r.index] = r.tags.map(compileTag)
    invalidate[r.index] = r.invalidateTags.map(compileTag)
    counters[r.index] = kept.get(r.id) ?? new RuleCounters()
    if ((r.index & STEP_MASK) === STEP_MASK) yield
  }
  return Object.freeze({
    version: loaded.version,
    rules: loaded.rules,
    matcher,
    files: loaded.files,
    warnings: loaded.warnings,
    tags,
    invalidate,
    counters,
    memo: new Map(),
  })
}
