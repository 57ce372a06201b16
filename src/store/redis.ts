/**
 * The shared store on Redis (one server, Sentinel or Cluster) through ioredis 6. The one rule: Redis
 * being slow, full or gone never fails or stalls a request (docs/threats.md, T45–T54).
 * - reads have their own deadline on top of `commandTimeout`, because Cluster's offline queue and a
 *   user's client without `commandTimeout` are not covered by it (ioredis #1604, #634);
 * - a client that is not `ready` is skipped with one property read, no round trip (T49);
 * - writes are `SET key value PX ttl`, one key per entry, so eviction can never leave half an
 *   entry (T36, T37), and at most `maxInFlightWrites` of them are pending (T53);
 * - every client gets an 'error' listener: ioredis only emits to listeners, and an unheard 'error'
 *   event would crash the process (T45).
 * - generation tokens and locks (types.ts) use single-key Lua scripts (`defineCommand`: EVALSHA,
 *   EVAL once per connection and after NOSCRIPT), so they run on any Cluster slot; the one
 *   multi-key script, `getWithTokens`, runs only on one server: a Cluster sends one GET per key
 *   in parallel instead, so no command is ever cross-slot (T40). Scripting must be allowed
 *   (an ACL with `-@scripting` makes every read a miss).
 *
 * This is the only module that imports ioredis.
 */
import { debuglog } from 'node:util'
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import { CachetError, StoreTimeoutError } from '../errors.js'
import { type LogFields, rateLimited } from '../log.js'
import { giveUp, within } from './deadline.js'
import { positive } from './options.js'
import { lifeMs, newToken } from './tokens.js'
import type { Store } from './types.js'

export { StoreTimeoutError }

export type StoreLogLevel = 'debug' | 'info' | 'warn' | 'error'
/** `fields`: the event as a structured logger gets it (log.ts) */
export type StoreLog = (level: StoreLogLevel, msg: string, fields?: LogFields) => void

/** The store was not connected (or was closed): nothing was sent. Code `STORE_UNAVAILABLE`. */
export class StoreUnavailableError extends CachetError {
  constructor(msg: string) {
    super('STORE_UNAVAILABLE', msg)
    this.name = 'StoreUnavailableError'
  }
}

/** Code for `process.emitWarning(msg, 'CachetWarning', code)` with `checkEviction()`'s message. */
export const EVICTION_WARNING_CODE = 'CACHET_REDIS_NO_EVICTION'

export interface RedisStoreOptions {
  /** Names the store in logs and in `CLIENT LIST` (connectionName of clients we build). @default "cachet" */
  name?: string
  /** Give up on a read after this long; the caller treats it as a miss. @default 250 */
  readDeadlineMs?: number
  /** A write's promise resolves after this long even if Redis has not answered. @default 1000 */
  writeDeadlineMs?: number
  /** `delete` (purge) rejects after this long. @default 2000 */
  deleteDeadlineMs?: number
  /** `bump` (purge by generation) rejects after this long. @default 2000 */
  bumpDeadlineMs?: number
  /** Writes beyond this many pending are dropped (and counted), not queued. @default 64 */
  maxInFlightWrites?: number
  /** true: `close()` quits the client. @default false for a client passed in, true for one we build */
  owned?: boolean
  /** Error and state logging; errors are rate-limited to one line per 10 s. @default NODE_DEBUG=cachet */
  log?: StoreLog
}

export interface RedisStoreStats {
  hits: number
  misses: number
  /** Redis errors (connection errors, OOM, READONLY, ...) */
  errors: number
  /** reads past their deadline and commands past `commandTimeout` */
  timeouts: number
  /** writes (and lock releases) not sent: too many in flight, or the client was not ready */
  droppedWrites: number
  /** reads (also `tokens`, `acquire`) refused at once because the client was not ready */
  unavailable: number
}

/** The fail-open settings of docs/threats.md (commandTimeout in ms). */
export function failOpenRedisOptions(commandTimeout = 200): RedisOptions {
  return {
    // reject at once while disconnected instead of queueing (#285, #465, #776) and replaying
    // the queue in a burst on reconnect (1024pix/pix PR #707)
    enableOfflineQueue: false,
    // reject in-flight commands on the first disconnect instead of after 20 retries (~71 s in v6)
    maxRetriesPerRequest: 0,
    // the only defence against a server that accepts but never answers (#634, PR #1320)
    commandTimeout,
    // half-open TCP is detected in seconds, not keepalive minutes (#139)
    socketTimeout: 5000,
    connectTimeout: 2000,
    // after a failover the old master answers READONLY: reconnect (1), but do not resend (2)
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
    // retryStrategy: left to the v6 default, which reconnects forever; returning a non-number
    // would end the client for good
    // every command issued in one event-loop tick goes out in one write (the hit path's read
    // is one MGET per request: under load this halves the client's CPU per hit)
    enableAutoPipelining: true,
  }
}

/** Cluster-level settings: the Cluster's own offline queue has no timeout (#1604). */
export function failOpenClusterOptions(commandTimeout = 200): ClusterOptions {
  const { enableOfflineQueue: _q, ...node } = failOpenRedisOptions(commandTimeout)
  // Node connections keep their offline queue on whatever we pass (ioredis ConnectionPool forces
  // it, PR #649, and the typings omit it): the Cluster-level queue is the one that must be off.
  return { enableOfflineQueue: false, redisOptions: node }
}

/** Duck-typed so that a client from another copy of ioredis is still recognised. */
export function isRedisClient(x: unknown): x is Redis | Cluster {
  if (x instanceof Redis || x instanceof Cluster) return true
  const c = x as Record<string, unknown> | null
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.getBuffer === 'function' &&
    typeof c.status === 'string' &&
    typeof c.on === 'function' &&
    typeof c.disconnect === 'function'
  )
}

/** What we use of a client; `Redis | Cluster` unions do not type-check as callable. */
interface Client {
  status: string
  isCluster?: boolean
  options: { host?: string; port?: number; enableOfflineQueue?: boolean }
  getBuffer(key: string): Promise<Buffer | null>
  mgetBuffer(...keys: string[]): Promise<(Buffer | null)[]>
  get(key: string): Promise<string | null>
  set(key: string, value: Buffer | string, px: 'PX', ms: number, nx?: 'NX'): Promise<'OK' | null>
  unlink(...keys: string[]): Promise<number>
  call(command: string, ...args: string[]): Promise<unknown>
  quit(): Promise<unknown>
  disconnect(): void
  nodes?(role: 'master'): Client[]
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void
  // the scripts below, defined on the client by the constructor
  cachetToken(gen: string, token: string, ms: number): Promise<string>
  cachetRelease(key: string, token: string): Promise<number>
  // biome-ignore lint/suspicious/noExplicitAny: ioredis' listener arguments differ by event
  on(event: string, fn: (...args: any[]) => void): unknown
  // biome-ignore lint/suspicious/noExplicitAny: as above
  once(event: string, fn: (...args: any[]) => void): unknown
  // biome-ignore lint/suspicious/noExplicitAny: as above
  off(event: string, fn: (...args: any[]) => void): unknown
}

const debug = debuglog('cachet')
const defaultLog: StoreLog = (level, msg) => debug('%s %s', level, msg)
const ERROR_LOG_INTERVAL_MS = 10_000
/** Standalone UNLINK batch: one command, one round trip, well under any proto limit. */
const UNLINK_BATCH = 256
const RESOLVED: Promise<void> = Promise.resolve()
const nothing = (): void => {}

/**
 * "GET, or SET a fresh token if absent", and extend the key's life to at least ARGV[2] ms; never
 * shortens it (a key without expiry, PTTL -1, stays so). One key: atomic, any slot.
 */
const TOKEN_LUA = `local t = redis.call('GET', KEYS[1])
if not t then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return t`

/** Compare-and-delete: the lock goes only if `token` still holds it (redis.io "Distributed locks"). */
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

function isOk(reply: unknown): boolean {
  return reply === 'OK'
}

export class RedisStore implements Store {
  readonly kind: 'redis' | 'cluster'
  readonly client: Redis | Cluster
  #c: Client
  #name: string
  #owned: boolean
  #log: StoreLog
  #readDeadlineMs: number
  #writeDeadlineMs: number
  #deleteDeadlineMs: number
  #bumpDeadlineMs: number
  #maxInFlight: number
  #inFlight = 0
  #closed = false
  #everReady = false
  /** errors are logged at most once per interval, with a count of the ones left out */
  #warn: (msg: string, fields?: { node: string | null; error: string }) => void
  #notReady: StoreUnavailableError
  #readTimedOut: () => never
  #stats: RedisStoreStats = { hits: 0, misses: 0, errors: 0, timeouts: 0, droppedWrites: 0, unavailable: 0 }
  #onError = (err: Error) => this.#error(err)
  #onNodeError = (err: Error, key?: string) => this.#error(err, key)
  #onReady = () => {
    if (this.#everReady)
      this.#log('info', `redis store "${this.#name}": connection ready again`, {
        event: 'redis-ready',
        store: this.kind,
      })
    this.#everReady = true
  }

  constructor(client: Redis | Cluster, opts: RedisStoreOptions = {}) {
    if (!isRedisClient(client)) throw new TypeError('RedisStore needs an ioredis Redis or Cluster instance')
    this.client = client
    this.#c = client as unknown as Client
    this.kind = this.#c.isCluster ? 'cluster' : 'redis'
    this.#name = opts.name ?? 'cachet'
    this.#owned = opts.owned ?? false
    this.#log = opts.log ?? defaultLog
    this.#warn = rateLimited<{ node: string | null; error: string }>(
      (m, suppressed, f) =>
        this.#log('warn', m, { event: 'redis-error', store: this.kind, ...f, suppressed }),
      ERROR_LOG_INTERVAL_MS,
    )
    this.#readDeadlineMs = positive(opts.readDeadlineMs, 250, 'readDeadlineMs')
    this.#writeDeadlineMs = positive(opts.writeDeadlineMs, 1000, 'writeDeadlineMs')
    this.#deleteDeadlineMs = positive(opts.deleteDeadlineMs, 2000, 'deleteDeadlineMs')
    this.#bumpDeadlineMs = positive(opts.bumpDeadlineMs, 2000, 'bumpDeadlineMs')
    this.#maxInFlight = positive(opts.maxInFlightWrites, 64, 'maxInFlightWrites')
    // One shared instance: while Redis is down every request takes this path, so no stack capture.
    this.#notReady = new StoreUnavailableError(`redis store "${this.#name}" is not connected`)
    this.#readTimedOut = giveUp('redis store read', this.#readDeadlineMs)
    this.#everReady = this.#c.status === 'ready'
    defineScripts(this.#c)
    this.#c.on('error', this.#onError)
    this.#c.on('ready', this.#onReady)
    if (this.kind === 'cluster') this.#c.on('node error', this.#onNodeError)
  }

  /** Build a client from a `redis://` / `rediss://` URL with the fail-open settings; owned. */
  static fromUrl(url: string, opts: RedisStoreOptions & { commandTimeout?: number } = {}): RedisStore {
    const client = new Redis(url, {
      ...failOpenRedisOptions(opts.commandTimeout),
      ...connectionName(opts.name),
    })
    return new RedisStore(client, { ...opts, owned: opts.owned ?? true })
  }

  /** Build a client from ioredis options, laid over the fail-open settings (yours win); owned. */
  static fromOptions(
    redis: RedisOptions,
    opts: RedisStoreOptions & { commandTimeout?: number } = {},
  ): RedisStore {
    const client = new Redis({
      ...failOpenRedisOptions(opts.commandTimeout),
      ...connectionName(opts.name),
      ...redis,
    })
    return new RedisStore(client, { ...opts, owned: opts.owned ?? true })
  }

  /** Build a Cluster client, your options laid over the fail-open settings; owned. */
  static fromCluster(
    nodes: ClusterNode[],
    options: ClusterOptions = {},
    opts: RedisStoreOptions & { commandTimeout?: number } = {},
  ): RedisStore {
    const base = failOpenClusterOptions(opts.commandTimeout)
    const client = new Cluster(nodes, {
      ...base,
      ...options,
      redisOptions: { ...base.redisOptions, ...connectionName(opts.name), ...options.redisOptions },
    })
    return new RedisStore(client, { ...opts, owned: opts.owned ?? true })
  }

  /** hot path, read on every request: no round trip */
  get ready(): boolean {
    return !this.#closed && this.#c.status === 'ready'
  }

  get stats(): RedisStoreStats {
    return { ...this.#stats }
  }

  // hot path: a rejection (not ready, error, deadline) is a miss for the caller
  get(key: string): Promise<Buffer | undefined> {
    return this.#unavailable('read') ?? this.#read(this.#c.getBuffer(key)).then(this.#counted)
  }

  /**
   * hot path: rejects like `get`. One server: one script call, one round trip. Cluster: the
   * entry GET and one GET per token, all sent at once (ioredis routes each to its node), so the
   * latency is still one round trip and no command spans two slots.
   */
  getWithTokens(key: string, gens: readonly string[]): Promise<[Buffer | undefined, (string | undefined)[]]> {
    if (gens.length === 0) return this.get(key).then(withoutTokens)
    const refused = this.#unavailable('read')
    if (refused) return refused
    if (this.kind === 'cluster') {
      const ops: Promise<Buffer | string | null>[] = [this.#c.getBuffer(key)]
      for (const g of gens) ops.push(this.#c.get(g))
      return this.#read(Promise.all(ops)).then(this.#withTokens)
    }
    // One MGET: a single command, and with auto-pipelining many requests' reads share one
    // socket write. (A read-only Lua script was faster per call when idle, but cost redis-server
    // 6-8x the CPU of MGET under load: bench/README.md.)
    return this.#read(this.#c.mgetBuffer(key, ...gens)).then(this.#withTokens)
  }

  /**
   * Atomic per key (one script each, in parallel: any slot); rejects when not connected, on any
   * error, or past the read deadline, so that a caller never records a token it was not given.
   */
  tokens(gens: readonly string[], ttlMs: number): Promise<string[]> {
    if (gens.length === 0) return Promise.resolve([])
    const refused = this.#unavailable('read')
    if (refused) return refused
    const ms = lifeMs(ttlMs)
    const ops: Promise<string>[] = []
    for (const g of gens) ops.push(this.#c.cachetToken(g, newToken(), ms))
    return this.#read(Promise.all(ops))
  }

  /**
   * A purge: `SET gen <fresh token> PX ttl` for every key, in parallel (one key per command: any
   * slot). Resolves once Redis acknowledged every write; rejects when not connected, on any
   * error, or after `bumpDeadlineMs`: a purge never claims a success it did not have (README
   * "Purge"). A rejected bump may still have replaced some tokens, which is only more purging.
   */
  async bump(gens: readonly string[], ttlMs: number): Promise<void> {
    if (gens.length === 0) return
    const refused = this.#unavailable('purge')
    if (refused) return refused
    const ms = lifeMs(ttlMs)
    const ops: Promise<unknown>[] = []
    for (const g of gens) ops.push(this.#c.set(g, newToken(Date.now()), 'PX', ms))
    await this.#purge(Promise.all(ops), this.#bumpDeadlineMs, 'bump')
  }

  /**
   * `SET key token NX PX ttl`. Rejects when not connected, on error or past the read deadline;
   * should Redis grant the lock after our deadline gave up on it, it is released at once so that
   * nobody waits for a holder that does not know it holds it.
   */
  acquire(key: string, token: string, ttlMs: number): Promise<boolean> {
    const refused = this.#unavailable('read')
    if (refused) return refused
    const cmd = this.#c.set(key, token, 'PX', lifeMs(ttlMs), 'NX')
    return this.#read(cmd).then(isOk, (err: unknown) => {
      cmd.then(
        (reply) => {
          if (reply === 'OK') void this.release(key, token)
        },
        () => {},
      )
      throw err
    })
  }

  /**
   * Compare-and-delete. Never rejects: a release that fails or is not sent is counted, and the
   * lock then ends with its own PX. Resolves at the latest after the write deadline.
   */
  release(key: string, token: string): Promise<void> {
    const refused = this.#unavailable('write')
    if (refused) return refused
    const sent = this.#c.cachetRelease(key, token).then(nothing, (err: Error) => {
      this.#failed(err)
    })
    return within(sent, this.#writeDeadlineMs, nothing)
  }

  /**
   * Never rejects: callers do not await it on the response path. Resolves when Redis answered,
   * when the write deadline passed, or at once when the write was dropped.
   */
  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    const refused = this.#unavailable('write')
    if (refused) return refused
    if (this.#inFlight >= this.#maxInFlight) {
      this.#stats.droppedWrites++
      return RESOLVED
    }
    this.#inFlight++
    // PX 0 is an error for Redis; a lifetime already over means the entry must go
    const cmd = ttlMs > 0 ? this.#c.set(key, value, 'PX', Math.ceil(ttlMs)) : this.#c.unlink(key)
    // The slot is freed only when Redis (or commandTimeout) settles the command, not at our
    // deadline: a client that never answers then fills the slots and further writes are
    // dropped, which keeps memory flat (T53).
    const settled = cmd.then(
      () => {
        this.#inFlight--
      },
      (err: Error) => {
        this.#inFlight--
        this.#failed(err)
      },
    )
    return within(settled, this.#writeDeadlineMs, nothing)
  }

  /**
   * Rejects when Redis could not be asked or did not answer in time: a purge must never claim
   * a success it did not have (README "Purge"). On a Cluster each key is its own command, so no
   * command is ever cross-slot (T40); one server gets batched UNLINKs.
   */
  async delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0
    const refused = this.#unavailable('purge')
    if (refused) return refused
    const ops: Promise<number>[] = []
    if (this.kind === 'cluster') {
      for (const key of keys) ops.push(this.#c.unlink(key))
    } else {
      for (let i = 0; i < keys.length; i += UNLINK_BATCH)
        ops.push(this.#c.unlink(...keys.slice(i, i + UNLINK_BATCH)))
    }
    const counts = await this.#purge(Promise.all(ops), this.#deleteDeadlineMs, 'delete')
    let n = 0
    for (const c of counts) n += c
    return n
  }

  /**
   * Resolves true once the client is ready, false when `ms` passes first (or the store is
   * closed); never rejects. createCache waits on it briefly at startup and carries on either way.
   */
  waitReady(ms: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true)
    if (this.#closed) return Promise.resolve(false)
    let onReady: () => void
    const ready = new Promise<boolean>((resolve) => {
      onReady = () => resolve(!this.#closed)
      this.#c.once('ready', onReady)
    })
    return within(ready, ms, () => {
      this.#c.off('ready', onReady)
      return false
    })
  }

  /**
   * T38: read `maxmemory` and `maxmemory-policy` (every master of a Cluster) and describe what is
   * wrong for a cache, or undefined when eviction is on or CONFIG cannot be read (managed Redis
   * often denies it: logged at debug level). `volatile-*` is fine: every entry has a PX.
   * Emit the result once with `process.emitWarning(msg, 'CachetWarning', EVICTION_WARNING_CODE)`.
   */
  async checkEviction(): Promise<string | undefined> {
    if (!this.ready) {
      this.#log('debug', `redis store "${this.#name}": not connected, eviction settings not checked`, {
        event: 'redis-config',
        store: this.kind,
        checked: false,
      })
      return undefined
    }
    const targets = this.kind === 'cluster' && this.#c.nodes ? this.#c.nodes('master') : [this.#c]
    const problems: string[] = []
    for (const node of targets) {
      // with Sentinel, options hold ioredis' defaults, not the master: name the peer we talk to
      const o = node.options as { host?: string; port?: number; sentinels?: unknown; name?: string }
      const peer = (node as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream
      const where = o.sentinels
        ? `Sentinel master "${o.name ?? '?'}"${peer?.remoteAddress ? ` (${peer.remoteAddress}:${peer.remotePort})` : ''}`
        : `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`
      let maxmemory: string | undefined
      let policy: string | undefined
      try {
        // Two calls: CONFIG GET with several parameters needs Redis >= 7.0
        const config = (name: string) =>
          within(node.call('CONFIG', 'GET', name), 1000, giveUp('redis CONFIG GET', 1000))
        maxmemory = configValue(await config('maxmemory'), 'maxmemory')
        policy = configValue(await config('maxmemory-policy'), 'maxmemory-policy')
      } catch (err) {
        this.#log(
          'debug',
          `redis store "${this.#name}": CONFIG GET failed on ${where} (${(err as Error).message}); eviction settings not checked`,
          { event: 'redis-config', store: this.kind, node: where, checked: false },
        )
        return undefined
      }
      if (maxmemory === undefined || policy === undefined) {
        this.#log(
          'debug',
          `redis store "${this.#name}": CONFIG GET returned nothing on ${where}; eviction settings not checked`,
          { event: 'redis-config', store: this.kind, node: where, checked: false },
        )
        return undefined
      }
      if (policy === 'noeviction') {
        problems.push(
          `${where} has maxmemory-policy noeviction: once it is full every cache write fails with OOM`,
        )
      } else if (maxmemory === '0') {
        problems.push(
          `${where} has maxmemory 0 (no limit): the cache grows until the host runs out of memory`,
        )
      }
    }
    if (problems.length === 0) return undefined
    return (
      `Redis eviction is off for cache "${this.#name}": ${problems.join('; ')}. ` +
      'Set maxmemory and maxmemory-policy allkeys-lru (or allkeys-lfu) on a Redis dedicated to the cache.'
    )
  }

  /** Quits an owned client (1 s grace, then disconnect) so the process can exit; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#c.off('ready', this.#onReady)
    if (!this.#owned) {
      this.#c.off('error', this.#onError)
      this.#c.off('node error', this.#onNodeError)
      return
    }
    // The 'error' listener stays on an owned client: a late socket error must not crash anyone.
    if (this.#c.status === 'ready') {
      try {
        await within(this.#c.quit(), 1000, giveUp('redis QUIT', 1000))
      } catch {
        /* disconnect below */
      }
    }
    if (this.#c.status === 'end') return
    // QUIT's reply comes before the socket closes: wait for 'end' (bounded) so that a caller
    // that stops Redis next, or exits, finds the connection gone
    const c = this.#c
    let done: () => void
    const ended = new Promise<void>((resolve) => {
      done = resolve
      c.once('end', done)
    })
    this.#c.disconnect()
    await within(ended, 1000, () => {
      c.off('end', done)
    })
  }

  /**
   * The one readiness guard (T49): undefined while the client can answer, so the caller goes on
   * (`return this.#unavailable('read') ?? …`); otherwise what the call gives instead, with no
   * round trip. A read rejects with the one shared StoreUnavailableError (while Redis is down
   * every request takes this path: no stack capture) and counts as `unavailable`; a write (`set`,
   * `release`) is dropped and counted; a purge rejects with an error of its own.
   */
  #unavailable(call: 'read' | 'purge'): Promise<never> | undefined
  #unavailable(call: 'write'): Promise<void> | undefined
  #unavailable(call: 'read' | 'write' | 'purge'): Promise<void> | undefined {
    if (this.ready) return undefined
    if (call === 'read') {
      this.#stats.unavailable++
      return Promise.reject(this.#notReady)
    }
    if (call === 'write') {
      this.#stats.droppedWrites++
      return RESOLVED
    }
    return Promise.reject(new StoreUnavailableError(this.#notReady.message))
  }

  /**
   * A read under the read deadline: counts timeouts and errors. An answer or an error that comes
   * after the deadline is dropped (the read was already counted as a timeout).
   */
  #read<T>(cmd: Promise<T>): Promise<T> {
    return within(cmd, this.#readDeadlineMs, this.#readTimedOut).catch(this.#rethrowFailed)
  }

  #rethrowFailed = (err: Error): never => {
    throw this.#failed(err)
  }

  #counted = (value: Buffer | null): Buffer | undefined => {
    if (value === null) {
      this.#stats.misses++
      return undefined
    }
    this.#stats.hits++
    return value
  }

  /** [entry, ...tokens] from the script (all Buffers) or the Cluster's GETs (tokens as strings). */
  #withTokens = (reply: (Buffer | string | null)[]): [Buffer | undefined, (string | undefined)[]] => {
    const tokens: (string | undefined)[] = new Array(reply.length - 1)
    for (let i = 1; i < reply.length; i++) {
      const t = reply[i]
      tokens[i - 1] = t === null || t === undefined ? undefined : typeof t === 'string' ? t : t.toString()
    }
    return [this.#counted((reply[0] ?? null) as Buffer | null), tokens]
  }

  /** A purge's writes: rejects on the first error or after `ms`, never resolves on a partial success. */
  #purge<T>(all: Promise<T>, ms: number, what: string): Promise<T> {
    return within(all, ms, giveUp(`redis store ${what}`, ms)).catch(this.#rethrowFailed)
  }

  /** Count a command failure; ioredis' own commandTimeout becomes our StoreTimeoutError. */
  #failed(err: Error): Error {
    if (err instanceof StoreTimeoutError) {
      this.#stats.timeouts++
      return err
    }
    if (err?.message === 'Command timed out') {
      this.#stats.timeouts++
      return new StoreTimeoutError('redis command timed out (commandTimeout)', { cause: err })
    }
    this.#error(err)
    return err
  }

  #error(err: Error, node?: string): void {
    this.#stats.errors++
    const error = err?.message ?? String(err)
    this.#warn(`redis store "${this.#name}"${node ? ` node ${node}` : ''}: ${error}`, {
      node: node ?? null,
      error,
    })
  }
}

function withoutTokens(value: Buffer | undefined): [Buffer | undefined, (string | undefined)[]] {
  return [value, []]
}

/**
 * Our scripts, defined once per client (a client shared by two stores keeps the first
 * definition; the Lua is the same). ioredis sends EVALSHA, and EVAL the first time on each
 * connection or after NOSCRIPT (a SCRIPT FLUSH, a failover to a replica without the script).
 */
function defineScripts(c: Client): void {
  if (typeof c.defineCommand !== 'function')
    throw new TypeError('RedisStore needs an ioredis Redis or Cluster instance (no defineCommand)')
  if (typeof c.cachetToken !== 'function') c.defineCommand('cachetToken', { lua: TOKEN_LUA, numberOfKeys: 1 })
  if (typeof c.cachetRelease !== 'function')
    c.defineCommand('cachetRelease', { lua: RELEASE_LUA, numberOfKeys: 1 })
}

/** CLIENT SETNAME refuses spaces and newlines, which would fail the connection handshake. */
function connectionName(name: string | undefined): { connectionName?: string } {
  return name ? { connectionName: name.replace(/[^\x21-\x7e]/g, '-') } : {}
}

/** CONFIG GET answers a flat [name, value] array (RESP2, RESP3 "legacy") or a map object ("resp3"). */
function configValue(reply: unknown, name: string): string | undefined {
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) if (String(reply[i]) === name) return String(reply[i + 1])
    return undefined
  }
  if (reply && typeof reply === 'object') {
    const v = (reply as Record<string, unknown>)[name]
    return v === undefined ? undefined : String(v)
  }
  return undefined
}
