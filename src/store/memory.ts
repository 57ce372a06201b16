/**
 * The embedded store: one lru-cache per process, bounded by bytes (never by entry count: one
 * 5 MB response must weigh as much as 5,000 small ones). Always "ready"; `get` returns the stored
 * Buffer itself, without a copy: entries are immutable encoded bytes (see `entry.ts`).
 *
 * The bound is on what the process really holds, not on the bytes the caller sees (issue 12:
 * counting key and value bytes only let a flood of small entries grow the process to ~5x the
 * bound). `entryCost` adds what V8 and lru-cache spend around them, and `set` copies a Buffer
 * that is a view into a larger ArrayBuffer (Node's 8 KiB allocation pool: `Buffer.from`,
 * `allocUnsafe` and small `concat`s share one), so that a stored entry never pins its
 * neighbours' garbage. Measured with bench/memory-flood.ts; README "Memory store bound" states
 * the factor.
 *
 * Generation tokens live in the same LRU as the entries, as strings, each with its own ttl: under
 * memory pressure a token may be evicted like any entry, which is safe by design (an absent token
 * makes every entry that recorded it a miss, types.ts). Locks live apart, in a Map, outside the
 * bound (one per miss in flight, expired ones swept): evicting a lock would only let a second
 * caller in, but nothing is gained by risking it.
 */
import { LRUCache } from 'lru-cache'
import { lifeMs, newToken } from './tokens.js'
import type { Store } from './types.js'

const MiB = 1024 * 1024
/** Sweep expired locks once the Map has grown past this (then past twice its live size). */
const LOCK_SWEEP_MIN = 1024

// What an entry costs beyond its own characters and bytes (Node 20 on x64, whose V8 does not
// compress pointers), rounded up from process.memoryUsage() over 100k entries of each kind:
/** lru-cache: a slot in its key Map and in 7 parallel arrays (key, value, next, prev, size, ttl, start) */
const ENTRY_OVERHEAD = 160
/** a V8 sequential string: 16 bytes of header, and the characters rounded up to 8 */
const STRING_OVERHEAD = 24
/**
 * a Buffer that owns its memory: Uint8Array and ArrayBuffer objects on the JS heap (~180), the
 * BackingStore, its extension and malloc's header outside it (~170)
 */
const BUFFER_OVERHEAD = 360
/** any character beyond Latin-1 makes V8 store the whole string with two bytes per character */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the class is every Latin-1 code unit, controls included
const WIDE = /[^\x00-\xff]/

/**
 * The bytes `key` and `value` cost the process while stored: what `maxBytes` bounds, and what
 * `stats.bytes` adds up.
 */
export function entryCost(key: string, value: Buffer | string): number {
  const v = typeof value === 'string' ? stringCost(value) : BUFFER_OVERHEAD + value.length
  return ENTRY_OVERHEAD + stringCost(key) + v
}

function stringCost(s: string): number {
  return STRING_OVERHEAD + (WIDE.test(s) ? 2 * s.length : s.length)
}

/**
 * `value` itself when it owns its ArrayBuffer; otherwise a copy that does. A view into Node's
 * shared pool would keep the whole 8 KiB slab alive, garbage and other entries' spent buffers
 * included, for as long as it stays in the LRU.
 */
export function owned(value: Buffer): Buffer {
  if (value.byteLength === value.buffer.byteLength) return value
  const copy = Buffer.allocUnsafeSlow(value.byteLength)
  value.copy(copy)
  return copy
}

export interface MemoryStoreOptions {
  /**
   * Upper bound on the bytes held, counted as the process pays for them (`entryCost`): each
   * entry weighs its key and value plus ~550 bytes of V8 and lru-cache overhead, each generation
   * token its key and token plus ~210. Least recently used entries and tokens are evicted first;
   * an entry larger than the whole bound is not stored. Under a flood the live heap grows by
   * about this much and RSS by at most about 3x this (README "Memory store bound").
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number
  /** Time source for TTLs and lock lifetimes (tests inject one). @default performance */
  clock?: { now(): number }
}

export interface MemoryStoreStats {
  entries: number
  bytes: number
}

interface Lock {
  token: string
  until: number
}

export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly ready = true
  readonly maxBytes: number
  // a string is a generation token, a Buffer an entry (or a token someone wrote with `set`)
  #lru: LRUCache<string, Buffer | string>
  #locks = new Map<string, Lock>()
  #nextSweep = LOCK_SWEEP_MIN
  #now: () => number

  constructor(opts: MemoryStoreOptions = {}) {
    const maxBytes = opts.maxBytes ?? 64 * MiB
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new TypeError(
        `store.memory.maxBytes option must be a positive integer, got ${String(opts.maxBytes)}`,
      )
    }
    if (opts.clock !== undefined && typeof opts.clock?.now !== 'function') {
      throw new TypeError('store.memory.clock option must have a now() function')
    }
    this.maxBytes = maxBytes
    const clock = opts.clock
    this.#now = clock ? () => clock.now() : () => performance.now()
    this.#lru = new LRUCache<string, Buffer | string>({
      maxSize: maxBytes,
      sizeCalculation: (value, key) => entryCost(key, value),
      // An injected clock is read on every check (tests step it); the default caches `now` for
      // 1 ms, lru-cache's own trade-off for the hot path.
      ...(clock ? { perf: { now: () => clock.now() }, ttlResolution: 0 } : {}),
    })
  }

  // hot path: one Map lookup plus a staleness check inside lru-cache
  get(key: string): Promise<Buffer | undefined> {
    const v = this.#lru.get(key)
    // a token read as a value: the same bytes Redis would return for it
    return Promise.resolve(typeof v === 'string' ? Buffer.from(v) : v)
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    // ttl 0 means "forever" to lru-cache; for us a lifetime that is already over means "gone"
    if (!(ttlMs > 0)) this.#lru.delete(key)
    else this.#lru.set(key, owned(value), { ttl: Math.ceil(ttlMs) })
    return Promise.resolve()
  }

  delete(keys: readonly string[]): Promise<number> {
    let n = 0
    for (const key of keys) {
      // `has` skips stale entries, so the count is what a reader could still have seen
      if (this.#lru.has(key)) n++
      this.#lru.delete(key)
    }
    return Promise.resolve(n)
  }

  // hot path: 1 + gens.length synchronous lookups; reading a token also keeps it recently used
  getWithTokens(key: string, gens: readonly string[]): Promise<[Buffer | undefined, (string | undefined)[]]> {
    return Promise.resolve(this.peekWithTokens(key, gens))
  }

  /** getWithTokens' answer without the promise: this store always has it at hand. */
  peekWithTokens(key: string, gens: readonly string[]): [Buffer | undefined, (string | undefined)[]] {
    const v = this.#lru.get(key)
    const tokens: (string | undefined)[] = new Array(gens.length)
    for (let i = 0; i < gens.length; i++) tokens[i] = this.#token(gens[i]!)
    return [typeof v === 'string' ? Buffer.from(v) : v, tokens]
  }

  /** Synchronous, hence atomic per key: concurrent callers in this process always agree. */
  tokens(gens: readonly string[], ttlMs: number): Promise<string[]> {
    const ttl = lifeMs(ttlMs)
    const out: string[] = new Array(gens.length)
    for (let i = 0; i < gens.length; i++) {
      const g = gens[i]!
      let t = this.#token(g)
      if (t === undefined) {
        t = newToken()
        this.#lru.set(g, t, { ttl })
      } else if (this.#lru.getRemainingTTL(g) < ttl) {
        // re-setting restarts the ttl clock: the life is extended, never shortened
        this.#lru.set(g, t, { ttl })
      }
      out[i] = t
    }
    return Promise.resolve(out)
  }

  bump(gens: readonly string[], ttlMs: number): Promise<void> {
    const ttl = lifeMs(ttlMs)
    for (const g of gens) this.#lru.set(g, newToken(Date.now()), { ttl })
    return Promise.resolve()
  }

  acquire(key: string, token: string, ttlMs: number): Promise<boolean> {
    const now = this.#now()
    const held = this.#locks.get(key)
    if (held !== undefined && held.until > now) return Promise.resolve(false)
    this.#locks.set(key, { token, until: now + lifeMs(ttlMs) })
    if (this.#locks.size >= this.#nextSweep) this.#sweep(now)
    return Promise.resolve(true)
  }

  release(key: string, token: string): Promise<void> {
    if (this.#locks.get(key)?.token === token) this.#locks.delete(key)
    return Promise.resolve()
  }

  close(): Promise<void> {
    this.#lru.clear()
    this.#locks.clear()
    return Promise.resolve()
  }

  get stats(): MemoryStoreStats {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }

  #token(gen: string): string | undefined {
    const t = this.#lru.get(gen)
    return typeof t === 'string' || t === undefined ? t : t.toString()
  }

  /**
   * A lock whose holder never released it (a crashed request) would otherwise stay in the Map:
   * drop the expired ones, amortised O(1) per acquire.
   */
  #sweep(now: number): void {
    for (const [key, lock] of this.#locks) if (lock.until <= now) this.#locks.delete(key)
    this.#nextSweep = Math.max(LOCK_SWEEP_MIN, this.#locks.size * 2)
  }
}
