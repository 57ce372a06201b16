/**
 * The Koa middleware: first matching rule → bypass, hit, stale or miss → store.
 *
 *   lookup ──fresh──────────────▶ hit (downstream never runs)
 *     │ ──stale, in swr window──▶ serve stale now; one refresh after the response (RFC 5861 §3)
 *     │ ──stale──▶ conditional request downstream ─304─▶ refresh headers, serve stored body
 *     │                          ─5xx/throw, in sie window─▶ serve stale (RFC 5861 §4)
 *     └─miss──▶ coalesce: one origin call per key in this process, one per fleet via a lock
 *
 * Fail open: a store error, a deadline overrun or a corrupt entry is a miss; writes are started
 * after the application answered and never awaited, so the store never delays a response.
 */
import { randomBytes } from 'node:crypto'
import { finished } from 'node:stream'
import type { Context, Next } from 'koa'
import { decide, type Decision } from './decide.js'
import { decodeEntry, type Entry } from './entry.js'
import { appendStatus, fwdStatus, hitStatus } from '../http/cache-status.js'
import { capture, presetHeaders, type StorePlan } from './capture.js'
import { matchesVariant, storageKey, variantKey, varyValues } from '../key/variant.js'
import { GEN_TTL } from '../generation/keys.js'
import { connectionNames } from '../http/headers.js'
import { clearResponse, detach, serveEntry, ttlSeconds } from './respond.js'
import { tagGen } from '../generation/keys.js'
import type { Runtime } from '../runtime.js'
import { invalidateAfterUnsafe, isUnsafe } from '../generation/invalidate.js'
import { freshen, sameRepresentation, setValidators } from './revalidate.js'

type Lookup = Extract<Decision, { kind: 'lookup' }>

const NO_GENS: readonly string[] = Object.freeze([])

interface Read {
  entry: Entry | undefined
  /** the primary key held a Vary index but not this request's variant */
  varyMiss: boolean
  /** the generation tokens current at this read */
  tokens: readonly (string | undefined)[]
}

export function createMiddleware(rt: Runtime) {
  const { name, store, metrics, sharedGens } = rt
  /** in-process coalescing: primary key → the leader's stored entry (null: nothing usable) */
  const flights = new Map<string, Promise<Entry | null>>()
  const refreshing = new Set<string>()
  /** a store other instances share: coalesce across them with a lock */
  const shared = store.kind !== 'memory'
  const memoise = store.kind === 'memory'
  /**
   * primary key → the Vary names its index held last time: a hit on a Vary'd URL then reads its
   * variant and tokens in one round trip instead of two (index, then variant). Only a hint: a
   * wrong or stale one costs the second read, never a wrong answer.
   */
  const varyHints = new Map<string, readonly string[]>()
  /** primary key + varied values → variant key: a repeated variant is hashed once */
  const variantKeys = new Map<string, string>()
  function variantOf(key: string, names: readonly string[], ctx: Context): string {
    let memoKey = key
    for (const n of names) memoKey += `\n${n}\n${ctx.get(n)}`
    let v = variantKeys.get(memoKey)
    if (v === undefined) {
      v = variantKey(key, varyValues(names, (n) => ctx.get(n)))
      if (variantKeys.size >= 10_000) variantKeys.clear()
      variantKeys.set(memoKey, v)
    }
    return v
  }

  return async function cachet(ctx: Context, next: Next): Promise<void> {
    const set = rt.policies.current // read once: this request finishes under this set
    const conn = ctx.req.headers.connection
    // hop-by-hop fields named by Connection are dropped by any proxy downstream: drop them before
    // keying, so the key, the Vary match and the application all see the same request
    if (conn !== undefined && conn !== 'keep-alive' && conn !== 'close') dropConnectionNamed(ctx)
    const d = decide(set, name, ctx, ctx.req.headers)
    if (d.kind === 'pass') {
      if (!isUnsafe(ctx.method)) return next()
      await next()
      await invalidateAfterUnsafe(rt, ctx, set, undefined)
      return
    }
    if (d.kind === 'method') {
      metrics.method++
      await next()
      setStatus(ctx, fwdStatus(name, 'method'))
      if (isUnsafe(ctx.method)) await invalidateAfterUnsafe(rt, ctx, set, d)
      return
    }
    if (d.kind === 'bypass') {
      metrics.bypass++
      await next()
      setStatus(ctx, fwdStatus(name, 'bypass', { detail: d.detail }))
      return
    }

    // What the application sees: unkeyed query parameters and cookies removed (T04, T05).
    if (d.removedQuery) stripQuery(ctx, d.querystring)
    if (d.cookie !== undefined) {
      if (d.cookie === null) delete ctx.req.headers.cookie
      else ctx.req.headers.cookie = d.cookie
    }

    let r: Read | undefined
    if (store.ready) {
      try {
        r = await read(d, ctx)
      } catch (err) {
        rt.onStoreError(err)
      }
    }
    const now = rt.now()
    const entry = r?.entry
    if (entry !== undefined) {
      if (entry.expires > now) {
        metrics.hits++
        serveEntry(ctx, entry, now, hitStatus(name, ttlSeconds(entry, now)))
        return
      }
      if (now - entry.expires < entry.swr && ctx.method === 'GET') {
        // RFC 5861 §3: serve stale at once; one refresh runs after this response is sent
        metrics.staleServed++
        serveEntry(ctx, entry, now, hitStatus(name, ttlSeconds(entry, now)))
        scheduleRefresh(ctx, next, d, entry)
        return
      }
    }
    metrics.misses++
    await fetch(ctx, next, d, entry, r === undefined ? 'miss' : entry !== undefined ? 'stale' : r.varyMiss ? 'vary-miss' : 'uri-miss', r)
  }

  /**
   * hot path: the value at `key` and the current tokens of all of the lookup's generation keys.
   * On a shared store the namespace and rule tokens come from shared-gens.ts (see there).
   */
  function getWithTokens(key: string, d: Lookup): Promise<[Buffer | undefined, (string | undefined)[]]> {
    if (sharedGens === undefined) return store.getWithTokens(key, d.gens)
    const a = sharedGens.peek(d.gens[0]!)
    const r = sharedGens.peek(d.gens[1]!)
    if (a !== undefined && r !== undefined) {
      return store.getWithTokens(key, d.rest).then(([buf, t]) => [buf, [a, r, ...t]])
    }
    return Promise.all([store.getWithTokens(key, d.rest), sharedGens.load([d.gens[0]!, d.gens[1]!])])
      .then(([[buf, t], shared]) => [buf, [...shared, ...t]])
  }

  /** The tokens a new entry records, read (created where absent) before the origin is asked. */
  async function tokensFor(d: Lookup): Promise<string[]> {
    if (sharedGens === undefined) return store.tokens(d.gens, GEN_TTL)
    const [shared, rest] = await Promise.all([sharedGens.load([d.gens[0]!, d.gens[1]!]), store.tokens(d.rest, GEN_TTL)])
    return [...shared, ...rest]
  }

  /** hot path: the entry for this request (following a Vary index), if present and not purged. */
  async function read(d: Lookup, ctx: Context): Promise<Read> {
    const hint = varyHints.get(d.key)
    let entry: Entry | undefined
    let tokens: (string | undefined)[]
    let varyMiss = false
    if (hint !== undefined) {
      const vkey = variantOf(d.key, hint, ctx)
      const [vbuf, t] = await getWithTokens(vkey, d)
      entry = vbuf === undefined ? undefined : decode(vkey, vbuf)
      tokens = t
      if (entry === undefined || entry.kind !== 'response') { varyHints.delete(d.key); return read(d, ctx) }
    } else {
      const [buf, t] = await getWithTokens(d.key, d)
      tokens = t
      entry = buf === undefined ? undefined : decode(d.key, buf)
      if (entry !== undefined && entry.kind === 'vary') {
        const names = entry.varyNames ?? []
        if (varyHints.size >= 10_000) varyHints.clear()
        varyHints.set(d.key, names)
        const vkey = variantOf(d.key, names, ctx)
        const [vbuf] = await store.getWithTokens(vkey, NO_GENS)
        entry = vbuf === undefined ? undefined : decode(vkey, vbuf)
        if (entry === undefined || entry.kind === 'vary') { entry = undefined; varyMiss = true }
      }
    }
    if (entry === undefined) return { entry, varyMiss, tokens }
    // A purge replaced a token, or eviction removed one: never served again (README "How purge works")
    if (!sameTokens(entry.tokens, tokens)) {
      metrics.purgedSeen++
      return { entry: undefined, varyMiss: false, tokens }
    }
    if (entry.headerTags.length > 0) {
      // only the tokens are wanted: the "value" read is the first token key itself (a few bytes),
      // not the entry a second time
      const gens = entry.headerTags.map((t) => tagGen(name, t))
      const [, current] = await store.getWithTokens(gens[0]!, gens)
      if (!sameTokens(entry.headerTokens, current)) {
        metrics.purgedSeen++
        return { entry: undefined, varyMiss: false, tokens }
      }
    }
    return { entry, varyMiss, tokens }
  }

  function decode(key: string, buf: Buffer): Entry | undefined {
    const e = decodeEntry(buf, memoise)
    if (e === undefined) {
      metrics.corrupt++
      store.delete([key]).catch(rt.onStoreError)
    }
    return e
  }

  /** A miss or a stale entry that may not be served as is: ask the application (once per key). */
  async function fetch(ctx: Context, next: Next, d: Lookup, stale: Entry | undefined, fwd: string, r: Read | undefined): Promise<void> {
    const storeDown = r === undefined
    const detail = storeDown ? 'store-unavailable' : undefined
    // HEAD never creates the GET entry (T27): forward it and store nothing.
    if (ctx.method === 'HEAD') {
      await next()
      setStatus(ctx, fwdStatus(name, fwd, { detail }))
      return
    }

    let settle: ((e: Entry | null) => void) | undefined
    let lock: string | undefined
    const flight = flights.get(d.key)
    if (flight !== undefined) {
      // in-process coalescing, also while the store is down (T58: the origin stays protected)
      const e = await bounded(flight, rt.coalesceWaitMs)
      // usable only if it is fresh, matches this request's Vary, and no purge came between the
      // leader's fetch and this request's own read (its tokens are the current ones we saw)
      if (e != null && e.expires > rt.now() && usable(e, ctx) && (r === undefined || compatibleTokens(e.tokens, r.tokens))) {
        metrics.collapsed++
        serveEntry(ctx, e, rt.now(), fwdStatus(name, fwd, { collapsed: true, detail }))
        return
      }
      // the shared response turned out unusable here (uncacheable, other variant): ask ourselves (T59)
    } else {
      flights.set(d.key, new Promise<Entry | null>((res) => { settle = res }))
      if (shared && store.ready) {
        const token = randomBytes(12).toString('base64url')
        const got = await store.acquire(lockKey(d.key), token, rt.lockTtlMs).catch(() => true)
        if (got) lock = token
        else {
          const e = await awaitPeer(d, ctx)
          if (e !== undefined) {
            metrics.collapsed++
            finish(d.key, settle, e, undefined)
            serveEntry(ctx, e, rt.now(), fwdStatus(name, fwd, { collapsed: true }))
            return
          }
        }
      }
      if (stale === undefined && !storeDown) {
        // Read once more as the leader: a flight that finished between our read and now has
        // stored its entry (it settles only after the write), and must not be fetched again.
        const again = await read(d, ctx).catch(() => undefined)
        const e = again?.entry
        if (e !== undefined && e.expires > rt.now()) {
          metrics.collapsed++
          finish(d.key, settle, e, lock)
          serveEntry(ctx, e, rt.now(), hitStatus(name, ttlSeconds(e, rt.now())))
          return
        }
      }
    }

    // A read that failed does not mean a write will: try (with its own deadline) so that a slow
    // moment does not turn every leader into an uncached fetch.
    let tokens: readonly string[] | null = null
    if (store.ready) tokens = await tokensFor(d).catch((err) => { rt.onStoreError(err); return null })
    const fetchStart = rt.now()

    // Ask the application for a full response (so that it can be stored) or, with a stored
    // validator, for a 304 (RFC 9111 §4.3.1); the client's own validators are answered by us.
    const req = ctx.req
    const inm = req.headers['if-none-match']
    const ims = req.headers['if-modified-since']
    // revalidate only while the stale entry is still current: a purge since our read (new tokens)
    // means its body must not come back through a 304
    const validated = stale !== undefined && tokens !== null && sameTokens(stale.tokens, tokens) && setValidators(ctx, stale)
    if (!validated) { delete req.headers['if-none-match']; delete req.headers['if-modified-since'] }
    const preset = presetHeaders(ctx.res)
    let thrown: unknown
    try {
      await next()
    } catch (err) {
      thrown = err
    } finally {
      if (inm !== undefined) req.headers['if-none-match'] = inm; else delete req.headers['if-none-match']
      if (ims !== undefined) req.headers['if-modified-since'] = ims; else delete req.headers['if-modified-since']
    }
    const now = rt.now()
    const failed = thrown !== undefined || ctx.status >= 500
    if (stale !== undefined && failed) {
      if (now - stale.expires < stale.sie) {
        // RFC 5861 §4: the origin failed within the stale-if-error window: the stored response, not the error
        const status = thrown !== undefined ? errorStatus(thrown) : ctx.status
        if (thrown !== undefined) ctx.app.emit('error', thrown, ctx)
        metrics.staleIfError++
        clearResponse(ctx)
        serveEntry(ctx, stale, now, fwdStatus(name, 'stale', { fwdStatus: status }))
        finish(d.key, settle, null, lock)
        return
      }
    }
    if (thrown !== undefined) {
      finish(d.key, settle, null, lock)
      throw thrown
    }

    if (validated && ctx.status === 304) {
      if (!sameRepresentation(stale!, ctx)) {
        // §4.3.4: a 304 naming another representation must not update ours. The application
        // cannot be asked twice within one request: serve what we hold, as stale, and drop it so
        // that the next request fetches the current representation.
        clearResponse(ctx)
        store.delete([storageKey(d.key, stale!.variant)]).catch(rt.onStoreError)
        serveEntry(ctx, stale!, now, fwdStatus(name, 'stale', { fwdStatus: 304, detail: 'validator-mismatch' }))
        finish(d.key, settle, null, lock)
        return
      }
      // RFC 9111 §4.3.4: freshen the stored response with the 304's headers, keep its body
      const fresh = freshen(rt, ctx, d, stale!, tokens, now)
      clearResponse(ctx)
      metrics.revalidated++
      serveEntry(ctx, fresh.entry, now, fwdStatus(name, 'stale', { fwdStatus: 304, stored: fresh.stored }))
      finish(d.key, settle, fresh.stored ? fresh.entry : null, lock)
      return
    }

    // an error response is never stored over a good entry (RFC 5861 §4, spec "Freshness")
    const plan: StorePlan = { key: d.key, rule: d.rule, authorized: d.authorized, tokens: stale !== undefined && failed ? null : tokens, fetchStart, background: false, preset }
    let c
    try {
      c = capture(ctx, rt, plan)
    } catch (err) {
      // e.g. a JSON body that cannot be serialised: Koa will fail the same way; never leave the
      // flight (and the lock) hanging for every later request of this key
      finish(d.key, settle, null, lock)
      throw err
    }
    if (settle !== undefined || lock !== undefined) void c.entry.then((e) => finish(d.key, settle, e, lock))
    setStatus(ctx, fwdStatus(name, fwd, {
      fwdStatus: fwd === 'stale' ? ctx.status : undefined, stored: c.storable, detail,
    }))
    if ((inm !== undefined || ims !== undefined) && ctx.fresh) {
      // The client's validators match: it gets a 304. A body being stored is read to its end
      // first: Koa destroys a stream body once the response finishes, which would cut it short.
      if (c.tee !== undefined) {
        c.tee.resume()
        await c.entry
      }
      ctx.status = 304
    }
  }

  function finish(key: string, settle: ((e: Entry | null) => void) | undefined, e: Entry | null, lock: string | undefined): void {
    if (settle !== undefined) {
      settle(e)
      flights.delete(key)
    }
    if (lock !== undefined) void store.release(lockKey(key), lock)
  }

  /** Another instance holds the lock: wait (bounded) for its entry to appear, then go ourselves. */
  async function awaitPeer(d: Lookup, ctx: Context): Promise<Entry | undefined> {
    const deadline = rt.now() + rt.coalesceWaitMs
    let delay = 10
    while (rt.now() < deadline) {
      await sleep(delay)
      delay = Math.min(delay * 2, 100)
      try {
        const r = await read(d, ctx)
        if (r.entry !== undefined && r.entry.expires > rt.now()) return r.entry
      } catch {
        return undefined
      }
    }
    return undefined
  }

  /** After a stale response is sent: run downstream once more on a detached response, store the result. */
  function scheduleRefresh(ctx: Context, next: Next, d: Lookup, stale: Entry): void {
    if (refreshing.has(d.key) || flights.has(d.key)) return
    refreshing.add(d.key)
    // finished() also fires for a response that is already closed (a client that left early)
    finished(ctx.res, () => {
      void refresh(ctx, next, d, stale)
        .catch((err) => rt.log.warn(`background refresh of rule "${d.rule.id}" failed: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => refreshing.delete(d.key))
    })
  }

  async function refresh(ctx: Context, next: Next, d: Lookup, stale: Entry): Promise<void> {
    let lock: string | undefined
    if (shared) {
      const token = randomBytes(12).toString('base64url')
      if (!(await store.acquire(lockKey(d.key), token, rt.lockTtlMs))) return // another instance refreshes
      lock = token
    }
    try {
      metrics.refreshes++
      const tokens = await tokensFor(d)
      const fetchStart = rt.now()
      detach(ctx)
      // the cache's own request: the full representation, whatever the triggering client asked
      const h = ctx.req.headers
      delete h.range
      delete h['if-range']
      delete h['if-match']
      delete h['if-unmodified-since']
      const validated = sameTokens(stale.tokens, tokens) && setValidators(ctx, stale)
      if (!validated) { delete h['if-none-match']; delete h['if-modified-since'] }
      await next()
      const now = rt.now()
      if (validated && ctx.status === 304) {
        if (sameRepresentation(stale, ctx)) {
          freshen(rt, ctx, d, stale, tokens, now)
          metrics.revalidated++
        } else {
          store.delete([storageKey(d.key, stale.variant)]).catch(rt.onStoreError)
        }
        clearResponse(ctx)
      } else if (ctx.status < 500) {
        const c = capture(ctx, rt, { key: d.key, rule: d.rule, authorized: d.authorized, tokens, fetchStart, background: true })
        // nobody reads a body that is not being stored: release it (and the upstream connection)
        if (c.tee === undefined) clearResponse(ctx)
        await c.entry
      } else {
        // an error never overwrites a good entry (RFC 5861)
        clearResponse(ctx)
      }
    } finally {
      if (lock !== undefined) void store.release(lockKey(d.key), lock)
    }
  }


}

/**
 * The application must not see a removed parameter anywhere: not in ctx.query/ctx.querystring
 * (ctx.url), nor in ctx.originalUrl, ctx.href or ctx.URL, which canonical links are built from.
 */
function stripQuery(ctx: Context, querystring: string): void {
  ctx.querystring = querystring
  const orig = ctx.originalUrl
  const q = orig.indexOf('?')
  const rewritten = (q === -1 ? orig : orig.slice(0, q)) + (querystring === '' ? '' : `?${querystring}`)
  ctx.originalUrl = rewritten
  ctx.request.originalUrl = rewritten
  ;(ctx.request as unknown as { memoizedURL?: unknown }).memoizedURL = undefined
}

function dropConnectionNamed(ctx: Context): void {
  const h = ctx.req.headers
  for (const n of connectionNames(h.connection)) {
    if (n !== 'close' && n !== 'keep-alive' && n !== 'upgrade' && n !== 'host') delete h[n]
  }
}

function lockKey(key: string): string {
  return `${key}~lock`
}

function setStatus(ctx: Context, mine: string): void {
  ctx.set('Cache-Status', appendStatus(ctx.response.get('Cache-Status') || undefined, mine))
}

/**
 * A leader's entry may serve a request coalesced on it unless a token this request saw differs:
 * one absent at its read was created since (by the leader itself); one present and different
 * means a purge came in between.
 */
function compatibleTokens(recorded: readonly string[], seen: readonly (string | undefined)[]): boolean {
  if (recorded.length !== seen.length) return false
  for (let i = 0; i < recorded.length; i++) if (seen[i] !== undefined && seen[i] !== recorded[i]) return false
  return true
}

/** Every token the entry recorded is still there, unchanged. */
function sameTokens(recorded: readonly string[], current: readonly (string | undefined)[]): boolean {
  if (recorded.length !== current.length) return false
  for (let i = 0; i < recorded.length; i++) if (current[i] === undefined || current[i] !== recorded[i]) return false
  return true
}

function usable(e: Entry, ctx: Context): boolean {
  return e.variant === null || matchesVariant(e.variant, (n) => ctx.get(n))
}

function errorStatus(err: unknown): number {
  const s = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode
  return typeof s === 'number' && s >= 400 && s <= 599 ? s : 500
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout
  return Promise.race([p, new Promise<undefined>((res) => { timer = setTimeout(() => res(undefined), ms) })]).finally(() => clearTimeout(timer))
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => { setTimeout(res, ms) })
}

