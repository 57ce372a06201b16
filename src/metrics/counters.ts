/**
 * The counters behind `cache.stats()` and `cache.prometheus()`: one RuleCounters per rule, plain
 * number fields and typed arrays indexed by constants, so that counting a request is a few
 * increments and never an allocation. A PolicySet holds them by rule.index; a reload hands a
 * rule's counters to the new set when the rule keeps its id (policy-set.ts), so its counts survive.
 *
 * Every request a rule matched gets exactly one outcome (stats.ts `Outcome`), counted where the
 * request's path ends: a hit where it is served, a miss once the origin answered. The reason sets
 * are fixed lists: an unknown reason counts as "other", so no label value ever comes from a request.
 */
import type { Outcome } from './stats.js'

/** The outcomes, in the order of RuleCounters.outcomes. */
export const OUTCOMES: readonly Outcome[] = Object.freeze([
  'hit',
  'stale',
  'miss',
  'revalidated',
  'collapsed',
  'stale-if-error',
  'bypass',
])
// slots in RuleCounters.outcomes, read off the list so the two cannot disagree
export const HIT = OUTCOMES.indexOf('hit')
export const STALE = OUTCOMES.indexOf('stale')
export const MISS = OUTCOMES.indexOf('miss')
export const REVALIDATED = OUTCOMES.indexOf('revalidated')
export const COLLAPSED = OUTCOMES.indexOf('collapsed')
export const STALE_IF_ERROR = OUTCOMES.indexOf('stale-if-error')
export const BYPASS = OUTCOMES.indexOf('bypass')

/**
 * Why a request a rule matched was not looked up: decide.ts' `detail` (rule, path, body,
 * authorization, cookie), an unsafe method, or a store that could not be read (the request then
 * went to the origin as on a miss: Cache-Status `detail=store-unavailable`).
 */
export const BYPASS_REASONS: readonly string[] = Object.freeze([
  'rule',
  'path',
  'body',
  'authorization',
  'cookie',
  'method',
  'store-down',
  'other',
])
export const BYPASS_METHOD = BYPASS_REASONS.indexOf('method')
export const BYPASS_STORE_DOWN = BYPASS_REASONS.indexOf('store-down')

/**
 * Why an origin answer to a lookup was not stored: the storage verdict (http/freshness.ts:
 * status … no-lifetime), the deception guard (content-type), the rule's maxBodySize (too-large),
 * a stream cut short (incomplete), a body Koa cannot replay (body-type), a response the
 * application wrote itself (direct), a tag purged while it was fetched (purged), an error answer
 * never stored over a stale entry (error), and tokens that could not be read (store-down).
 */
export const NOT_STORED_REASONS: readonly string[] = Object.freeze([
  'status',
  'set-cookie',
  'no-store',
  'private',
  'no-cache',
  'vary-star',
  'authorization',
  'expired',
  'no-lifetime',
  'content-type',
  'too-large',
  'incomplete',
  'body-type',
  'direct',
  'purged',
  'error',
  'store-down',
  'variant-cap',
  'entry-rate',
  'other',
])

const bypassIndex = indexOf(BYPASS_REASONS)
const notStoredIndex = indexOf(NOT_STORED_REASONS)

function indexOf(list: readonly string[]): Map<string, number> {
  return new Map(list.map((r, i) => [r, i]))
}

/** The bypass reason's slot (decide.ts' detail strings, and ours); "other" for anything else. */
export function bypassReason(reason: string): number {
  return bypassIndex.get(reason) ?? BYPASS_REASONS.length - 1
}

/** The not-stored reason's slot; "other" for anything else. */
export function notStoredReason(reason: string): number {
  return notStoredIndex.get(reason) ?? NOT_STORED_REASONS.length - 1
}

interface Tables {
  readonly outcomes: Float64Array
  readonly bypass: Float64Array
  readonly notStored: Float64Array
}

/** the three tables as views of one buffer: one backing store per rule, not three */
function tables(): Tables {
  const all = new Float64Array(OUTCOMES.length + BYPASS_REASONS.length + NOT_STORED_REASONS.length)
  return {
    outcomes: all.subarray(0, OUTCOMES.length),
    bypass: all.subarray(OUTCOMES.length, OUTCOMES.length + BYPASS_REASONS.length),
    notStored: all.subarray(OUTCOMES.length + BYPASS_REASONS.length),
  }
}

/** what an untouched rule's tables read: never written (only `read()` hands it out) */
const ZERO = tables()

/**
 * One rule's counts since the cache was created (or since the rule's id first appeared).
 *
 * The tables are made when the rule first counts something: a load of 100k rules makes 100k of
 * these, and four typed arrays each were a third of a second of it and ~0.5 KB a rule kept
 * alive, for rules most of which never see a request (issue 12 item 8).
 */
export class RuleCounters {
  #tables: Tables | undefined
  /** by outcome: HIT … BYPASS */
  get outcomes(): Float64Array {
    return (this.#tables ??= tables()).outcomes
  }
  /** by BYPASS_REASONS; their sum is outcomes[BYPASS] */
  get bypass(): Float64Array {
    return (this.#tables ??= tables()).bypass
  }
  /** by NOT_STORED_REASONS */
  get notStored(): Float64Array {
    return (this.#tables ??= tables()).notStored
  }
  /** the tables to read, without making them: all zero when the rule never counted */
  read(): Tables {
    return this.#tables ?? ZERO
  }
  /** answers written to the store */
  stored = 0
  /** body bytes answered from stored entries */
  bytesServed = 0
  /** background refreshes run (stale-while-revalidate): not requests, so not outcomes */
  refreshes = 0
}

/**
 * Store read latency buckets, seconds: from a memory hit (microseconds) to the default read
 * deadline (250 ms) and past it.
 */
export const READ_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
])

/** A fixed-bucket histogram: observe() is a short scan and two additions. */
export class Histogram {
  readonly bounds: readonly number[]
  /** per bucket (not cumulative); the last one is +Inf */
  readonly counts: Float64Array
  count = 0
  sum = 0

  constructor(bounds: readonly number[]) {
    this.bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  // hot path: once per store read
  observe(seconds: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && seconds > b[i]!) i++
    this.counts[i]!++
    this.count++
    this.sum += seconds
  }
}

/** What the whole cache counts besides its rules. */
export class CacheCounters {
  /** requests no rule matched */
  unmatched = 0
  /** store reads that failed (timeouts excluded) and other store errors on the request path */
  storeErrors = 0
  /** store calls past their deadline */
  storeTimeouts = 0
  /** lookups that skipped the store because it was not connected (no round trip) */
  storeUnavailable = 0
  /** the last store read failed or timed out (cleared by the next one that succeeds) */
  readFailing = false
  readonly read = new Histogram(READ_BUCKETS)
  /** successful reloads that installed a new version */
  reloadsApplied = 0
  /** successful reloads whose files gave the version already in force */
  reloadsUnchanged = 0
  reloadsFailed = 0
  lastReloadError: {
    message: string
    file: string
    line: number
    col: number
    at: string
  } | null = null
  purges = 0
}
