/**
 * The near cache: hot entries and generation tokens held in process in front of one Redis
 * server, kept coherent by Redis server-assisted client-side caching (redis.io "Client-side
 * caching"), so that a hit costs no round trip and a purge by any instance still holds
 * (README "Near cache").
 *
 * Tracking runs on a connection of its own (the tracker), in broadcasting mode over the cache's
 * key prefix: `CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX <name>:`, then
 * `SUBSCRIBE __redis__:invalidate`. Redis then tells it of every change to any key under the
 * prefix (a write by any client, a purge, an expiry, an eviction, a FLUSHALL) in the same
 * event-loop turn that makes the change, before the writer gets its reply. Why this shape:
 * - ioredis 6 speaks RESP3 by default but drops `invalidate` push messages (DataHandler
 *   `returnPush` only knows Pub/Sub kinds), so the invalidations must come as Pub/Sub messages:
 *   the tracker speaks RESP2 and redirects to itself.
 * - broadcasting needs no tracking on the data connection: the plain Redis path is untouched,
 *   and "tracking is on" is one fact about one connection. The cost is a message per write under
 *   the prefix to every instance (misses and purges, not hits), where default mode would only
 *   report keys this instance read.
 *
 * The rules that keep it from serving what may have been purged:
 * - near copies are served only while tracking is known to be on (`#up`). The tracker closing,
 *   failing its heartbeat, or the data connection closing flushes the near cache, and it is
 *   bypassed (every read goes to Redis, as without it) until tracking is enabled again.
 * - a value read from Redis is kept only if tracking was on when the read was sent and still is
 *   (`#epoch` unchanged), and no invalidation of that key arrived while the read was in flight
 *   (`#pending`, `#dirty`): the invalidation travels on another socket and may overtake the reply.
 * - this instance's own writes (`set`, `delete`, `bump`) drop the near copies before they are
 *   sent, and mark reads in flight as dirty; so a purge is seen here at once, and by other
 *   instances when their tracker receives the message Redis queued before acknowledging it.
 *
 * Cluster is not supported (tracking is per node): create.ts refuses `near` with `{ cluster }`.
 * docs/threats.md T75 (a copy outliving a purge or a newer entry), T76 (tracking lost).
 */
import { debuglog } from 'node:util'
import type { Redis, RedisOptions } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { rateLimited } from '../log.js'
import { within } from './deadline.js'
import { entryCost, owned } from './memory.js'
import type { RedisStore, RedisStoreStats, StoreLog } from './redis.js'
import type { Store } from './types.js'

const MiB = 1024 * 1024
const CHANNEL = '__redis__:invalidate'
/** A heartbeat PING on the tracker every so often: a half-open socket is found within ~2 s. */
const HEARTBEAT_MS = 1000
/** A PING unanswered after this long means tracking can no longer be trusted. */
const HEARTBEAT_TIMEOUT_MS = 1000
/** Enabling tracking (CLIENT ID, CLIENT TRACKING, SUBSCRIBE) must answer within this long. */
const ENABLE_TIMEOUT_MS = 2000
/** After a failed enable, a fresh tracker connection tries again this much later. */
const ENABLE_RETRY_MS = 1000
const RESOLVED: Promise<void> = Promise.resolve()
const nothing = (): void => {}

export interface NearOptions {
  /**
   * Upper bound on the bytes the near cache holds, counted as the memory store counts them
   * (`entryCost`: key, value and the V8 / lru-cache overhead). Least recently used first out.
   * @default 33554432 (32 MiB)
   */
  maxBytes?: number
}

export interface NearStats {
  /** reads answered from the near cache (no round trip) */
  hits: number
  /** reads sent to Redis while tracking was on */
  misses: number
  /** reads sent to Redis because tracking was off */
  bypassed: number
  /** true while near copies may be served */
  tracking: boolean
  entries: number
  bytes: number
  /** keys Redis reported changed (each drops its near copy, if any) */
  invalidations: number
  /** times the whole near cache was dropped (tracking lost, FLUSHALL, data connection closed) */
  flushes: number
}

export interface NearStoreOptions extends NearOptions {
  /** the key prefix to track: `<cache name>:` */
  prefix: string
  log?: StoreLog
}

/** What the tracker is: a second ioredis connection, in RESP2 (see the module comment). */
interface Tracker {
  status: string
  call(command: string, ...args: (string | number)[]): Promise<unknown>
  subscribe(channel: string): Promise<unknown>
  ping(): Promise<unknown>
  disconnect(reconnect?: boolean): void
  quit(): Promise<unknown>
  // biome-ignore lint/suspicious/noExplicitAny: ioredis' listener arguments differ by event
  on(event: string, fn: (...args: any[]) => void): unknown
  // biome-ignore lint/suspicious/noExplicitAny: as above
  off(event: string, fn: (...args: any[]) => void): unknown
}

const debug = debuglog('cachet')
const defaultLog: StoreLog = (level, msg) => debug('%s %s', level, msg)

export class NearStore implements Store {
  readonly kind: 'redis' = 'redis'
  /** near hits hand back the very Buffer held: decoded entries can be memoised by identity */
  readonly stableValues = true
  readonly inner: RedisStore
  readonly maxBytes: number
  readonly #prefix: string
  readonly #log: StoreLog
  /** repeated failures to enable tracking: one line per 10 s */
  readonly #warn: (msg: string) => void
  // a string is a generation token, a Buffer an entry (as in the memory store)
  readonly #lru: LRUCache<string, Buffer | string>
  readonly #tracker: Tracker
  /** true while tracking is known to be on: near copies may be served and kept */
  #up = false
  /** changes whenever near copies stop being trustworthy: a read across a change keeps nothing */
  #epoch = 0
  /** tracker connection incarnation: an enable that outlives its connection does nothing */
  #session = 0
  /** key → reads in flight; an invalidation of such a key marks it dirty until they land */
  readonly #pending = new Map<string, number>()
  readonly #dirty = new Set<string>()
  #heartbeat: NodeJS.Timeout | undefined
  #beating = false
  #closed = false
  #waiters: (() => void)[] = []
  readonly #stats = { hits: 0, misses: 0, bypassed: 0, invalidations: 0, flushes: 0 }

  constructor(inner: RedisStore, opts: NearStoreOptions) {
    if (inner.kind !== 'redis') {
      throw new TypeError('store.near option needs one Redis server: tracking is per node on a Cluster')
    }
    const maxBytes = opts.maxBytes ?? 32 * MiB
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new TypeError(
        `store.near.maxBytes option must be a positive integer, got ${String(opts.maxBytes)}`,
      )
    }
    this.inner = inner
    this.maxBytes = maxBytes
    this.#prefix = opts.prefix
    this.#log = opts.log ?? defaultLog
    this.#warn = rateLimited((m) => this.#log('warn', m), 10_000)
    this.#lru = new LRUCache<string, Buffer | string>({
      maxSize: maxBytes,
      sizeCalculation: (value, key) => entryCost(key, value),
    })
    const client = inner.client as Redis
    const o = client.options as RedisOptions
    this.#tracker = client.duplicate({
      protocol: 2,
      autoResubscribe: false,
      enableOfflineQueue: false,
      enableAutoPipelining: false,
      commandTimeout: HEARTBEAT_TIMEOUT_MS,
      lazyConnect: false,
      ...(o.connectionName ? { connectionName: `${o.connectionName}-near` } : {}),
    }) as unknown as Tracker
    this.#tracker.on('error', this.#onTrackerError)
    this.#tracker.on('ready', this.#onTrackerReady)
    this.#tracker.on('close', this.#onTrackerClose)
    this.#tracker.on('messageBuffer', this.#onMessage)
    client.on('close', this.#onDataClose)
    this.#heartbeat = setInterval(this.#beat, HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  /** hot path: the data connection's state (the near cache is empty while it is down) */
  get ready(): boolean {
    return this.inner.ready
  }

  /** The Redis store's own counters (reads that reached Redis). */
  get stats(): RedisStoreStats {
    return this.inner.stats
  }

  get near(): NearStats {
    return { ...this.#stats, tracking: this.#up, entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }

  // hot path: one Map lookup on a near hit
  get(key: string): Promise<Buffer | undefined> {
    if (this.#up) {
      const v = this.#lru.get(key)
      if (v !== undefined) {
        this.#stats.hits++
        return Promise.resolve(typeof v === 'string' ? Buffer.from(v) : v)
      }
      return this.#fetch(key, NO_GENS).then(valueOnly)
    }
    this.#stats.bypassed++
    return this.inner.get(key)
  }

  // hot path: 1 + gens.length Map lookups on a near hit, nothing sent
  getWithTokens(key: string, gens: readonly string[]): Promise<[Buffer | undefined, (string | undefined)[]]> {
    if (!this.#up) {
      this.#stats.bypassed++
      return this.inner.getWithTokens(key, gens)
    }
    const near = this.peekWithTokens(key, gens)
    return near !== undefined ? Promise.resolve(near) : this.#fetch(key, gens)
  }

  /** A near hit without the promise: the value and every token held here; undefined otherwise. */
  peekWithTokens(
    key: string,
    gens: readonly string[],
  ): [Buffer | undefined, (string | undefined)[]] | undefined {
    if (!this.#up) return undefined
    const v = this.#lru.get(key)
    if (v === undefined) return undefined
    const tokens: (string | undefined)[] = new Array(gens.length)
    for (let i = 0; i < gens.length; i++) {
      const t = this.#lru.get(gens[i]!)
      if (t === undefined) return undefined
      tokens[i] = typeof t === 'string' ? t : t.toString()
    }
    this.#stats.hits++
    return [typeof v === 'string' ? Buffer.from(v) : v, tokens]
  }

  /** Token creation and extension go to Redis; the changes come back as invalidations. */
  tokens(gens: readonly string[], ttlMs: number): Promise<string[]> {
    return this.inner.tokens(gens, ttlMs)
  }

  /**
   * A purge: drops the near copies here at once, then resolves once Redis acknowledged the new
   * tokens and this instance's tracker has received their invalidation (`sync`): by then Redis
   * has sent it to every instance's tracker.
   */
  async bump(gens: readonly string[], ttlMs: number): Promise<void> {
    for (const g of gens) this.#invalidate(g)
    await this.inner.bump(gens, ttlMs)
    await this.sync()
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    this.#invalidate(key)
    return this.inner.set(key, value, ttlMs)
  }

  delete(keys: readonly string[]): Promise<number> {
    for (const k of keys) this.#invalidate(k)
    return this.inner.delete(keys)
  }

  acquire(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.inner.acquire(key, token, ttlMs)
  }

  release(key: string, token: string): Promise<void> {
    return this.inner.release(key, token)
  }

  /** Waits for the data connection, then (within the same budget) for tracking. */
  async waitReady(ms: number): Promise<boolean> {
    const started = performance.now()
    const ready = await this.inner.waitReady(ms)
    if (ready) await this.waitTracking(ms - (performance.now() - started))
    return ready
  }

  /** Resolves true once tracking is on (near copies served), false when `ms` passes first. */
  waitTracking(ms: number): Promise<boolean> {
    if (this.#up) return Promise.resolve(true)
    if (this.#closed) return Promise.resolve(false)
    let waiter: () => void
    const up = new Promise<boolean>((resolve) => {
      waiter = () => resolve(this.#up)
      this.#waiters.push(waiter)
    })
    return within(up, Math.max(0, ms), () => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter)
      return false
    })
  }

  /**
   * Resolves once every invalidation Redis sent this instance before now has been applied: a
   * PING on the tracker, whose reply Redis queues after them on the same connection. At once
   * while tracking is off (nothing is held then). Never rejects: a PING that fails or is not
   * answered within a second turns tracking off (the near cache is flushed and bypassed).
   */
  sync(): Promise<void> {
    if (!this.#up) return RESOLVED
    const session = this.#session
    return this.#tracker.ping().then(nothing, (err: Error) => this.#lost(session, err))
  }

  checkEviction(): Promise<string | undefined> {
    return this.inner.checkEviction()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#heartbeat)
    this.#flush()
    this.#up = false
    for (const w of this.#waiters.splice(0)) w()
    ;(this.inner.client as Redis).off('close', this.#onDataClose)
    const t = this.#tracker
    t.off('ready', this.#onTrackerReady)
    t.off('messageBuffer', this.#onMessage)
    // the 'error' listener stays: a late socket error must not crash anyone
    if (t.status === 'ready') await within(t.quit(), 1000, () => undefined).catch(() => undefined)
    if (t.status !== 'end') t.disconnect()
    await this.inner.close()
  }

  /**
   * A read that missed the near cache: sent to Redis, and what it returns is kept only if
   * nothing could have changed it unseen in the meantime (see the module comment).
   */
  async #fetch(key: string, gens: readonly string[]): Promise<[Buffer | undefined, (string | undefined)[]]> {
    this.#stats.misses++
    const epoch = this.#epoch
    this.#begin(key)
    for (const g of gens) this.#begin(g)
    let reply: [Buffer | undefined, (string | undefined)[]]
    try {
      reply = await this.inner.getWithTokens(key, gens)
    } catch (err) {
      this.#end(key)
      for (const g of gens) this.#end(g)
      throw err
    }
    const keep = this.#up && epoch === this.#epoch
    let [value] = reply
    const tokens = reply[1]
    if (value !== undefined) {
      // a reply Buffer may be a view into the socket's chunk: hold a copy that owns its memory
      value = owned(value)
      if (keep && !this.#dirty.has(key)) this.#lru.set(key, value)
    }
    this.#end(key)
    for (let i = 0; i < gens.length; i++) {
      const g = gens[i]!
      const t = tokens[i]
      if (keep && t !== undefined && !this.#dirty.has(g)) this.#lru.set(g, t)
      this.#end(g)
    }
    return [value, tokens]
  }

  #begin(key: string): void {
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1)
  }

  #end(key: string): void {
    const n = (this.#pending.get(key) ?? 1) - 1
    if (n > 0) {
      this.#pending.set(key, n)
    } else {
      this.#pending.delete(key)
      this.#dirty.delete(key)
    }
  }

  #invalidate(key: string): void {
    this.#lru.delete(key)
    if (this.#pending.has(key)) this.#dirty.add(key)
  }

  /** Drop every near copy; reads in flight keep nothing. */
  #flush(): void {
    this.#epoch++
    if (this.#lru.size > 0) this.#lru.clear()
    this.#stats.flushes++
  }

  #down(why: string): void {
    const was = this.#up
    this.#up = false
    this.#flush()
    if (was && !this.#closed) {
      this.#log('warn', `redis store near cache: ${why}; bypassed until tracking is back`)
    }
  }

  #onTrackerReady = (): void => {
    const session = this.#session
    const t = this.#tracker
    const enable = async () => {
      const id = await t.call('CLIENT', 'ID')
      await t.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'BCAST', 'PREFIX', this.#prefix)
      await t.subscribe(CHANNEL)
    }
    within(enable(), ENABLE_TIMEOUT_MS, () => {
      throw new Error(`enabling tracking gave up after ${ENABLE_TIMEOUT_MS} ms`)
    }).then(
      () => {
        if (this.#closed || session !== this.#session) return
        // whatever was held before is from an earlier, unwatched time
        this.#flush()
        this.#up = true
        this.#log('info', 'redis store near cache: tracking on')
        for (const w of this.#waiters.splice(0)) w()
      },
      (err: Error) => {
        if (this.#closed || session !== this.#session) return
        // e.g. an ACL without CLIENT TRACKING, or Redis < 6: the near cache stays off (reads go
        // to Redis) and a fresh connection tries again a little later
        this.#warn(`redis store near cache: tracking not enabled (${err.message}); bypassed, retrying`)
        setTimeout(() => {
          if (!this.#closed && session === this.#session) t.disconnect(true)
        }, ENABLE_RETRY_MS).unref()
      },
    )
  }

  #onTrackerClose = (): void => {
    this.#session++
    this.#down('tracking connection closed')
  }

  #onTrackerError = (err: Error): void => {
    this.#log('debug', `redis store near cache: tracking connection: ${err?.message ?? String(err)}`)
  }

  #onDataClose = (): void => {
    // the data connection may come back on another server (DNS, a proxy): start from nothing
    this.#flush()
  }

  // biome-ignore lint/suspicious/noExplicitAny: a Pub/Sub payload: an array of key Buffers, or null for a flush
  #onMessage = (channel: Buffer, payload: any): void => {
    if (channel.toString() !== CHANNEL) return
    if (!Array.isArray(payload)) {
      // FLUSHALL / FLUSHDB (a null payload)
      this.#flush()
      return
    }
    for (const k of payload) {
      this.#stats.invalidations++
      this.#invalidate(k.toString())
    }
  }

  #beat = (): void => {
    if (!this.#up || this.#beating) return
    this.#beating = true
    this.sync().then(() => {
      this.#beating = false
    })
  }

  /** The tracker did not answer: whatever it missed is unknown, so start again from nothing. */
  #lost(session: number, err: Error): void {
    if (this.#closed || session !== this.#session) return
    this.#session++
    this.#down(`tracking connection did not answer (${err.message})`)
    this.#tracker.disconnect(true)
  }
}

const NO_GENS: readonly string[] = Object.freeze([])

function valueOnly(r: [Buffer | undefined, (string | undefined)[]]): Buffer | undefined {
  return r[0]
}
