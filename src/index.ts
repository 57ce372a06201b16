/**
 * cachet: declarative HTTP cache policies for Koa.
 * @module
 */

export type { AdminOptions } from './admin/options.js'
export type { Cache, CacheEvents, ReloadEvent, ReloadResult } from './create-cache.js'
export { createCache } from './create-cache.js'
export { CachetError, PolicyError, StoreTimeoutError } from './errors.js'
export type { PurgeRequest, PurgeResult } from './generation/purge.js'
export type { PromRegistry } from './metrics/prom-client.js'
export type { CacheStats, HistogramSnapshot, Outcome, RuleStats } from './metrics/stats.js'
export type { PurgeMessage, RequestMessage, StoreMessage } from './metrics/trace.js'
export type { CreateCacheOptions, Logger, LogLevel, StoreOption, StructuredLogger } from './options.js'
export { formatDiagnostics } from './policy/diagnostic.js'
export { loadPolicies } from './policy/load.js'
export type { Diagnostic, Rule } from './policy/types.js'
export type { ExplainRequest, ExplainResponse, Explanation, StorageExplanation } from './request/explain.js'
export type { Metrics } from './runtime.js'
export type { MemoryStoreOptions } from './store/memory.js'
export type { BasicStore, Store } from './store/types.js'
