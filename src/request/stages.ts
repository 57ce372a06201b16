/**
 * The request path's per-middleware state, built once by createMiddleware and handed to each
 * stage: the runtime, the store reader and the coalescer. Stages keep no other shared state.
 */
import type { Runtime } from '../runtime.js'
import type { Coalescer } from './coalesce.js'
import type { Lookup } from './lookup.js'

export interface Stages {
  readonly rt: Runtime
  readonly lookup: Lookup
  readonly flights: Coalescer
  /** primary keys being refreshed in the background (stale-while-revalidate) */
  readonly refreshing: Set<string>
}
