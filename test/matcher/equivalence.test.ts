/**
 * The proof that the index only prunes: on thousands of random, overlapping rule sets and random
 * requests, compileMatcher(rules).match must return the very Rule linearMatcher(rules).match does.
 * Reproduce a failure with CACHET_MATCHER_SEED=<seed printed in the message>.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileMatcher } from '../../src/matcher/compile.js'
import { linearMatcher } from '../../src/matcher/linear.js'
import type { Matcher } from '../../src/matcher/matcher.js'
import type { Rule } from '../../src/policy/types.js'
import { Gen, HOSTS, METHOD_BITS_SAMPLE, randomPath, randomRules } from './random.js'
import { makeRules } from './rules.js'

const SEED = Number(process.env.CACHET_MATCHER_SEED ?? 20240611)
const SETS = 3000
const REQUESTS_PER_SET = 80

type Compile = (rules: readonly Rule[]) => Matcher

interface Outcome {
  checked: number
  hits: number
  /** hits per bucket of the indexed matcher's explain() */
  buckets: Record<string, number>
  mismatch: string | null
}

/** Runs `sets` random rule sets through both matchers; stops at the first disagreement. */
function compare(candidate: Compile, oracle: Compile, seed: number, sets: number): Outcome {
  const out: Outcome = { checked: 0, hits: 0, buckets: {}, mismatch: null }
  for (let s = 0; s < sets; s++) {
    const g = new Gen(seed + s)
    const rules = makeRules(randomRules(g, 1 + g.int(14)))
    let a: Matcher, b: Matcher
    try {
      a = candidate(rules)
      b = oracle(rules)
    } catch (err) {
      // a glob picomatch rejects must be rejected by both, with the same message
      let same = false
      try {
        oracle(rules)
      } catch (e2) {
        same = (e2 as Error).message === (err as Error).message
      }
      if (!same) {
        out.mismatch = `seed ${seed + s}: only one matcher threw: ${(err as Error).message}`
        return out
      }
      continue
    }
    const globs = rules.flatMap((r) => r.match)
    for (let q = 0; q < REQUESTS_PER_SET; q++) {
      const path = randomPath(g, globs)
      const host = g.pick(HOSTS)
      const bit = g.pick(METHOD_BITS_SAMPLE)
      const got = a.match(bit, host, path)
      const want = b.match(bit, host, path)
      out.checked++
      if (got !== want) {
        const rs = rules
          .map(
            (r) =>
              `  ${r.id}: match=${JSON.stringify(r.match)} host=${JSON.stringify(r.host)} methods=${r.methods}`,
          )
          .join('\n')
        out.mismatch = `seed ${seed + s}: ${bit} ${JSON.stringify(host)} ${JSON.stringify(path)}: got ${got?.id}, want ${want?.id}\n${rs}`
        return out
      }
      if (got !== undefined) {
        out.hits++
        const bucket = a.explain(bit, host, path).bucket
        out.buckets[bucket] = (out.buckets[bucket] ?? 0) + 1
      }
    }
  }
  return out
}

const s = suite('matcher equivalence')

s(`compileMatcher agrees with linearMatcher on ${SETS} random rule sets (seed ${SEED})`, () => {
  const o = compare(compileMatcher, linearMatcher, SEED, SETS)
  assert.is(o.mismatch, null)
  if (process.env.CACHET_MATCHER_VERBOSE) console.log(o)
  assert.ok(o.checked >= SETS * REQUESTS_PER_SET * 0.9, `checked ${o.checked}`)
  // the generator must exercise every bucket and hit often enough for the comparison to mean something
  assert.ok(o.hits > o.checked / 8, `hits ${o.hits} of ${o.checked}`)
  for (const b of ['exact', 'segment', 'ext', 'residual'])
    assert.ok((o.buckets[b] ?? 0) > 500, `bucket ${b}: ${JSON.stringify(o.buckets)}`)
})

s('explain() names the same rule as match() on random sets', () => {
  for (let k = 0; k < 200; k++) {
    const g = new Gen(SEED * 7 + k)
    const rules = makeRules(randomRules(g, 1 + g.int(14)))
    let m: Matcher
    try {
      m = compileMatcher(rules)
    } catch {
      continue
    }
    const globs = rules.flatMap((r) => r.match)
    for (let q = 0; q < 40; q++) {
      const path = randomPath(g, globs),
        host = g.pick(HOSTS),
        bit = g.pick(METHOD_BITS_SAMPLE)
      assert.is(m.explain(bit, host, path).rule, m.match(bit, host, path))
    }
  }
})

s('one large set: 3,000 random rules, 20,000 requests', () => {
  const g = new Gen(SEED + 1_000_003)
  const specs = randomRules(g, 3000).filter((spec) => {
    try {
      compileMatcher(makeRules([spec]))
      return true
    } catch {
      return false
    }
  })
  const rules = makeRules(specs)
  const a = compileMatcher(rules),
    b = linearMatcher(rules)
  const globs = rules.flatMap((r) => r.match)
  let hits = 0
  for (let q = 0; q < 20_000; q++) {
    const path = randomPath(g, globs),
      host = g.pick(HOSTS),
      bit = g.pick(METHOD_BITS_SAMPLE)
    const got = a.match(bit, host, path)
    assert.is(got, b.match(bit, host, path), `${bit} ${host} ${path}`)
    if (got !== undefined) hits++
  }
  assert.ok(hits > 5000, `hits ${hits}`)
})

s('the harness catches a matcher that is not first-match (it can fail)', () => {
  // last match wins: same Rule objects, wrong order
  const lastMatch: Compile = (rules) => {
    const lin = rules.map((r) => linearMatcher([r]))
    return {
      ...linearMatcher(rules),
      match: (m: number, h: string, p: string) => {
        for (let i = lin.length - 1; i >= 0; i--) {
          const r = lin[i]!.match(m, h, p)
          if (r !== undefined) return r
        }
        return undefined
      },
    }
  }
  assert.ok(compare(lastMatch, linearMatcher, SEED, 300).mismatch !== null)
})

s('the harness catches an index that drops a trailing slash (it can fail)', () => {
  const slashBlind: Compile = (rules) => {
    const lin = linearMatcher(rules)
    return {
      ...lin,
      match: (m: number, h: string, p: string) =>
        lin.match(m, h, p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p),
    }
  }
  assert.ok(compare(slashBlind, linearMatcher, SEED, 300).mismatch !== null)
})

s.run()
