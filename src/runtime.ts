/**
 * What the middleware, explain and purge share at run time: one object built by createCache.
 */

import type { SharedGens } from './generation/shared.js'
import type { Log } from './log.js'
import type { CacheCounters } from './metrics/counters.js'
import type { PolicySet } from './policy-set.js'
import type { Store } from './store/types.js'

/** Counters; plain numbers, incremented on the request path (no allocation). */
export interface Metrics {
  hits: number
  misses: number
  bypass: number
  method: number
  stores: number
  notStored: number
  corrupt: number
  storeErrors: number
  reloads: number
  reloadFailures: number
  staleServed: number
  staleIfError: number
  revalidated: number
  refreshes: number
  collapsed: number
  purgedSeen: number
  invalidations: number
  purges: number
}

export function newMetrics(): Metrics {
  return {
    hits: 0,
    misses: 0,
    bypass: 0,
    method: 0,
    stores: 0,
    notStored: 0,
    corrupt: 0,
    storeErrors: 0,
    reloads: 0,
    reloadFailures: 0,
    staleServed: 0,
    staleIfError: 0,
    revalidated: 0,
    refreshes: 0,
    collapsed: 0,
    purgedSeen: 0,
    invalidations: 0,
    purges: 0,
  }
}

export interface Runtime {
  readonly name: string
  readonly store: Store
  /** swapped whole on reload */
  readonly policies: { current: PolicySet }
  readonly metrics: Metrics
  /** what cache.stats() reports besides the rules' own counters (those live in the PolicySet) */
  readonly counters: CacheCounters
  now(): number
  /** counts and logs (rate-limited) a store failure; never throws */
  readonly onStoreError: (err: unknown) => void
  readonly log: Log
  /** all the store work one request waits on shares this deadline, ms (request/budget.ts) */
  readonly readDeadlineMs: number
  /** how long a coalesced request waits for the one that asks the origin, ms */
  readonly coalesceWaitMs: number
  /** life of the cross-instance fetch lock, ms */
  readonly lockTtlMs: number
  /** namespace and rule tokens held locally (shared stores only; undefined for the memory store) */
  readonly sharedGens: SharedGens | undefined
}
