/**
 * The options of createCache: the one place they are documented (the README repeats this wording).
 */
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis'
import type { MemoryStoreOptions } from './store/memory.js'
import type { BasicStore, Store } from './store/types.js'

/**
 * Where entries live. Every object form is checked by the compiler (a misspelt key is a type
 * error) and at run time (a TypeError naming it). `string` stays open so that
 * `store: process.env.REDIS_URL` type-checks; a string that is not "memory" or a redis:// or
 * rediss:// URL is a TypeError at createCache.
 */
export type StoreOption =
  /** the embedded in-process LRU (default), bounded at 64 MiB */
  | 'memory'
  /** the embedded LRU with its own byte bound */
  | { memory: Pick<MemoryStoreOptions, 'maxBytes'> }
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` */
  | `redis://${string}`
  | `rediss://${string}`
  | string
  /** ioredis options for one server or Sentinel (`{ sentinels, name }`); fail-open settings are added */
  | { redis: RedisOptions }
  /**
   * one Redis server (options or a URL) with an in-process near cache in front, kept coherent by
   * Redis client tracking (README "Near cache"); `near: true` for its defaults (32 MiB).
   * Not with Sentinel or Cluster.
   */
  | {
      redis: RedisOptions | `redis://${string}` | `rediss://${string}` | string
      near: { maxBytes?: number } | boolean
    }
  /** Redis Cluster: seed nodes (`{ host, port }`, `"host:port"` or a port) and optional ioredis ClusterOptions */
  | { cluster: ClusterNode[]; options?: ClusterOptions }
  /** an ioredis Redis or Cluster instance you own (cachet never quits it) */
  | Redis
  | Cluster
  /** your own Store: the whole interface, or only get/set/delete/close (cachet adds the rest) */
  | Store
  | BasicStore

/** A plain logger (console will do): one message string per event. */
export interface Logger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

/**
 * A pino-compatible logger (pino, bunyan, or `logger.child({ … })` of one): recognised by its
 * `child()` method, it gets `(object, message)`, one call per event, the object
 * `{ event, cache, rule?, outcome?, … }` (README "Logs" lists the events and their fields).
 */
export interface StructuredLogger {
  child(bindings: Record<string, unknown>): unknown
  error(object: object, message?: string): void
  warn(object: object, message?: string): void
  info(object: object, message?: string): void
  debug(object: object, message?: string): void
}

export interface CreateCacheOptions {
  /** A folder (every *.yaml / *.yml in it, in name order), a file, or a list of them. @default "policies" */
  policies?: string | readonly string[]
  /** @default "memory" */
  store?: StoreOption
  /**
   * Reload when a policy file changes: fs.watch on the folder and its parent (editors' saves,
   * ConfigMap `..data` swaps, the folder replaced by rename), plus a stat poll every second where
   * events are missing; debounced. See src/policy/reload.ts. @default false
   */
  watch?: boolean
  /** The cache's name in Cache-Status, metrics and the key namespace; [a-z0-9][a-z0-9._-]*. @default "cachet" */
  name?: string
  /**
   * Longest wait for the store, per request, ms: a hit's read, and on a miss everything it waits
   * on before asking the origin (read, fleet lock, second read, tokens) together. Past it the
   * request is answered as a miss, and not stored. @default 250
   */
  readDeadlineMs?: number
  /** Longest wait at createCache for the store to connect; it keeps connecting afterwards, ms. @default 1000 */
  connectDeadlineMs?: number
  /** Quiet time after the last file event before a watched reload runs, ms. @default 100 */
  watchDebounceMs?: number
  /**
   * Where cachet logs: a plain logger (strings), or a pino-compatible one (has `child()`; gets one
   * object per event, README "Logs"). A logger without error, warn, info and debug is a TypeError.
   * A pino instance is a Logger to TypeScript too (`StructuredLogger` describes what cachet calls).
   * @default errors and warnings on stderr; info and debug under NODE_DEBUG=cachet
   */
  logger?: Logger
  /** How long concurrent misses for one key wait for the request that asks the origin, ms. @default 5000 */
  coalesceWaitMs?: number
  /** Life of the cross-instance fetch lock on a shared store (SET NX PX), ms. @default 10000 */
  lockTtlMs?: number
  /** The clock (tests). @default Date */
  clock?: { now(): number }
}

/** The names of CreateCacheOptions, for the run-time check of plain JavaScript callers (the Record makes the
 * compiler insist on every one). */
const CREATE_CACHE_OPTIONS_RECORD: Record<keyof CreateCacheOptions, true> = {
  policies: true,
  store: true,
  watch: true,
  name: true,
  readDeadlineMs: true,
  connectDeadlineMs: true,
  watchDebounceMs: true,
  logger: true,
  coalesceWaitMs: true,
  lockTtlMs: true,
  clock: true,
}
export const CREATE_CACHE_OPTIONS: readonly string[] = Object.keys(CREATE_CACHE_OPTIONS_RECORD)

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/
