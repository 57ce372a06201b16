/**
 * Test-only Rule builder: fills every Rule field with a default so matcher tests do not depend on
 * the policy loader. Only `match`, `host`, `methods` and the order matter to a matcher.
 */
import { METHOD_BITS, type Rule } from '../../src/policy/types.js'

export interface RuleSpec {
  id?: string
  match: string | readonly string[]
  host?: string | null
  /** method names; default GET, HEAD (the spec's default) */
  methods?: readonly string[]
}

/** The fields a matcher never reads get fixed defaults. The cast (not `satisfies`) keeps this file
 *  compiling when the shared Rule type grows a field the matcher does not care about. */
export function makeRule(spec: RuleSpec, index: number): Rule {
  const methodList = spec.methods ?? ['GET', 'HEAD']
  let methods = 0
  for (const m of methodList) methods |= METHOD_BITS[m] ?? 0
  return Object.freeze({
    id: spec.id ?? `r${index}`,
    index,
    pos: { file: 'test.yaml', line: index + 1, col: 5 },
    match: typeof spec.match === 'string' ? [spec.match] : [...spec.match],
    host: spec.host ?? null,
    methods,
    methodList,
    cache: true,
    ttl: 60_000,
    origin: 'respect',
    statuses: new Map([[200, -1]]),
    key: { query: { mode: 'all' }, headers: [], cookies: null, host: true, normalize: [] },
    tags: [],
    tagsFromResponse: false,
    invalidateTags: [],
    staleWhileRevalidate: 0,
    staleIfError: 0,
    staleIfUnreachable: 0,
    otherStatuses: false,
    maxVariants: 64,
    rangeMiss: false,
    maxEntriesPerMinute: 0,
    heuristic: 0,
    heuristicMax: 86_400_000,
    maxBodySize: 1024 * 1024,
    targeted: [],
    contentTypes: null,
    version: `v${index}`,
  }) as Rule
}

/** Rules in declaration order, index = position (or `start + position`). */
export function makeRules(specs: readonly RuleSpec[], start = 0): Rule[] {
  return specs.map((s, i) => makeRule(s, start + i))
}
