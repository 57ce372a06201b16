/**
 * Issue 12, items 2-4: hostile and broken globs.
 * - 2: braces were expanded before the 64-variant cap was checked: 22 groups took 70 s and
 *   2.7 GB to validate (and were accepted), 25 aborted the process out of heap, also through
 *   `watch`. Now the count comes from the parse tree and the glob is refused at file:line:col.
 * - 3: `/!(a*a*a*a*b)` on a 352-character path blocked the event loop 3.7 s, `/**` then `//**`
 *   ×26 over 4 s on 80 characters. The engine is linear (src/matcher/glob.ts); these finish.
 *   No timing is asserted (bench/matcher.ts measures): a regression shows as the file's budget.
 * - 4: `key: { query: ["q[*"] }` with `tags` threw picomatch's SyntaxError out of loadPolicies,
 *   without file:line:col. Query-name globs are now a language with no invalid input.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../../src/create-cache.js'
import { PolicyError } from '../../src/errors.js'
import { loadPolicies } from '../../src/policy/load.js'
import { eventually } from '../helpers/http.js'
import { cs, siteTracker } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'

const s = suite('regression: hostile and broken globs (issue 12.2-4)')
const sites = siteTracker()
s.after.each(() => sites.closeAll())

const bombPolicy = (groups: number) =>
  yaml(`
  version: 1
  rules:
    - id: ok
      match: /ok/**
      ttl: 1m
    - id: bomb
      match: "/${'{a,b}'.repeat(groups)}"
      ttl: 1m
`)

s('a brace bomb is refused at file:line:col, for 22 and 25 groups', async () => {
  for (const groups of [22, 25]) {
    const dir = policyDir(bombPolicy(groups))
    const r = await loadPolicies(dir)
    if (r.ok) return assert.unreachable(`${groups} groups must be refused`)
    const errors = r.errors
    assert.is(errors.length, 1)
    const [d] = errors
    assert.is(d!.code, 'GLOB_INVALID')
    assert.is(d!.ruleId, 'bomb')
    assert.is(d!.file, join(dir, 'policy.yaml'))
    assert.equal([d!.line, d!.col], [7, 12])
    assert.match(d!.message, new RegExp(`expand to ${2 ** groups} variants, more than 64`))
    await createCache({ policies: dir }).then(
      () => assert.unreachable('createCache must reject'),
      (err: unknown) => {
        assert.ok(err instanceof PolicyError)
        assert.match((err as Error).message, /policy\.yaml:7:12: error: rule "bomb": match: invalid glob/)
      },
    )
  }
})

s('a brace bomb written while watching never takes effect, and requests keep being served', async () => {
  const dir = policyDir(bombPolicy(1))
  const site = await sites.start({ policies: dir, watch: true, watchDebounceMs: 20 })
  const errors: unknown[] = []
  site.cache.on('error', (e: unknown) => {
    errors.push(e)
  })
  assert.is(cs(await site.get('/ok/1')), 'cachet; fwd=uri-miss; stored')
  writeFileSync(join(dir, 'policy.yaml'), bombPolicy(25))
  await eventually(() => errors.length > 0, 'the reload reports the bomb')
  assert.ok(errors[0] instanceof PolicyError)
  assert.match((errors[0] as Error).message, /33554432 variants/)
  const res = await site.get('/ok/1')
  assert.is(res.status, 200)
  assert.match(cs(res)!, /^cachet; hit; ttl=\d+$/)
  assert.is(site.origin.calls('/ok/1'), 1)
})

const HOSTILE = yaml(`
  version: 1
  rules:
    - id: negated
      match: "/n/!(a*a*a*a*b)"
      ttl: 1m
    - id: stars
      match: "/s/**${'//**'.repeat(26)}"
      ttl: 1m
    - id: rest
      match: /**
      cache: false
`)

s('globs that made micromatch backtrack are accepted and answer on long paths', async () => {
  const r = await loadPolicies(policyDir(HOSTILE))
  assert.ok(r.ok, JSON.stringify(r))
  const site = await sites.start({ policies: policyDir(HOSTILE) })
  // 352 characters of `a` after /n/: not `a*a*a*a*b`, so the negation holds
  const long = `/n/${'a'.repeat(349)}`
  assert.is(long.length, 352)
  assert.is(cs(await site.get(long)), 'cachet; fwd=uri-miss; stored')
  // ...ending in `b`, it is `a*a*a*a*b`: the negation fails and the catch-all bypasses
  assert.is(cs(await site.get(`/n/${'a'.repeat(348)}b`)), 'cachet; fwd=bypass; detail=rule')
  // 2,000 characters: by micromatch's RegExp some 10^11 steps (hours), so this line is what fails
  // the file's time budget on the old engine
  assert.is(cs(await site.get(`/n/${'a'.repeat(1997)}`)), 'cachet; fwd=uri-miss; stored')
  // 80 characters with no empty segment: `//**` needs 26 of them, so `stars` cannot match
  const eighty = `/s/${'ab/'.repeat(25)}xy`
  assert.is(eighty.length, 80)
  assert.is(cs(await site.get(eighty)), 'cachet; fwd=bypass; detail=rule')
  const m = site.cache.explain({ url: eighty })
  assert.is(m.rule, 'rest')
  assert.is(site.origin.calls(long), 1)
})

s('a query glob with "[" and tags loads; the parameter it names is keyed', async () => {
  const dir = policyDir(
    yaml(`
    version: 1
    rules:
      - id: search
        match: /search
        ttl: 1m
        tags: ["search:{query.q}"]
        key:
          query: [q, "q[*"]
  `),
  )
  const r = await loadPolicies(dir)
  assert.ok(r.ok, JSON.stringify(r))
  const site = await sites.start({ policies: dir })
  const a = site.key('/search?q[x]=1&other=2')
  const b = site.key('/search?q[x]=1&other=3')
  const c = site.key('/search?q[x]=2')
  assert.is(a, b, 'unlisted parameters do not join the key')
  assert.is.not(a, c, '"q[*" keys q[x]')
})

s.run()
