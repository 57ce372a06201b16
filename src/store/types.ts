/**
 * The one small interface every store implements: the embedded LRU, Redis (one server, Cluster,
 * Sentinel) or a user's own. Values are opaque bytes (see `entry.ts`); a store never parses them.
 *
 * Contract (checked by `test/store/contract.ts` against every implementation):
 * - `get` resolves `undefined` for a missing or expired key; it may reject (the caller treats a
 *   rejection or a deadline overrun as a miss).
 * - `set` writes the whole value with its lifetime in one step: no reader ever sees half an entry.
 * - `delete` removes keys; keys may live on different Cluster slots, the store splits as needed.
 * - `close` releases connections and timers so the process can exit.
 */
export interface Store {
  /** "memory", "redis", "cluster" or the user's own */
  readonly kind: string
  /** true while the store can answer (Redis: connection ready); cheap, read on the hot path */
  readonly ready: boolean
  get(key: string): Promise<Buffer | undefined>
  set(key: string, value: Buffer, ttlMs: number): Promise<void>
  delete(keys: readonly string[]): Promise<number>
  close(): Promise<void>
}
