/**
 * The store read of a lookup: the entry for this request (following a Vary index), and the
 * current tokens of every generation key it depends on, checked against the ones it recorded.
 * Only this module knows which generation keys come from where: on a shared store the namespace
 * and rule tokens are held per instance (generation/shared.ts), the URL and tag ones are read
 * with the entry in the same round trip.
 */
import { FETCH_GEN_TTL_MS, GEN_TTL, sameTokens, tagGen } from '../generation/keys.js'
import { variantKey, varyValues } from '../key/variant.js'
import type { Runtime } from '../runtime.js'
import { type Headers, type LookupDecision, requestField } from './decide.js'
import { decodeEntry, type Entry } from './entry.js'

const NO_GENS: readonly string[] = Object.freeze([])
/** bound of each per-instance memo below; cleared whole when full (cheap, and only a hint) */
const MEMO_MAX = 10_000

export interface Read {
  /** the entry to serve or revalidate; undefined: none, or one that was purged */
  readonly entry: Entry | undefined
  /** the primary key held a Vary index but not this request's variant */
  readonly varyMiss: boolean
  /** the current token of each of the lookup's generation keys, in `d.gens` order (undefined: absent) */
  readonly tokens: readonly (string | undefined)[]
}

/**
 * hot path: the store read of a lookup, failing open: undefined when the store is not ready or
 * the read failed (counted, and reported through rt.onStoreError), never a rejection. The read's
 * latency goes to the histogram. Shared by the middleware and `cachet serve`'s hits (raw.ts).
 */
export async function readFailOpen(
  rt: Runtime,
  lookup: Lookup,
  d: LookupDecision,
  headers: Headers,
  readAt: number,
): Promise<Read | undefined> {
  const counters = rt.counters
  if (!rt.store.ready) {
    counters.storeUnavailable++
    return undefined
  }
  let r: Read | undefined
  try {
    r = await lookup.read(d, headers)
    counters.readFailing = false
  } catch (err) {
    rt.onStoreError(err)
    counters.readFailing = true
  }
  counters.read.observe((performance.now() - readAt) / 1000)
  return r
}

/** peekFailOpen could not answer synchronously: call readFailOpen. */
export const NOT_NOW = Symbol('cachet.notNow')

/**
 * hot path: readFailOpen without a promise, when the store holds the answer in process
 * (Lookup.peek); NOT_NOW when it does not. Counts exactly as readFailOpen does.
 */
export function peekFailOpen(
  rt: Runtime,
  lookup: Lookup,
  d: LookupDecision,
  headers: Headers,
  readAt: number,
): Read | undefined | typeof NOT_NOW {
  const counters = rt.counters
  if (!rt.store.ready) {
    counters.storeUnavailable++
    return undefined
  }
  let r: Read | undefined
  try {
    r = lookup.peek(d, headers)
    if (r === undefined) return NOT_NOW
    counters.readFailing = false
  } catch (err) {
    rt.onStoreError(err)
    counters.readFailing = true
  }
  counters.read.observe((performance.now() - readAt) / 1000)
  return r
}

export class Lookup {
  readonly #rt: Runtime
  /** the memory store and the near cache hand back the Buffer they hold: decoded entries are memoised by identity */
  readonly #memoise: boolean
  /**
   * primary key → the Vary names its index held last time: a hit on a Vary'd URL then reads its
   * variant and tokens in one round trip instead of two (index, then variant). Only a hint: a
   * wrong or stale one costs the second read, never a wrong answer.
   */
  readonly #varyHints = new Map<string, readonly string[]>()
  /** primary key + varied values → variant key: a repeated variant is hashed once */
  readonly #variantKeys = new Map<string, string>()

  constructor(rt: Runtime) {
    this.#rt = rt
    this.#memoise = rt.store.kind === 'memory' || rt.store.stableValues === true
  }

  /**
   * hot path: the entry for this request, if present and not purged. Rejects when the store does.
   * `headers`: the request's (`req.headers`, key.normalize's rewrites applied), for its Vary match.
   */
  async read(d: LookupDecision, headers: Headers): Promise<Read> {
    const hint = this.#varyHints.get(d.key)
    let entry: Entry | undefined
    let tokens: (string | undefined)[]
    let varyMiss = false
    if (hint !== undefined) {
      const vkey = this.#variantOf(d, hint, headers)
      const [vbuf, t] = await this.#getWithTokens(vkey, d)
      entry = vbuf === undefined ? undefined : this.#decode(vkey, vbuf)
      tokens = t
      if (entry === undefined || entry.kind !== 'response') {
        this.#varyHints.delete(d.key)
        return this.read(d, headers)
      }
    } else {
      const [buf, t] = await this.#getWithTokens(d.key, d)
      tokens = t
      entry = buf === undefined ? undefined : this.#decode(d.key, buf)
      if (entry !== undefined && entry.kind === 'vary') {
        const names = entry.varyNames ?? []
        if (this.#varyHints.size >= MEMO_MAX) this.#varyHints.clear()
        this.#varyHints.set(d.key, names)
        const vkey = this.#variantOf(d, names, headers)
        const [vbuf] = await this.#rt.store.getWithTokens(vkey, NO_GENS)
        entry = vbuf === undefined ? undefined : this.#decode(vkey, vbuf)
        if (entry === undefined || entry.kind === 'vary') {
          entry = undefined
          varyMiss = true
        }
      }
    }
    if (entry === undefined) return { entry, varyMiss, tokens }
    // (the header-tag check only when there are header tags: no extra promise on a plain hit)
    if (
      !sameTokens(entry.tokens, tokens) ||
      (entry.headerTags.length > 0 && !(await this.#headerTagsCurrent(entry)))
    ) {
      this.#rt.metrics.purgedSeen++
      return { entry: undefined, varyMiss: false, tokens }
    }
    return { entry, varyMiss, tokens }
  }

  /**
   * hot path: read()'s answer synchronously, when the store holds everything in process (the
   * memory store; the near cache on a near hit): no promise, no microtask on a hit. undefined
   * when it cannot answer so (no peekWithTokens, a near miss, a Vary index not hinted yet, a hint
   * gone stale, a corrupt value): then read() runs, and nothing was counted or changed here.
   */
  peek(d: LookupDecision, headers: Headers): Read | undefined {
    const store = this.#rt.store
    if (store.peekWithTokens === undefined) return undefined
    const hint = this.#varyHints.get(d.key)
    const key = hint === undefined ? d.key : this.#variantOf(d, hint, headers)
    const got = this.#peekWithTokens(key, d)
    if (got === undefined) return undefined
    const [buf, tokens] = got
    if (buf === undefined)
      return hint === undefined ? { entry: undefined, varyMiss: false, tokens } : undefined
    const entry = decodeEntry(buf, this.#memoise)
    if (entry === undefined || entry.kind !== 'response') return undefined
    let current = sameTokens(entry.tokens, tokens)
    if (current && entry.headerTags.length > 0) {
      const gens = entry.headerTags.map((t) => tagGen(this.#rt.name, t))
      const own = store.peekWithTokens(gens[0]!, gens)
      if (own === undefined) return undefined
      current = sameTokens(entry.headerTokens, own[1])
    }
    if (!current) {
      this.#rt.metrics.purgedSeen++
      return { entry: undefined, varyMiss: false, tokens }
    }
    return { entry, varyMiss: false, tokens }
  }

  /** #getWithTokens, synchronously (peek). */
  #peekWithTokens(key: string, d: LookupDecision): [Buffer | undefined, (string | undefined)[]] | undefined {
    const { store, sharedGens } = this.#rt
    if (sharedGens === undefined) return store.peekWithTokens!(key, d.gens)
    const a = sharedGens.peek(d.gens[0]!)
    const r = sharedGens.peek(d.gens[1]!)
    if (a === undefined || r === undefined) return undefined
    const got = store.peekWithTokens!(key, d.urlAndTagGens)
    return got === undefined ? undefined : [got[0], [a, r, ...got[1]]]
  }

  /**
   * The tokens a new entry records, read (created where absent) before the origin is asked. The
   * namespace and rule tokens get GEN_TTL; the URL and tag ones only FETCH_GEN_TTL_MS, and
   * storing the entry extends them to cover it (capture.ts): one URL's token must not outlive
   * what depends on it by a month (issue 12).
   */
  async tokensFor(d: LookupDecision): Promise<string[]> {
    const { store, sharedGens } = this.#rt
    const nsAndRule = [d.gens[0]!, d.gens[1]!]
    const [shared, own] = await Promise.all([
      sharedGens === undefined ? store.tokens(nsAndRule, GEN_TTL) : sharedGens.load(nsAndRule),
      store.tokens(d.urlAndTagGens, FETCH_GEN_TTL_MS),
    ])
    return [...shared, ...own]
  }

  /** hot path: the value at `key` and the current tokens of all of the lookup's generation keys. */
  #getWithTokens(key: string, d: LookupDecision): Promise<[Buffer | undefined, (string | undefined)[]]> {
    const { store, sharedGens } = this.#rt
    if (sharedGens === undefined) return store.getWithTokens(key, d.gens)
    const a = sharedGens.peek(d.gens[0]!)
    const r = sharedGens.peek(d.gens[1]!)
    if (a !== undefined && r !== undefined) {
      return store.getWithTokens(key, d.urlAndTagGens).then(([buf, t]) => [buf, [a, r, ...t]])
    }
    return Promise.all([
      store.getWithTokens(key, d.urlAndTagGens),
      sharedGens.load([d.gens[0]!, d.gens[1]!]),
    ]).then(([[buf, t], shared]) => [buf, [...shared, ...t]])
  }

  /** The response's own tags (Surrogate-Key / Cache-Tag) are still unpurged. */
  async #headerTagsCurrent(entry: Entry): Promise<boolean> {
    // only the tokens are wanted: the "value" read is the first token key itself (a few bytes),
    // not the entry a second time
    const gens = entry.headerTags.map((t) => tagGen(this.#rt.name, t))
    const [, current] = await this.#rt.store.getWithTokens(gens[0]!, gens)
    return sameTokens(entry.headerTokens, current)
  }

  #variantOf(d: LookupDecision, names: readonly string[], headers: Headers): string {
    // the primary key names the rule's version, and so its key.varyUnordered too
    let memoKey = d.key
    for (const n of names) memoKey += `\n${n}\n${requestField(headers, n)}`
    let v = this.#variantKeys.get(memoKey)
    if (v === undefined) {
      v = variantKey(
        d.key,
        varyValues(names, (n) => requestField(headers, n), d.rule.key.varyUnordered),
      )
      if (this.#variantKeys.size >= MEMO_MAX) this.#variantKeys.clear()
      this.#variantKeys.set(memoKey, v)
    }
    return v
  }

  /** A value that is not an entry of this version is a miss, and is removed (not awaited). */
  #decode(key: string, buf: Buffer): Entry | undefined {
    const e = decodeEntry(buf, this.#memoise)
    if (e === undefined) {
      this.#rt.metrics.corrupt++
      this.#rt.store.delete([key]).catch(this.#rt.onStoreError)
    }
    return e
  }
}
