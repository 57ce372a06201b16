/**
 * cachet: declarative HTTP cache policies for Koa.
 * @module
 */
export { createCache } from './create-cache.js'
export type { Cache, ReloadResult } from './create-cache.js'
export type { CreateCacheOptions, StoreOption, Logger } from './options.js'
export type { Store } from './store/types.js'
export type { Explanation, ExplainRequest } from './request/explain.js'
export type { Diagnostic, Rule } from './policy/types.js'
export type { Metrics } from './runtime.js'
export type { PurgeRequest, PurgeResult } from './generation/purge.js'
export type { AdminOptions } from './generation/admin.js'
export { CachetError, PolicyError, StoreTimeoutError } from './errors.js'
export { loadPolicies } from './policy/load.js'
export { formatDiagnostics } from './policy/diagnostic.js'
