/**
 * Bounds on what one rule may add to the store (issue 8, item 8; T12 key and variant floods):
 * `maxVariants` distinct Vary variants per URL, and `maxEntriesPerMinute` new entries per rule per
 * minute. Beyond either, the response is served and not stored (Cache-Status `detail=` says
 * which, metrics count it), so that `Vary: User-Agent` or `query: all` with random parameters
 * cannot flush the LRU. Both are counted per process: a fleet of N instances may store up to N
 * times as much, and the variants of a URL are remembered for the URLs seen most recently
 * (MAX_URLS), so the bound is approximate, never exceeded by more than that.
 */
import type { Rule } from '../policy/types.js'
import type { Runtime } from '../runtime.js'

/** URLs whose variants are remembered, per cache. */
const MAX_URLS = 10_000
const MINUTE = 60_000

class StoreLimits {
  /** primary key → the variant keys stored under it (insertion order: oldest URL first) */
  readonly #variants = new Map<string, Set<string>>()
  /** per rule object (a reload's new rules start afresh): the window's start and count */
  readonly #rates = new WeakMap<Rule, { start: number; n: number }>()

  /** Why a new entry must not be written, or undefined when it may. */
  admit(
    rule: Rule,
    key: string,
    variantKey: string | null,
    background: boolean,
    now: number,
  ): string | undefined {
    if (variantKey !== null) {
      let seen = this.#variants.get(key)
      if (seen === undefined) {
        if (this.#variants.size >= MAX_URLS)
          this.#variants.delete(this.#variants.keys().next().value as string)
        seen = new Set()
        this.#variants.set(key, seen)
      }
      if (!seen.has(variantKey)) {
        if (seen.size >= rule.maxVariants) return 'variant-cap'
        seen.add(variantKey)
      }
    }
    // a background refresh rewrites an entry that exists: not a new key
    if (rule.maxEntriesPerMinute > 0 && !background) {
      let w = this.#rates.get(rule)
      if (w === undefined || now - w.start >= MINUTE) {
        w = { start: now, n: 0 }
        this.#rates.set(rule, w)
      }
      if (w.n >= rule.maxEntriesPerMinute) return 'entry-rate'
      w.n++
    }
    return undefined
  }
}

const limits = new WeakMap<Runtime, StoreLimits>()

export function storeLimits(rt: Runtime): StoreLimits {
  let l = limits.get(rt)
  if (l === undefined) {
    l = new StoreLimits()
    limits.set(rt, l)
  }
  return l
}
