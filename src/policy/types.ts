/**
 * Two shapes of a policy: `RawPolicyFile` is what the YAML holds (the JSON Schema's shape),
 * `Rule` is the normalised, frozen form the request path reads. Nothing on the request path
 * ever looks at a raw file.
 */
import type { NormalizedHeader } from '../key/negotiate.js'

/** Method bits: a rule's `methods` becomes one bitmask, checked with a single `&`. */
export const METHOD_BITS: Readonly<Record<string, number>> = Object.freeze({
  GET: 1,
  HEAD: 2,
  POST: 4,
  PUT: 8,
  PATCH: 16,
  DELETE: 32,
  OPTIONS: 64,
})

/** hot path: method name → bit (0 for a method no rule can name). */
export function methodBit(method: string): number {
  switch (method) {
    case 'GET':
      return 1
    case 'HEAD':
      return 2
    case 'POST':
      return 4
    case 'PUT':
      return 8
    case 'PATCH':
      return 16
    case 'DELETE':
      return 32
    case 'OPTIONS':
      return 64
    default:
      return 0
  }
}

/** A compiled query-name glob (matcher/glob.ts compileNameGlob). */
export interface NameGlob {
  readonly source: string
  test(name: string): boolean
}

/** How the query string joins the key. Names are exact; globs are compiled once. */
export type QueryKey =
  | { readonly mode: 'all' }
  | { readonly mode: 'none' }
  | { readonly mode: 'include'; readonly names: ReadonlySet<string>; readonly globs: readonly NameGlob[] }
  | { readonly mode: 'exclude'; readonly names: ReadonlySet<string>; readonly globs: readonly NameGlob[] }

export interface RuleKey {
  readonly query: QueryKey
  /** lower-cased request header names, in declaration order */
  readonly headers: readonly string[]
  /** `null`: the rule does not mention cookies, so a request with `Cookie` bypasses;
   *  `[]`: cookies are removed and ignored; names: only those are kept and keyed */
  readonly cookies: readonly string[] | null
  /** the scheme and host join the key (default true) */
  readonly host: boolean
  /** `key.normalize`: request headers rewritten to the listed value the client prefers
   *  (key/negotiate.ts), in a fixed order; empty when none */
  readonly normalize: readonly { readonly header: NormalizedHeader; readonly values: readonly string[] }[]
  /** `key.varyUnordered`: lower-cased names of varied request headers whose list members are
   *  compared in any order (key/variant.ts); empty when none */
  readonly varyUnordered: readonly string[]
}

/** Where something sits in a policy file: offsets stay in data, line:col is computed at the edge. */
export interface SourcePos {
  readonly file: string
  readonly line: number
  readonly col: number
}

export interface Rule {
  readonly id: string
  /** global declaration order (file name order, then file order): the first match wins */
  readonly index: number
  readonly pos: SourcePos
  /** globs over the request path, as written */
  readonly match: readonly string[]
  /** glob over the host name (no port), or null for any host */
  readonly host: string | null
  /** bitmask of METHOD_BITS */
  readonly methods: number
  readonly methodList: readonly string[]
  /** false: bypass (never served from, never stored in the cache) */
  readonly cache: boolean
  /** freshness lifetime in ms; -1 when the rule gives none (a status map may give it) */
  readonly ttl: number
  readonly origin: 'respect' | 'override'
  /** cacheable status → lifetime in ms (-1: the rule's `ttl`) */
  readonly statuses: ReadonlyMap<number, number>
  readonly key: RuleKey
  /** tag templates, as written (`product:{path.2}`); empty when none. Placeholders are only
   *  `{path.N}` (N >= 1) and `{query.NAME}` with NAME keyed by `key.query` (check.ts) */
  readonly tags: readonly string[]
  /** also tag entries with the tokens of the response's Surrogate-Key (space-separated) and
   *  Cache-Tag (comma-separated) headers. @default false */
  readonly tagsFromResponse: boolean
  /** `invalidate.tags` templates, purged after a 2xx/3xx answer to an unsafe method; empty when none */
  readonly invalidateTags: readonly string[]
  /** RFC 5861 §3 window after expiry, in ms; 0 when off */
  readonly staleWhileRevalidate: number
  /** RFC 5861 §4 window after expiry, in ms; 0 when off */
  readonly staleIfError: number
  /** statuses the rule does not list are stored when the response states its lifetime (`otherStatuses: explicit`) */
  readonly otherStatuses: boolean
  /** RFC 9111 §4.2.2 heuristic: the share (0-1) of Date − Last-Modified; 0 when off */
  readonly heuristic: number
  /** ms, the longest heuristic lifetime */
  readonly heuristicMax: number
  /** `rangeMiss: fetch`: a Range request that misses asks the origin for the whole representation, stores it and answers the range from it */
  readonly rangeMiss: boolean
  /** distinct Vary variants stored per URL, per process (request/limits.ts) */
  readonly maxVariants: number
  /** new entries the rule stores per minute, per process; 0: no bound */
  readonly maxEntriesPerMinute: number
  /** RFC 9111 §4.2.4 window after expiry when the origin cannot be reached, in ms; 0 when off */
  readonly staleIfUnreachable: number
  /** bytes */
  readonly maxBodySize: number
  /** RFC 9213 targeted cache-control fields obeyed before Cache-Control, lower case, in order of preference */
  readonly targeted: readonly string[]
  /** lower-cased media types (`text/html`) and ranges (`image/*`) this rule may store, on top of
   *  the deception guard; null: any the guard allows */
  readonly contentTypes: readonly string[] | null
  /** short digest of everything above that changes what is stored: joins the key, so a reload
   *  that changes a rule never serves entries stored under its old meaning */
  readonly version: string
}

export type Severity = 'error' | 'warning'

/** One finding about a policy file. Collected, never thrown one by one. */
export interface Diagnostic {
  /** stable SCREAMING_SNAKE code: POLICY_SCHEMA, DURATION_FORMAT, DUPLICATE_ID, RULE_SHADOWED, … */
  readonly code: string
  readonly severity: Severity
  readonly file: string
  /** 1-based; 0 when the finding is about a whole file that could not be read */
  readonly line: number
  readonly col: number
  readonly ruleId?: string
  /** says what was expected and what was found */
  readonly message: string
}

/** The result of loading a folder or file of policies. */
export type LoadResult =
  | {
      readonly ok: true
      readonly rules: readonly Rule[]
      readonly files: readonly string[]
      readonly warnings: readonly Diagnostic[]
      readonly version: string
    }
  | { readonly ok: false; readonly errors: readonly Diagnostic[]; readonly warnings: readonly Diagnostic[] }
