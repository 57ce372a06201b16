/**
 * Generation tokens and lifetimes shared by every store implementation (memory, Redis, a user's
 * store completed by create.ts), so that tokens look alike wherever they were made.
 * `tokenTime` (generation/keys.ts) reads back the time `newToken` wrote.
 */
import { randomBytes } from 'node:crypto'

/**
 * A generation token: `<ms base36>.<random>`, the random part 128 bits in base64url (22
 * characters). The time is when a purge set it (`bump`), 0 when it was created on first use
 * (`tokens`): capture.ts uses it to refuse storing a response whose own Surrogate-Key tags were
 * purged while it was being fetched.
 */
export function newToken(purgedAt = 0): string {
  // join, not a template: V8 would keep a concatenation as a tree of three strings (~94 bytes on
  // the heap), join builds one flat string (~40); the memory store holds one per URL.
  return [purgedAt.toString(36), randomBytes(16).toString('base64url')].join('.')
}

/**
 * A lifetime in whole ms for a token or lock: at least 1, since 0 would mean "forever" to
 * lru-cache and `PX 0` is an error for Redis.
 */
export function lifeMs(ttlMs: number): number {
  return ttlMs >= 1 ? Math.ceil(ttlMs) : 1
}
