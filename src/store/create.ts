/**
 * Turns createCache's `store` option (api.md "Library") into a Store. Forms:
 * - `undefined` | `"memory"`                 → MemoryStore (64 MiB)
 * - `{ memory: { maxBytes?: number } }`      → MemoryStore with that bound (our extra form)
 * - `"redis://…"` | `"rediss://…"`           → a Redis client we build with the fail-open settings
 * - `{ redis: <ioredis options> }`           → same, your options laid over ours
 * - `{ cluster: [<nodes>], options? }`       → an ioredis Cluster, same treatment
 * - an ioredis `Redis` or `Cluster` instance → used as is, not owned (your `quit()`), reads still
 *                                              get our deadline
 * - an object with get/set/delete/close      → your own Store, used as is
 * `owned` tells the caller whether `close()` of the cache should close the store.
 */
import type { RedisOptions, ClusterOptions, ClusterNode, Redis, Cluster } from 'ioredis'
import { MemoryStore, type MemoryStoreOptions } from './memory.js'
import { RedisStore, isRedisClient, type StoreLog } from './redis.js'
import type { Store } from './types.js'

export type StoreSpec =
  | undefined
  | 'memory'
  | `redis://${string}`
  | `rediss://${string}`
  | { memory: MemoryStoreOptions }
  | { redis: RedisOptions }
  | { cluster: ClusterNode[]; options?: ClusterOptions }
  | Redis
  | Cluster
  | Store

export interface CreateStoreOptions {
  /** the cache's name: connection name in `CLIENT LIST`, log prefix */
  name: string
  log?: StoreLog
  /** read deadline for Redis stores. @default 250 */
  readDeadlineMs?: number
  /** time source of the memory store (tests) */
  clock?: { now(): number }
}

export interface CreatedStore {
  store: Store
  /** true when we built it: closing the cache closes it */
  owned: boolean
}

const warned = new Set<string>()

function warnOnce(code: string, msg: string): void {
  if (warned.has(code)) return
  warned.add(code)
  process.emitWarning(msg, 'CachetWarning', code)
}

function isStore(x: object): x is Store {
  const s = x as Record<string, unknown>
  return typeof s.get === 'function' && typeof s.set === 'function' &&
    typeof s.delete === 'function' && typeof s.close === 'function'
}

const SPEC_HELP = 'store option must be "memory", a redis:// or rediss:// URL, { redis: options }, ' +
  '{ cluster: nodes, options? }, { memory: { maxBytes } }, an ioredis Redis or Cluster instance, ' +
  'or an object implementing Store (get, set, delete, close)'

export function createStore(spec: unknown, opts: CreateStoreOptions): CreatedStore {
  const redisOpts = { name: opts.name, log: opts.log, readDeadlineMs: opts.readDeadlineMs }
  if (spec === undefined || spec === 'memory') {
    return { store: new MemoryStore(opts.clock ? { clock: opts.clock } : {}), owned: true }
  }
  if (typeof spec === 'string') {
    if (/^rediss?:\/\//i.test(spec)) return { store: RedisStore.fromUrl(spec, redisOpts), owned: true }
    throw new TypeError(`${SPEC_HELP}, got the string ${JSON.stringify(spec)}`)
  }
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`${SPEC_HELP}, got ${String(spec)}`)

  // An ioredis client first: it also has get/set, so the Store duck-type would accept it.
  if (isRedisClient(spec)) {
    const c = spec as unknown as { options?: { enableOfflineQueue?: boolean } }
    if (c.options?.enableOfflineQueue !== false) {
      warnOnce('CACHET_REDIS_OFFLINE_QUEUE', 'the ioredis client given as store has enableOfflineQueue on: ' +
        'while Redis is down its commands queue without a timeout and replay in a burst on reconnect. ' +
        'Reads still give up after the cache\'s deadline; prefer enableOfflineQueue: false (see README "Redis setup")')
    }
    return { store: new RedisStore(spec, { ...redisOpts, owned: false }), owned: false }
  }
  if (isStore(spec)) return { store: spec, owned: false }

  const o = spec as Record<string, unknown>
  const keys = Object.keys(o)
  if ('memory' in o && keys.length === 1) {
    const m = o.memory ?? {}
    if (typeof m !== 'object') throw new TypeError(`store.memory option must be an object like { maxBytes: 67108864 }, got ${String(m)}`)
    return { store: new MemoryStore({ ...(m as MemoryStoreOptions), ...(opts.clock ? { clock: opts.clock } : {}) }), owned: true }
  }
  if ('redis' in o && keys.length === 1) {
    if (typeof o.redis !== 'object' || o.redis === null) throw new TypeError('store.redis option must be an ioredis options object')
    const r = o.redis as RedisOptions
    if (r.enableOfflineQueue === true) {
      warnOnce('CACHET_REDIS_OFFLINE_QUEUE', 'store.redis.enableOfflineQueue is true: while Redis is down ' +
        'its commands queue without a timeout and replay in a burst on reconnect; reads still give up after the deadline')
    }
    return { store: RedisStore.fromOptions(r, redisOpts), owned: true }
  }
  if ('cluster' in o && keys.every((k) => k === 'cluster' || k === 'options')) {
    if (!Array.isArray(o.cluster) || o.cluster.length === 0) {
      throw new TypeError('store.cluster option must be a non-empty array of nodes ({ host, port }, "host:port" or a port)')
    }
    if (o.options !== undefined && (typeof o.options !== 'object' || o.options === null)) {
      throw new TypeError('store.options option must be an ioredis ClusterOptions object')
    }
    const store = RedisStore.fromCluster(o.cluster as ClusterNode[], (o.options ?? {}) as ClusterOptions, redisOpts)
    return { store, owned: true }
  }
  throw new TypeError(`${SPEC_HELP}, got an object with keys [${keys.join(', ')}]`)
}
