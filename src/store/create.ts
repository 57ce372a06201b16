/**
 * Turns createCache's `store` option (README "Library API") into a Store. Forms:
 * - `undefined` | `"memory"`                 → MemoryStore (64 MiB)
 * - `{ memory: { maxBytes?: number } }`      → MemoryStore with that bound (our extra form)
 * - `"redis://…"` | `"rediss://…"`           → a Redis client we build with the fail-open settings
 * - `{ redis: <ioredis options> }`           → same, your options laid over ours
 * - `{ redis: <options or URL>, near: { maxBytes? } }` → same, with a near cache in front (near.ts);
 *                                              one server only (not Sentinel, not Cluster)
 * - `{ cluster: [<nodes>], options? }`       → an ioredis Cluster, same treatment
 * - an ioredis `Redis` or `Cluster` instance → used as is, not owned (your `quit()`), reads still
 *                                              get our deadline
 * - an object implementing the whole Store   → your own Store, used as is
 * - an object with only get/set/delete/close → your own store, completed by `completeStore`:
 *                                              tokens and locks built on get/set/delete, and a
 *                                              read deadline on its get
 * `owned` tells the caller whether `close()` of the cache should close the store.
 */
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis'
import { warnOnce } from '../errors.js'
import { checkOptionNames } from '../option-names.js'
import { giveUp, within } from './deadline.js'
import { MemoryStore, type MemoryStoreOptions } from './memory.js'
import { type NearOptions, NearStore } from './near.js'
import { positive } from './options.js'
import { isRedisClient, RedisStore, type StoreLog } from './redis.js'
import { lifeMs, newToken } from './tokens.js'
import type { BasicStore, Store } from './types.js'

export type { BasicStore }

export type StoreSpec =
  | undefined
  | 'memory'
  | `redis://${string}`
  | `rediss://${string}`
  | { memory: MemoryStoreOptions }
  | { redis: RedisOptions }
  | { redis: RedisOptions | `redis://${string}` | `rediss://${string}`; near: NearOptions | boolean }
  | { cluster: ClusterNode[]; options?: ClusterOptions }
  | Redis
  | Cluster
  | Store
  | BasicStore

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

function isBasicStore(x: object): x is BasicStore {
  const s = x as Record<string, unknown>
  return (
    typeof s.get === 'function' &&
    typeof s.set === 'function' &&
    typeof s.delete === 'function' &&
    typeof s.close === 'function'
  )
}

function isFullStore(x: BasicStore): x is Store {
  const s = x as unknown as Record<string, unknown>
  return (
    typeof s.getWithTokens === 'function' &&
    typeof s.tokens === 'function' &&
    typeof s.bump === 'function' &&
    typeof s.acquire === 'function' &&
    typeof s.release === 'function'
  )
}

const SPEC_HELP =
  'store option must be "memory", a redis:// or rediss:// URL, { redis: options }, ' +
  '{ redis: options or URL, near: { maxBytes } }, { cluster: nodes, options? }, { memory: { maxBytes } }, ' +
  'an ioredis Redis or Cluster instance, ' +
  'or an object implementing Store (at least get, set, delete, close)'

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
      warnOnce(
        'CACHET_REDIS_OFFLINE_QUEUE',
        'the ioredis client given as store has enableOfflineQueue on: ' +
          'while Redis is down its commands queue without a timeout and replay in a burst on reconnect. ' +
          'Reads still give up after the cache\'s deadline; prefer enableOfflineQueue: false (see README "Redis setup")',
      )
    }
    return { store: new RedisStore(spec, { ...redisOpts, owned: false }), owned: false }
  }
  if (isBasicStore(spec)) {
    // a user's store gets our deadlines too: a hung store must never hang a request (README "Stores")
    const dl = { readDeadlineMs: opts.readDeadlineMs, log: opts.log }
    const store = isFullStore(spec) ? withDeadlines(spec, dl) : completeStore(spec, dl)
    return { store, owned: false }
  }

  const o = spec as Record<string, unknown>
  const keys = Object.keys(o)
  if ('memory' in o && keys.length === 1) {
    const m = o.memory ?? {}
    if (typeof m !== 'object')
      throw new TypeError(
        `store.memory option must be an object like { maxBytes: 67108864 }, got ${String(m)}`,
      )
    checkOptionNames(m, ['maxBytes'], 'store.memory')
    return {
      store: new MemoryStore({ ...(m as MemoryStoreOptions), ...(opts.clock ? { clock: opts.clock } : {}) }),
      owned: true,
    }
  }
  if ('redis' in o && 'near' in o && keys.length === 2) return nearStore(o.redis, o.near, redisOpts)
  if ('redis' in o && keys.length === 1) {
    if (typeof o.redis !== 'object' || o.redis === null)
      throw new TypeError('store.redis option must be an ioredis options object')
    const r = o.redis as RedisOptions
    if (r.enableOfflineQueue === true) {
      warnOnce(
        'CACHET_REDIS_OFFLINE_QUEUE',
        'store.redis.enableOfflineQueue is true: while Redis is down ' +
          'its commands queue without a timeout and replay in a burst on reconnect; reads still give up after the deadline',
      )
    }
    return { store: RedisStore.fromOptions(r, redisOpts), owned: true }
  }
  if ('cluster' in o && 'near' in o && o.near !== false)
    throw new TypeError(
      'store.near option needs one Redis server: client tracking is per node on a Cluster (use near: false)',
    )
  if ('cluster' in o && keys.every((k) => k === 'cluster' || k === 'options' || k === 'near')) {
    if (!Array.isArray(o.cluster) || o.cluster.length === 0) {
      throw new TypeError(
        'store.cluster option must be a non-empty array of nodes ({ host, port }, "host:port" or a port)',
      )
    }
    if (o.options !== undefined && (typeof o.options !== 'object' || o.options === null)) {
      throw new TypeError('store.options option must be an ioredis ClusterOptions object')
    }
    const store = RedisStore.fromCluster(
      o.cluster as ClusterNode[],
      (o.options ?? {}) as ClusterOptions,
      redisOpts,
    )
    return { store, owned: true }
  }
  // a misspelt form's key (`{ memroy: … }`, `{ clusters: … }`) is named, with the one it is close to
  checkOptionNames(o, ['memory', 'redis', 'near', 'cluster', 'options'], 'store')
  throw new TypeError(`${SPEC_HELP}, got an object with keys [${keys.join(', ')}]`)
}

/**
 * `{ redis, near }`: a Redis store we build (from options or a URL) with a near cache in front;
 * `near: false` is the plain Redis store, `near: true` the near cache with its defaults.
 */
function nearStore(
  redis: unknown,
  near: unknown,
  redisOpts: { name: string; log?: StoreLog; readDeadlineMs?: number },
): CreatedStore {
  if (near !== true && near !== false && (typeof near !== 'object' || near === null || Array.isArray(near)))
    throw new TypeError(
      `store.near option must be an object like { maxBytes: 33554432 }, or a boolean, got ${String(near)}`,
    )
  let inner: RedisStore
  if (typeof redis === 'string' && /^rediss?:\/\//i.test(redis)) {
    inner = RedisStore.fromUrl(redis, redisOpts)
  } else if (typeof redis === 'object' && redis !== null && !isRedisClient(redis)) {
    const r = redis as RedisOptions
    if (near !== false && r.sentinels !== undefined)
      throw new TypeError(
        'store.near option is not supported with Sentinel (the tracking connection could follow another master during a failover); use near: false',
      )
    inner = RedisStore.fromOptions(r, redisOpts)
  } else {
    throw new TypeError(
      'store.redis option must be an ioredis options object or a redis:// URL when near is given',
    )
  }
  if (near === false) return { store: inner, owned: true }
  const n = (near === true ? {} : near) as NearOptions
  try {
    return {
      store: new NearStore(inner, { ...n, prefix: `${redisOpts.name}:`, log: redisOpts.log }),
      owned: true,
    }
  } catch (err) {
    void inner.close()
    throw err
  }
}

export interface CompleteStoreOptions {
  /**
   * `get`, `getWithTokens`, `tokens` and `acquire` reject after this long (all four stand between
   * a request and its answer): the caller serves a miss. @default 250
   */
  readDeadlineMs?: number
  /** `bump` (a purge) rejects after this long; `release` resolves after it at the latest. @default 2000 */
  bumpDeadlineMs?: number
  /** where a failed `release` is reported (debug level) */
  log?: StoreLog
}

/**
 * Makes a whole Store of one that only has get/set/delete/close (a user's own, README "Library API"),
 * with generic generation tokens and locks on top of those three, and a read deadline on `get`:
 * a user's get may have none, and a read must never stall a request (docs/threats.md).
 * Partial implementations of the five newer methods are not mixed in: all five are ours.
 *
 * Tokens are stored as small Buffers, `<token> <until>` in latin1, `until` the wall-clock time
 * (ms, base 36) the writer gave the key to live. Nothing here is atomic:
 * - `tokens`: two instances may both find a key absent and write different tokens. The loser
 *   records a token the store no longer holds, so its entry is a miss until stored again: a lost
 *   race costs a false miss, never a stale hit. Each creator reads the key back after writing
 *   and returns what is there, which makes such disagreement rare.
 * - `tokens` extends a life by writing the token again, and only when its recorded `until` comes
 *   sooner than asked: a tag token shared by many entries is never shortened by a short one
 *   (issue 12), give or take the clock skew between instances (GEN_MARGIN_MS covers it). That
 *   rewrite is a read-then-write: a purge landing between the two would be undone. Rewrites
 *   happen only when a token's life must grow (at most about twice per stored entry), and a
 *   store that can do better should implement `tokens` itself (the whole Store interface).
 * - `acquire` is get-then-set-then-read-back: best-effort. Two callers can both be told they hold
 *   the lock; the lock only coalesces origin requests, so the cost is a duplicate origin request.
 * A purge (`bump`) is as reliable as the store's `set`: it resolves when every `set` resolved.
 */
export function completeStore(inner: BasicStore, opts: CompleteStoreOptions = {}): Store {
  return new CompletedStore(inner, opts)
}

/** a lock's value: the holder's token as is */
const encode = (token: string) => Buffer.from(token, 'latin1')
const decode = (value: Buffer) => value.toString('latin1')

/** a generation token's value: `<token> <until, ms base 36>` (tokens never contain a space) */
function encodeToken(token: string, until: number): Buffer {
  return Buffer.from(`${token} ${until.toString(36)}`, 'latin1')
}
// hot path (getWithTokens)
function decodeToken(value: Buffer): string {
  const s = value.toString('latin1')
  const sp = s.indexOf(' ')
  return sp === -1 ? s : s.slice(0, sp)
}
/** when the writer meant the key to expire; 0 when it did not say (a token an earlier version wrote) */
function tokenUntil(value: Buffer): number {
  const s = value.toString('latin1')
  const sp = s.indexOf(' ')
  const t = sp === -1 ? 0 : Number.parseInt(s.slice(sp + 1), 36)
  return Number.isFinite(t) ? t : 0
}

class CompletedStore implements Store {
  readonly kind: string
  #s: BasicStore
  #readDeadlineMs: number
  #bumpDeadlineMs: number
  #log: StoreLog | undefined

  constructor(inner: BasicStore, opts: CompleteStoreOptions) {
    this.#s = inner
    this.kind = typeof inner.kind === 'string' ? inner.kind : 'custom'
    this.#readDeadlineMs = positive(opts.readDeadlineMs, 250, 'readDeadlineMs')
    this.#bumpDeadlineMs = positive(opts.bumpDeadlineMs, 2000, 'bumpDeadlineMs')
    this.#log = opts.log
  }

  /** read through: the user's store may change its mind (a client reconnecting) */
  get ready(): boolean {
    return this.#s.ready ?? true
  }

  // hot path
  get(key: string): Promise<Buffer | undefined> {
    return this.#read(
      call(() => this.#s.get(key)),
      'get',
    )
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    return call(() => this.#s.set(key, value, ttlMs))
  }

  delete(keys: readonly string[]): Promise<number> {
    return call(() => this.#s.delete(keys))
  }

  close(): Promise<void> {
    return call(() => this.#s.close())
  }

  // hot path: every get sent at once, one deadline for all
  getWithTokens(key: string, gens: readonly string[]): Promise<[Buffer | undefined, (string | undefined)[]]> {
    const reads: Promise<Buffer | undefined>[] = [call(() => this.#s.get(key))]
    for (const g of gens) reads.push(call(() => this.#s.get(g)))
    return this.#read(Promise.all(reads), 'get').then((values) => {
      if (values.length === 1) return [values[0], []]
      const tokens: (string | undefined)[] = new Array(gens.length)
      for (let i = 0; i < gens.length; i++) {
        const v = values[i + 1]
        tokens[i] = v === undefined ? undefined : decodeToken(v)
      }
      return [values[0], tokens]
    })
  }

  tokens(gens: readonly string[], ttlMs: number): Promise<string[]> {
    const ms = lifeMs(ttlMs)
    return this.#read(Promise.all(gens.map((g) => this.#token(g, ms))), 'tokens')
  }

  bump(gens: readonly string[], ttlMs: number): Promise<void> {
    const ms = lifeMs(ttlMs)
    const now = Date.now()
    const writes = gens.map((g) => call(() => this.#s.set(g, encodeToken(newToken(now), now + ms), ms)))
    return this.#write(Promise.all(writes), 'bump').then(() => {})
  }

  acquire(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.#read(this.#acquire(key, token, lifeMs(ttlMs)), 'acquire')
  }

  release(key: string, token: string): Promise<void> {
    return this.#write(this.#release(key, token), 'release').catch((err: unknown) =>
      releaseFailed(this.#log, this.kind, err),
    )
  }

  async #token(gen: string, ms: number): Promise<string> {
    const v = await call(() => this.#s.get(gen))
    const until = Date.now() + ms
    if (v !== undefined) {
      const t = decodeToken(v)
      // extend, never shorten
      if (tokenUntil(v) < until) await call(() => this.#s.set(gen, encodeToken(t, until), ms))
      return t
    }
    const t = newToken()
    await call(() => this.#s.set(gen, encodeToken(t, until), ms))
    const back = await call(() => this.#s.get(gen))
    return back === undefined ? t : decodeToken(back)
  }

  async #acquire(key: string, token: string, ms: number): Promise<boolean> {
    if ((await call(() => this.#s.get(key))) !== undefined) return false
    await call(() => this.#s.set(key, encode(token), ms))
    const back = await call(() => this.#s.get(key))
    return back !== undefined && decode(back) === token
  }

  async #release(key: string, token: string): Promise<void> {
    const v = await call(() => this.#s.get(key))
    if (v !== undefined && decode(v) === token) await call(() => this.#s.delete([key]))
  }

  #read<T>(work: Promise<T>, what: string): Promise<T> {
    return within(work, this.#readDeadlineMs, giveUp(`store ${what}`, this.#readDeadlineMs))
  }

  #write<T>(work: Promise<T>, what: string): Promise<T> {
    return within(work, this.#bumpDeadlineMs, giveUp(`store ${what}`, this.#bumpDeadlineMs))
  }
}

/**
 * A user's complete Store, with cachet's deadlines around every call the request path awaits,
 * and a `release` that never rejects. Calls that throw synchronously become rejections.
 */
export function withDeadlines(inner: Store, opts: CompleteStoreOptions = {}): Store {
  const readMs = positive(opts.readDeadlineMs, 250, 'readDeadlineMs')
  const writeMs = positive(opts.bumpDeadlineMs, 2000, 'bumpDeadlineMs')
  const read = <T>(what: string, fn: () => Promise<T>) =>
    within(call(fn), readMs, giveUp(`store ${what}`, readMs))
  const write = <T>(what: string, fn: () => Promise<T>) =>
    within(call(fn), writeMs, giveUp(`store ${what}`, writeMs))
  return {
    kind: inner.kind,
    get ready() {
      return inner.ready
    },
    get: (key) => read('get', () => inner.get(key)),
    set: (key, value, ttl) => write('set', () => inner.set(key, value, ttl)),
    delete: (keys) => write('delete', () => inner.delete(keys)),
    close: () => inner.close(),
    getWithTokens: (key, gens) => read('getWithTokens', () => inner.getWithTokens(key, gens)),
    tokens: (gens, ttl) => read('tokens', () => inner.tokens(gens, ttl)),
    bump: (gens, ttl) => write('bump', () => inner.bump(gens, ttl)),
    acquire: (key, token, ttl) => read('acquire', () => inner.acquire(key, token, ttl)),
    release: (key, token) =>
      write('release', () => inner.release(key, token)).catch((err: unknown) =>
        releaseFailed(opts.log, inner.kind, err),
      ),
  }
}

/** A user's method that throws synchronously becomes a rejection, like any store error. */
function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn())
  } catch (err) {
    return Promise.reject(err)
  }
}

/** A lock release never rejects: the lock then ends with its own ttl, which is worth a debug line. */
function releaseFailed(log: StoreLog | undefined, kind: string, err: unknown): void {
  const why = (err as Error)?.message ?? String(err)
  log?.('debug', `store (${kind}): lock release failed, it ends with its ttl: ${why}`, {
    event: 'lock-release-failed',
    store: kind,
    error: why,
  })
}
