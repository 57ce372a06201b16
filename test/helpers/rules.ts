/**
 * Rules and policy sets for unit tests, built by the real loader from YAML text, so a test's rule
 * can never drift from what a policy file means (a hand-written Rule object would not follow a
 * change in normalize.ts or a new field's default).
 */
import { loadPolicies } from '../../src/policy/load.js'
import type { Rule } from '../../src/policy/types.js'
import { compilePolicySet, type PolicySet } from '../../src/policy-set.js'
import { policyDir, yaml } from './policies.js'

/** A compiled set from one policy file's text (indented with the code: see yaml()). Throws on errors. */
export async function policySet(text: string): Promise<PolicySet> {
  const result = await loadPolicies(policyDir(yaml(text)))
  if (!result.ok) {
    throw new Error(`test policy is invalid:\n${result.errors.map((e) => e.message).join('\n')}`)
  }
  return compilePolicySet(result)
}

/** The loaded rules of one policy file, by id. */
export async function rulesById(text: string): Promise<Record<string, Rule>> {
  const set = await policySet(text)
  return Object.fromEntries(set.rules.map((r) => [r.id, r]))
}

/**
 * One rule: `fields` is the YAML of the rule's body (anything but id and match), one field a line,
 * e.g. `ttl: 1m` or `staleIfError: 10m\norigin: override`.
 */
export async function ruleOf(fields: string): Promise<Rule> {
  const body = yaml(fields)
    .trim()
    .split('\n')
    .map((l) => `        ${l}`)
    .join('\n')
  const set = await policySet(`
    version: 1
    rules:
      - id: r
        match: /**
${body}
  `)
  return set.rules[0]!
}
