/**
 * Test-only Rule builder: fills every Rule field with a default so matcher tests do not depend on
 * the policy loader. Only `match`, `host`, `methods` and the order matter to a matcher.
 */
import { normalizeRule, type RawRule } from '../../src/policy/normalize.js'
import type { Rule } from '../../src/policy/types.js'

export interface RuleSpec {
  id?: string
  match: string | readonly string[]
  host?: string | null
  /** method names; default GET, HEAD (the spec's default) */
  methods?: readonly string[]
}

/** Every field a matcher never reads at the loader's own defaults: the rule is built by
 *  normalizeRule itself, so it can never fall behind the Rule type. */
export function makeRule(spec: RuleSpec, index: number, file = 'test.yaml'): Rule {
  return normalizeRule(
    {
      id: spec.id ?? `r${index}`,
      match: typeof spec.match === 'string' ? spec.match : [...spec.match],
      ...(spec.host !== undefined && spec.host !== null ? { host: spec.host } : {}),
      methods: [...(spec.methods ?? ['GET', 'HEAD'])] as RawRule['methods'],
      ttl: '1m',
    },
    index,
    { file, line: index + 1, col: 5 },
  )
}

/** Rules in declaration order, index = position (or `start + position`). */
export function makeRules(specs: readonly RuleSpec[], start = 0): Rule[] {
  return specs.map((s, i) => makeRule(s, start + i))
}
