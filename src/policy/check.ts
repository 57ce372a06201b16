/**
 * Semantic checks: what the JSON Schema cannot say. Runs on schema-valid parts only (a rule
 * with schema errors is skipped, so one mistake is not reported twice in two wordings).
 *
 * Field checks run once where the field is written (a bad `defaults.host` is one error, not
 * one per rule); checks of the merged rule (a cached rule needs a lifetime) run per rule.
 */
import { compileGlob, expandBraces } from '../matcher/glob.js'
import { parseDuration, parseSize } from './duration.js'
import { compileQueryGlob, isQueryGlob, mergeDefaults, type RawPolicyFile, type RawRuleFields } from './normalize.js'
import { posAt, type ParsedFile, type PathSegment } from './source.js'
import type { Diagnostic } from './types.js'
import { render } from './validate.js'

/** Why a glob does not compile, in one line (picomatch's messages are already specific). */
function globProblem(compile: (g: string) => RegExp, glob: string): string | undefined {
  try {
    compile(glob)
    return undefined
  } catch (err) {
    return err instanceof Error ? err.message.split('\n')[0] : String(err)
  }
}

export function checkFile(pf: ParsedFile, raw: RawPolicyFile, skipRules: ReadonlySet<number>, skipDefaults: boolean): Diagnostic[] {
  const out: Diagnostic[] = []
  const report = (code: string, path: readonly PathSegment[], ruleId: string | undefined, message: string) => {
    const p = posAt(pf, path.map(String))
    out.push({ code, severity: 'error', file: pf.file, line: p.line, col: p.col, ...(ruleId !== undefined ? { ruleId } : {}), message })
  }

  /** Checks of fields as written, in a rule or in `defaults` (`prefix` names the latter in messages). */
  const checkFields = (f: RawRuleFields, base: readonly PathSegment[], ruleId: string | undefined, prefix: string) => {
    if (f.host !== undefined) {
      const problem = globProblem(compileGlob, f.host)
      if (problem) report('GLOB_INVALID', [...base, 'host'], ruleId, `${prefix}host: invalid glob ${render(f.host)}: ${problem}`)
      else if (f.host.includes('/')) report('HOST_FORMAT', [...base, 'host'], ruleId, `${prefix}host: expected a host name glob without scheme or path, got ${render(f.host)}`)
      // Rules see the host name without the port (Koa's ctx.hostname); `[::1]` is an IPv6 literal.
      else if (/:\d*$/.test(f.host) && !f.host.startsWith('[')) report('HOST_FORMAT', [...base, 'host'], ruleId, `${prefix}host: expected a host name glob without port, got ${render(f.host)}`)
    }
    if (f.ttl !== undefined && parseDuration(f.ttl) === undefined) {
      report('DURATION_RANGE', [...base, 'ttl'], ruleId, `${prefix}ttl: duration ${render(f.ttl)} is too large`)
    }
    if (f.statuses !== undefined && !Array.isArray(f.statuses)) {
      for (const [s, d] of Object.entries(f.statuses)) {
        if (parseDuration(d) === undefined) report('DURATION_RANGE', [...base, 'statuses', s], ruleId, `${prefix}statuses.${s}: duration ${render(d)} is too large`)
      }
    }
    if (f.maxBodySize !== undefined && parseSize(f.maxBodySize) === undefined) {
      report('SIZE_RANGE', [...base, 'maxBodySize'], ruleId, `${prefix}maxBodySize: size ${render(f.maxBodySize)} is too large`)
    }
    const headers = f.key?.headers ?? []
    const seen = new Set<string>()
    headers.forEach((h, i) => {
      const lower = h.toLowerCase()
      const at = [...base, 'key', 'headers', i]
      // The Cookie header holds every cookie: keying it whole would give each session its own
      // entry and defeat the cookie rules (spec "Cookies"). key.cookies names the ones that matter.
      if (lower === 'cookie') report('KEY_COOKIE_HEADER', at, ruleId, `${prefix}key.headers[${i}]: the cookie header cannot be keyed; list the cookies that matter in key.cookies`)
      else if (seen.has(lower)) report('POLICY_SCHEMA', at, ruleId, `${prefix}key.headers[${i}]: ${render(h)} is listed twice (header names are case-insensitive)`)
      seen.add(lower)
    })
    const q = f.key?.query
    if (q !== undefined && typeof q !== 'string') {
      const list = Array.isArray(q) ? q : q.exclude
      const where = Array.isArray(q) ? 'key.query' : 'key.query.exclude'
      const qbase = Array.isArray(q) ? [...base, 'key', 'query'] : [...base, 'key', 'query', 'exclude']
      list.forEach((name, i) => {
        const problem = isQueryGlob(name) ? globProblem(compileQueryGlob, name) : undefined
        if (problem) report('GLOB_INVALID', [...qbase, i], ruleId, `${prefix}${where}[${i}]: invalid glob ${render(name)}: ${problem}`)
      })
    }
  }

  if (raw.defaults !== undefined && !skipDefaults) checkFields(raw.defaults, ['defaults'], undefined, 'defaults.')

  raw.rules.forEach((rule, i) => {
    if (skipRules.has(i)) return
    const base = ['rules', i]
    const id = rule.id
    const globs = Array.isArray(rule.match) ? rule.match : [rule.match]
    globs.forEach((glob, j) => {
      const at = Array.isArray(rule.match) ? [...base, 'match', j] : [...base, 'match']
      const field = Array.isArray(rule.match) ? `match[${j}]` : 'match'
      const problem = globProblem(compileGlob, glob)
      if (problem) {
        report('GLOB_INVALID', at, id, `${field}: invalid glob ${render(glob)}: ${problem}`)
        return
      }
      // Paths always start with "/": a glob that cannot (`products/*`) would silently match nothing.
      const bad = expandBraces(glob).find((v) => !v.startsWith('/') && !v.startsWith('*'))
      if (bad !== undefined) report('MATCH_NOT_PATH', at, id, `${field}: expected a path glob starting with "/" or "*", got ${render(glob)}`)
    })
    checkFields(rule, base, id, '')

    if (skipDefaults) return
    const merged = mergeDefaults(raw.defaults, rule)
    const cached = merged.cache !== false
    const readable = (merged.methods ?? ['GET']).some((m) => m === 'GET' || m === 'HEAD')
    const statusMap = merged.statuses !== undefined && !Array.isArray(merged.statuses)
    if (cached && readable && merged.ttl === undefined && !statusMap) {
      report('TTL_MISSING', base, id, 'missing ttl: a rule with cache: true needs a ttl (here or in defaults) or statuses as a map like { 200: 5m }; use cache: false to bypass')
    }
    if (cached && merged.origin === 'override' && merged.ttl !== undefined && parseDuration(merged.ttl) === 0 && !statusMap) {
      const at = rule.ttl !== undefined ? [...base, 'ttl'] : base
      report('TTL_ZERO', at, id, 'ttl: 0 with origin: override stores nothing; use cache: false to bypass')
    }
  })
  return out
}
