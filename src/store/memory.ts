/**
 * The embedded store: one lru-cache per process, bounded by bytes (never by entry count: one
 * 5 MB response must weigh as much as 5,000 small ones). Always "ready"; values are returned as
 * stored, without a copy: entries are immutable encoded bytes (see `entry.ts`).
 */
import { LRUCache } from 'lru-cache'
import type { Store } from './types.js'

const MiB = 1024 * 1024

export interface MemoryStoreOptions {
  /**
   * Upper bound on the bytes held: each entry weighs `value.length + key.length`. Least recently
   * used entries are evicted first; an entry larger than the whole bound is not stored.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number
  /** Time source for TTLs (tests inject one). @default performance */
  clock?: { now(): number }
}

export interface MemoryStoreStats {
  entries: number
  bytes: number
}

export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly ready = true
  readonly maxBytes: number
  #lru: LRUCache<string, Buffer>

  constructor(opts: MemoryStoreOptions = {}) {
    const maxBytes = opts.maxBytes ?? 64 * MiB
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new TypeError(`store.memory.maxBytes option must be a positive integer, got ${String(opts.maxBytes)}`)
    }
    if (opts.clock !== undefined && typeof opts.clock?.now !== 'function') {
      throw new TypeError('store.memory.clock option must have a now() function')
    }
    this.maxBytes = maxBytes
    const clock = opts.clock
    this.#lru = new LRUCache<string, Buffer>({
      maxSize: maxBytes,
      // lru-cache wants a positive integer; an empty value under an empty key still costs a slot
      sizeCalculation: (value, key) => value.length + key.length || 1,
      // An injected clock is read on every check (tests step it); the default caches `now` for
      // 1 ms, lru-cache's own trade-off for the hot path.
      ...(clock ? { perf: { now: () => clock.now() }, ttlResolution: 0 } : {}),
    })
  }

  // hot path: one Map lookup plus a staleness check inside lru-cache
  get(key: string): Promise<Buffer | undefined> {
    return Promise.resolve(this.#lru.get(key))
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    // ttl 0 means "forever" to lru-cache; for us a lifetime that is already over means "gone"
    if (!(ttlMs > 0)) this.#lru.delete(key)
    else this.#lru.set(key, value, { ttl: Math.ceil(ttlMs) })
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

  close(): Promise<void> {
    this.#lru.clear()
    return Promise.resolve()
  }

  get stats(): MemoryStoreStats {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }
}
