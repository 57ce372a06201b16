/**
 * The one small interface every store implements: the embedded LRU, Redis (one server, Cluster,
 * Sentinel) or a user's own. Values are opaque bytes (see `entry.ts`); a store never parses them.
 *
 * Contract (checked by `test/store/contract.ts` against every implementation):
 * - `get` resolves `undefined` for a missing or expired key; it may reject (the caller treats a
 *   rejection or a deadline overrun as a miss).
 * - `set` writes the whole value with its lifetime in one step: no reader ever sees half an entry.
 *   A ttl of 0 or less removes the key.
 * - `delete` removes keys; keys may live on different Cluster slots, the store splits as needed.
 * - `close` releases connections and timers so the process can exit.
 *
 * Generation tokens (purge that holds under eviction, see README "How purge works"): a token is
 * an opaque random string stored under a generation key (`<name>:g:…`). An entry records the
 * tokens of its generation keys as they were before the origin was asked; it is served only while
 * every one of them is still present and unchanged. A purge replaces tokens; eviction or expiry
 * of a token key only makes it absent. Either way the entry is never served again.
 */
export interface Store {
  /** "memory", "redis", "cluster" or the user's own */
  readonly kind: string
  /** true while the store can answer (Redis: connection ready); cheap, read on the hot path */
  readonly ready: boolean
  /**
   * Optional: true when `get` / `getWithTokens` hand back the very Buffer held for an unchanged
   * value (the memory store, the near cache), so a decoded entry may be memoised by identity.
   */
  readonly stableValues?: boolean
  get(key: string): Promise<Buffer | undefined>
  set(key: string, value: Buffer, ttlMs: number): Promise<void>
  delete(keys: readonly string[]): Promise<number>
  close(): Promise<void>

  /**
   * hot path: the value at `key` and the current token of each generation key (undefined where
   * absent), in one round trip where the store allows (Cluster: parallel, one per node).
   * Rejects like `get`.
   */
  getWithTokens(
    key: string,
    gens: readonly string[],
  ): Promise<[value: Buffer | undefined, tokens: (string | undefined)[]]>
  /**
   * Optional, hot path: what `getWithTokens` would resolve with, synchronously, when the store
   * holds all of it in process (the memory store always; the near cache on a near hit), so that
   * a hit costs no promise; undefined when it cannot answer so (then `getWithTokens` is called).
   * Must have no effect beyond what `getWithTokens` has (recency, counts of a near hit).
   */
  peekWithTokens?(
    key: string,
    gens: readonly string[],
  ): [value: Buffer | undefined, tokens: (string | undefined)[]] | undefined
  /**
   * The current token of each generation key, creating a fresh random one where absent
   * (atomically per key: concurrent callers agree), and extending each key's life to at least
   * `ttlMs`, never shortening it: a tag token shared by many entries must live as long as the
   * longest-lived of them. cachet asks for a short life before a fetch and extends it to cover
   * the entry when storing it (README "How purge works"). Rejects when the store cannot answer.
   */
  tokens(gens: readonly string[], ttlMs: number): Promise<string[]>
  /**
   * A purge: gives every generation key a fresh random token with life `ttlMs`. Resolves only
   * once every write is acknowledged; rejects otherwise (never claims a success it did not have).
   */
  bump(gens: readonly string[], ttlMs: number): Promise<void>
  /** `SET key token NX PX ttl`: true when this caller now holds the lock. Rejects when the store cannot answer. */
  acquire(key: string, token: string, ttlMs: number): Promise<boolean>
  /** Releases the lock only if `token` still holds it (compare-and-delete). Never rejects. */
  release(key: string, token: string): Promise<void>

  /**
   * Optional, for stores that connect: resolves true once the store can answer, false when `ms`
   * passes first; never rejects. createCache waits on it briefly at startup and carries on either
   * way (a store that is down only means misses).
   */
  waitReady?(ms: number): Promise<boolean>
  /**
   * Optional: describes a server setting that is wrong for a cache (Redis without eviction), or
   * undefined when all is well or it cannot tell. createCache warns once with it.
   */
  checkEviction?(): Promise<string | undefined>
}

/** The least a user's own store must implement; `completeStore` (store/create.ts) adds the rest. */
export type BasicStore = Pick<Store, 'get' | 'set' | 'delete' | 'close'> & {
  readonly kind?: string
  readonly ready?: boolean
}
