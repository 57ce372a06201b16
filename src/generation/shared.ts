/**
 * The namespace and rule generation tokens (`<name>:g:a`, `<name>:g:r:<rule>`) are read by every
 * lookup. On a shared store, reading them from Redis on every hit would make two keys the
 * hottest of the whole cache (one Cluster node serving every request) and make an eviction of
 * either one a cache-wide miss storm. They only change on `purge({ all })` and
 * `purge({ rules })`, so each instance keeps them for a short while instead, and such a purge
 * waits that long before it resolves: when it returns, every instance has re-read them.
 *
 * The validity of a cached token runs from when its read *started*: a read that began before a
 * purge and answered after it is still discarded in time.
 */
import type { Store } from '../store/types.js'
import { GEN_TTL } from './keys.js'

export const SHARED_GEN_TTL_MS = 1000

export class SharedGens {
  readonly #store: Store
  readonly #ttl: number
  readonly #tokens = new Map<string, { token: string; until: number }>()
  readonly #pending = new Map<string, Promise<string>>()

  constructor(store: Store, ttlMs = SHARED_GEN_TTL_MS) {
    this.#store = store
    this.#ttl = ttlMs
  }

  /** hot path: the token, when known and recent enough; undefined otherwise. */
  peek(gen: string): string | undefined {
    const t = this.#tokens.get(gen)
    return t !== undefined && t.until > performance.now() ? t.token : undefined
  }

  /** The tokens of these keys, from memory when recent, else read (creating where absent, coalesced). */
  load(gens: readonly string[]): Promise<string[]> {
    return Promise.all(
      gens.map((g) => {
        const known = this.peek(g)
        if (known !== undefined) return known
        let p = this.#pending.get(g)
        if (p === undefined) {
          const started = performance.now()
          p = this.#store
            .tokens([g], GEN_TTL)
            .then(([token]) => {
              this.#tokens.set(g, { token: token!, until: started + this.#ttl })
              return token!
            })
            .finally(() => this.#pending.delete(g))
          this.#pending.set(g, p)
        }
        return p
      }),
    )
  }

  /** After this instance purged them: read them again at once. */
  forget(gens: readonly string[]): void {
    for (const g of gens) this.#tokens.delete(g)
  }

  /** How long a purge of these must wait so that no instance still holds an old token. */
  get ttlMs(): number {
    return this.#ttl
  }
}
