/**
 * The shape of `cache.stats()`: one JSON-ready snapshot of what the cache has done since it was
 * created, per rule. The console (`cache.admin()`, `GET <path>/stats`) draws from it and the
 * Prometheus text (`cache.prometheus()`) is written from the same counters, so the two always agree.
 *
 * Label cardinality is bounded: one entry per rule of the current policy set (counters are carried
 * across reloads by rule id), plus the requests no rule matched; nothing here carries request data.
 */

/** What happened to one request a rule matched: the `outcome` label of `cachet_requests_total`. */
export type Outcome =
  | 'hit'
  | 'stale' // served stale while revalidating (stale-while-revalidate)
  | 'miss'
  | 'revalidated' // a stored entry confirmed by a 304 from the origin
  | 'collapsed' // waited for another request's origin answer
  | 'stale-if-error' // served stale because the origin failed
  | 'bypass'

export interface RuleStats {
  /** the rule's id (as in explain and Cache-Status detail) */
  readonly id: string
  /** where the rule is declared */
  readonly file: string
  readonly line: number
  /** requests this rule matched, by outcome (every Outcome key present, 0 when none) */
  readonly outcomes: Readonly<Record<Outcome, number>>
  /**
   * bypasses by reason (e.g. "cookie", "authorization", "rule", "method", "store-down"); only the
   * reasons counted at least once; the values add up to `outcomes.bypass`
   */
  readonly bypass: Readonly<Record<string, number>>
  /**
   * origin answers not stored, by reason (e.g. "status", "set-cookie", "private", "too-large",
   * "content-type"); only the reasons counted at least once
   */
  readonly notStored: Readonly<Record<string, number>>
  /** answers stored */
  readonly stored: number
  /**
   * body bytes served from the cache: every answer made from a stored entry (hit, stale,
   * collapsed, revalidated, stale-if-error), except HEAD and 304 answers, which carry none
   */
  readonly bytesServed: number
  /** background refreshes (stale-while-revalidate) run for this rule; not requests, so not outcomes */
  readonly refreshes: number
}

export interface HistogramSnapshot {
  readonly count: number
  readonly sumSeconds: number
  /** cumulative counts by upper bound in seconds, ascending; the last bound is +Infinity (JSON: null) */
  readonly buckets: readonly { readonly le: number | null; readonly count: number }[]
}

export interface CacheStats {
  /** the cache's name */
  readonly name: string
  /** when the snapshot was taken, ISO 8601 */
  readonly at: string
  readonly policy: {
    readonly version: string
    readonly files: readonly string[]
    readonly rules: number
  }
  readonly rules: readonly RuleStats[]
  /** requests no rule matched (passed through without a Cache-Status) */
  readonly unmatched: number
  readonly store: {
    /** "memory" | "redis" | "cluster" | "sentinel" | "custom" */
    readonly kind: string
    /** false while the store is known to be failing (the last read failed or timed out) */
    readonly up: boolean
    /** store failures on the request path (reads, writes, token reads), timeouts excluded */
    readonly errors: number
    /** store calls past their deadline (the request's budget, or the store's own) */
    readonly timeouts: number
    /** lookups that did not ask the store because it was not connected (no round trip) */
    readonly unavailable: number
    /** store read latency (the lookup of one request) */
    readonly read: HistogramSnapshot
    /** memory store only */
    readonly entries?: number
    readonly bytes?: number
    /** the near cache in front of Redis, when there is one (README "Near cache") */
    readonly near?: {
      readonly tracking: boolean
      readonly hits: number
      readonly misses: number
      readonly bypassed: number
      readonly entries: number
      readonly bytes: number
      readonly invalidations: number
      readonly flushes: number
    }
  }
  readonly reloads: {
    /** successful reloads: applied + unchanged */
    readonly ok: number
    readonly failed: number
    /** successful reloads that installed a new version */
    readonly applied: number
    /** successful reloads whose files gave the version already in force */
    readonly unchanged: number
    /** the last failed reload's first error, until a reload succeeds */
    readonly lastError: null | {
      readonly message: string
      readonly file: string
      readonly line: number
      readonly col: number
      /** ISO 8601 */
      readonly at: string
    }
  }
  readonly purges: number
}
