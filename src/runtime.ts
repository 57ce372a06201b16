/**
 * What the middleware, explain and purge share at run time: one object built by createCache.
 */
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
}

export function newMetrics(): Metrics {
  return { hits: 0, misses: 0, bypass: 0, method: 0, stores: 0, notStored: 0, corrupt: 0, storeErrors: 0, reloads: 0, reloadFailures: 0 }
}

export interface Runtime {
  readonly name: string
  readonly store: Store
  /** swapped whole on reload */
  readonly policies: { current: PolicySet }
  readonly metrics: Metrics
  now(): number
  /** counts and logs (rate-limited) a store failure; never throws */
  readonly onStoreError: (err: unknown) => void
}
