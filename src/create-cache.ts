/**
 * The composition root: load → compile → store → middleware; reload(), explain(), close().
 */
import { EventEmitter } from 'node:events'
import type { Middleware } from 'koa'
import { createAdmin } from './admin/admin.js'
import type { AdminOptions } from './admin/options.js'
import { formatOne, PolicyError, StoreTimeoutError, warnOnce } from './errors.js'
import { GEN_TTL } from './generation/keys.js'
import { type PurgeRequest, type PurgeResult, purgeGens } from './generation/purge.js'
import { SharedGens } from './generation/shared.js'
import { errorText, type Log, type LogFields, rateLimited, toLog } from './log.js'
import { CacheCounters } from './metrics/counters.js'
import { type PromRegistry, register } from './metrics/prom-client.js'
import { families, toText } from './metrics/prometheus.js'
import { snapshot } from './metrics/snapshot.js'
import type { CacheStats } from './metrics/stats.js'
import { type PurgeMessage, purgeChannel } from './metrics/trace.js'
import { checkOptionNames } from './option-names.js'
import { CREATE_CACHE_OPTIONS, type CreateCacheOptions, NAME_PATTERN } from './options.js'
import { loadPolicySet, type PolicySource } from './policy/load.js'
import { loadForReload, type PolicyWatcher, watchPolicies } from './policy/reload.js'
import type { Diagnostic } from './policy/types.js'
import { buildPolicySet, type PolicySet } from './policy-set.js'
import { type ExplainRequest, type Explanation, explain } from './request/explain.js'
import { createMiddleware } from './request/middleware.js'
import { type Metrics, newMetrics, type Runtime } from './runtime.js'
import { STEP_MASK, turn } from './steps.js'
import { createStore } from './store/create.js'
import type { Store } from './store/types.js'

export type ReloadResult =
  | {
      readonly ok: true
      readonly version: string
      readonly changed: boolean
      readonly warnings: readonly Diagnostic[]
    }
  | { readonly ok: false; readonly errors: readonly Diagnostic[]; readonly version: string }

/** What a `"reload"` listener receives. */
export interface ReloadEvent {
  /** the version of the policy set in force after the reload */
  readonly version: string
  /** false when the files gave the set already in force */
  readonly changed: boolean
}

/** The events of a Cache, each with its listener's arguments; any other name is a type error. */
export interface CacheEvents {
  /** a reload (watched or called) that applied the files, or found them unchanged */
  reload: [event: ReloadEvent]
  /**
   * a reload that failed: the set in force stays, and `error.diagnostics` say why (file:line:col).
   * Emitted only when someone listens, as Koa does: an unheard one is logged, never thrown.
   */
  error: [error: PolicyError]
}

type CacheListener<E extends keyof CacheEvents> = (...args: CacheEvents[E]) => void

export interface Cache extends EventEmitter {
  on<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  once<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  off<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  addListener<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  removeListener<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  prependListener<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  prependOnceListener<E extends keyof CacheEvents>(event: E, listener: CacheListener<E>): this
  /** the cache's name (Cache-Status, metrics, key namespace) */
  readonly name: string
  /** the version of the policy set in force */
  readonly version: string
  readonly store: Store
  /** the Koa middleware; may be mounted on several apps */
  middleware(): Middleware
  /** load → validate → compile → swap. Never throws for bad files: `{ ok: false, errors }` keeps the last good set. */
  reload(): Promise<ReloadResult>
  /** which rule, which key, and why, through the middleware's own decision code */
  explain(req: ExplainRequest): Explanation
  /**
   * Resolves once the purge is recorded in the store, so that no instance serves a covered entry
   * afterwards; rejects when it could not be recorded (store down). See README "How purge works".
   */
  purge(what: PurgeRequest): Promise<PurgeResult>
  /**
   * the optional admin routes (off unless you mount them; mount before middleware()): under
   * `options.path` (default `/_cachet`) the status console, its stats, Prometheus metrics, explain
   * and purge; `POST <path>` itself purges. See README "The console".
   */
  admin(options: AdminOptions): Middleware
  /** counters since start, for the whole cache */
  metrics(): Readonly<Metrics>
  /**
   * Per-rule outcomes, bypass and not-stored reasons, store health and read latency, reloads:
   * one JSON-ready snapshot (README "Observability"). A rule keeps its counts across reloads
   * while its id stays.
   */
  stats(): CacheStats
  /**
   * The Prometheus text exposition (format 0.0.4; serve it as
   * `text/plain; version=0.0.4; charset=utf-8`) of `stats()`: README "Observability" lists
   * every metric. No dependency.
   */
  prometheus(): string
  /**
   * Registers cachet's metrics as collectors of your prom-client Registry (prom-client 14 or 15),
   * read at scrape time; several caches may share one Registry (the `cache` label tells them
   * apart). `close()` removes this cache from it.
   *
   * @example
   * import { Registry } from 'prom-client'
   * const registry = new Registry()
   * cache.prometheus({ registry })
   * router.get('/metrics', async (ctx) => { ctx.type = registry.contentType; ctx.body = await registry.metrics() })
   */
  prometheus(options: { registry: PromRegistry }): void
  /** stops watchers, timers and the store connections it owns; the process can exit */
  close(): Promise<void>
}

/**
 * @internal `cachet serve --workers` (cli/worker.ts) only, and not exported from the package: an
 * option under this symbol (no option name, so no plain caller meets it) makes the cache load its
 * first set from a snapshot and report the files of every set it loads.
 */
export const kPolicySources = Symbol('cachet.policySources')

/** @internal What {@link kPolicySources} holds. */
export interface PolicySourcesHook {
  /** the first set is loaded from these, not from the files (a replacement runs the fleet's set) */
  readonly initial?: readonly PolicySource[] | undefined
  /** a load gave a good set (the first, or a reload applied or unchanged): its files, as read */
  loaded(sources: readonly PolicySource[], version: string): void
}

/**
 * Loads the policies, connects the store and returns the cache.
 * Rejects (PolicyError, with file:line:col) when the initial policies are invalid; never because
 * the store is down: it then runs as misses and keeps reconnecting.
 *
 * @example
 * const cache = await createCache({ policies: 'policies', store: process.env.REDIS_URL })
 * app.use(cache.middleware())
 */
export async function createCache(options: CreateCacheOptions = {}): Promise<Cache> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`createCache takes an options object, got ${String(options)}`)
  checkOptionNames(options, CREATE_CACHE_OPTIONS, 'createCache')
  const name = options.name ?? 'cachet'
  if (typeof name !== 'string' || !NAME_PATTERN.test(name))
    throw new TypeError(
      `name option must match ${NAME_PATTERN} (it becomes a key prefix and a Cache-Status token), got ${JSON.stringify(name)}`,
    )
  const target = options.policies ?? 'policies'
  const log = toLog(options.logger, name)
  const clock = options.clock ?? Date

  const hook = (options as { [kPolicySources]?: PolicySourcesHook })[kPolicySources]
  const read: PolicySource[] | undefined = hook === undefined ? undefined : []
  const first = (await loadPolicySet(target, {}, true, { from: hook?.initial, read })).result
  if (!first.ok) throw new PolicyError([...first.errors, ...first.warnings])
  if (hook !== undefined) hook.loaded(read!, first.version)
  for (const w of first.warnings) log.warn(formatOne(w), policyWarning(w))

  const readDeadlineMs = options.readDeadlineMs ?? 250
  const created = createStore(options.store, {
    name,
    log: (level, m, fields) => log[level](m, fields),
    readDeadlineMs,
    clock: options.clock,
  })
  const owned = created.owned
  const store = created.store
  const cache = new CacheImpl({
    name,
    target,
    hook,
    set: await buildPolicySet(first),
    store,
    owned,
    log,
    clock,
    coalesceWaitMs: options.coalesceWaitMs ?? 5000,
    lockTtlMs: options.lockTtlMs ?? 10_000,
    readDeadlineMs,
  })
  await cache.connect(options.connectDeadlineMs ?? 1000)
  if (options.watch) cache.watch(options.watchDebounceMs ?? 100)
  return cache
}

class CacheImpl extends EventEmitter implements Cache {
  readonly name: string
  readonly store: Store
  readonly #target: string | readonly string[]
  readonly #hook: PolicySourcesHook | undefined
  readonly #owned: boolean
  readonly #log: Log
  readonly #rt: Runtime
  #watcher: PolicyWatcher | undefined
  #reloading: Promise<ReloadResult> | undefined
  #again = false
  #closed = false
  readonly #unregister: (() => void)[] = []

  constructor(opts: {
    name: string
    target: string | readonly string[]
    hook: PolicySourcesHook | undefined
    set: PolicySet
    store: Store
    owned: boolean
    log: Log
    clock: { now(): number }
    coalesceWaitMs: number
    lockTtlMs: number
    readDeadlineMs: number
  }) {
    super()
    const { name, target, set, store, owned, log, clock } = opts
    this.name = name
    this.store = store
    this.#target = target
    this.#hook = opts.hook
    this.#owned = owned
    this.#log = log
    const metrics = newMetrics()
    const counters = new CacheCounters()
    const logStoreError = rateLimited<{ timeout: boolean; error: string }>((m, suppressed, f) =>
      log.warn(m, { event: 'store-error', outcome: 'miss', ...f, suppressed }),
    )
    this.#rt = {
      name,
      store,
      policies: { current: set },
      metrics,
      counters,
      now: () => clock.now(),
      onStoreError: (err: unknown) => {
        metrics.storeErrors++
        if (err instanceof StoreTimeoutError) counters.storeTimeouts++
        else counters.storeErrors++
        const error = errorText(err)
        logStoreError(`store error (served as a miss): ${error}`, {
          timeout: err instanceof StoreTimeoutError,
          error,
        })
      },
      log,
      coalesceWaitMs: opts.coalesceWaitMs,
      readDeadlineMs: opts.readDeadlineMs,
      lockTtlMs: opts.lockTtlMs,
      sharedGens: store.kind === 'memory' ? undefined : new SharedGens(store),
    }
  }

  get version(): string {
    return this.#rt.policies.current.version
  }

  /** Waits a short while for the store; a store that is down only means misses. */
  async connect(deadlineMs: number): Promise<void> {
    const s = this.store
    if (typeof s.waitReady !== 'function') return
    const ready = await s.waitReady(deadlineMs)
    if (!ready) {
      this.#log.warn(
        `store (${s.kind}) not reachable within ${deadlineMs} ms: serving as misses while it reconnects`,
        { event: 'store-unreachable', store: s.kind, deadlineMs },
      )
      return
    }
    if (typeof s.checkEviction === 'function') {
      const warning = await s.checkEviction().catch(() => undefined)
      if (warning) {
        warnOnce('CACHET_REDIS_NO_EVICTION', warning)
        // a structured log gets it too (plain loggers keep today's lines: the process warning)
        if (this.#log.structured)
          this.#log.warn(warning, { event: 'redis-config', store: s.kind, code: 'CACHET_REDIS_NO_EVICTION' })
      }
    }
  }

  middleware(): Middleware {
    return createMiddleware(this.#rt) as Middleware
  }

  reload(): Promise<ReloadResult> {
    // Serialise: a reload storm runs at most one load at a time plus one more with the latest files (T70).
    if (this.#reloading) {
      this.#again = true
      return this.#reloading
    }
    const run = async (): Promise<ReloadResult> => {
      let result: ReloadResult
      do {
        this.#again = false
        result = await this.#reloadOnce()
      } while (this.#again && !this.#closed)
      return result
    }
    this.#reloading = run().finally(() => {
      this.#reloading = undefined
    })
    return this.#reloading
  }

  async #reloadOnce(): Promise<ReloadResult> {
    const rt = this.#rt
    let loaded
    const read: PolicySource[] | undefined = this.#hook === undefined ? undefined : []
    try {
      loaded = await loadForReload(this.#target, rt.policies.current.files, read)
    } catch (err) {
      loaded = {
        ok: false as const,
        warnings: [],
        errors: [
          {
            code: 'POLICY_READ',
            severity: 'error' as const,
            file: String(this.#target),
            line: 0,
            col: 0,
            message: err instanceof Error ? err.message : String(err),
          },
        ],
      }
    }
    if (!loaded.ok) {
      rt.metrics.reloadFailures++
      rt.counters.reloadsFailed++
      const first = loaded.errors.find((e) => e.severity === 'error') ?? loaded.errors[0]
      rt.counters.lastReloadError = {
        message: first?.message ?? 'reload failed',
        file: first?.file ?? String(this.#target),
        line: first?.line ?? 0,
        col: first?.col ?? 0,
        at: new Date().toISOString(),
      }
      const msg = `policy reload failed; keeping version ${rt.policies.current.version}:\n${loaded.errors.map(formatOne).join('\n')}`
      this.#log.error(msg, {
        event: 'reload',
        outcome: 'failed',
        version: rt.policies.current.version,
        errors: loaded.errors.map(diagnosticFields),
      })
      // koa's rule: an unheard "error" must not crash the application
      if (this.listenerCount('error') > 0) this.emit('error', new PolicyError(loaded.errors))
      return { ok: false, errors: loaded.errors, version: rt.policies.current.version }
    }
    const changed = loaded.version !== rt.policies.current.version
    rt.counters.lastReloadError = null
    this.#hook?.loaded(read!, loaded.version)
    if (changed) {
      // built aside (each rule that keeps its id keeps its counters), then the one atomic swap
      rt.policies.current = await buildPolicySet(loaded, rt.policies.current)
      rt.metrics.reloads++
      rt.counters.reloadsApplied++
      this.#log.info(`policies reloaded: version ${loaded.version}, ${loaded.rules.length} rules`, {
        event: 'reload',
        outcome: 'applied',
        version: loaded.version,
        rules: loaded.rules.length,
        files: loaded.files.length,
      })
    } else {
      rt.counters.reloadsUnchanged++
      this.#log.debug(`policies unchanged: version ${loaded.version}`, {
        event: 'reload',
        outcome: 'unchanged',
        version: loaded.version,
      })
    }
    // 100k rules may bring tens of thousands of warnings: logged a few hundred at a time
    const warnings = loaded.warnings
    for (let i = 0; i < warnings.length; i++) {
      if ((i & STEP_MASK) === STEP_MASK) await turn()
      this.#log.warn(formatOne(warnings[i]!), policyWarning(warnings[i]!))
    }
    this.emit('reload', { version: loaded.version, changed } satisfies ReloadEvent)
    return { ok: true, version: loaded.version, changed, warnings: loaded.warnings }
  }

  /** Reloads after policy files change: ConfigMap swaps, folder swaps and editors' saves (policy/reload.ts). */
  watch(debounceMs: number): void {
    this.#watcher ??= watchPolicies(this.#target, {
      debounceMs,
      log: this.#log,
      onChange: () => {
        void this.reload()
      },
    })
  }

  async purge(what: PurgeRequest): Promise<PurgeResult> {
    const gens = purgeGens(this.#rt.policies.current, this.name, what)
    if (gens.length > 0) await this.store.bump(gens, GEN_TTL)
    const shared = this.#rt.sharedGens
    if (shared !== undefined && (what.all === true || (what.rules?.length ?? 0) > 0)) {
      // namespace and rule tokens are held by each instance for a moment (shared-gens.ts): wait
      // that long, so that when this resolves no instance can still serve a covered entry
      shared.forget(gens)
      await new Promise((res) => {
        setTimeout(res, shared.ttlMs + 50)
      })
    }
    this.#rt.metrics.purges++
    this.#rt.counters.purges++
    if (purgeChannel.hasSubscribers) {
      const message: PurgeMessage = {
        cache: this.name,
        source: 'purge',
        tags: what.tags ?? [],
        urls: what.urls ?? [],
        rules: what.rules ?? [],
        all: what.all === true,
        generations: gens.length,
      }
      purgeChannel.publish(message)
    }
    return {
      tags: what.tags?.length ?? 0,
      urls: what.urls?.length ?? 0,
      rules: what.rules?.length ?? 0,
      all: what.all === true,
      generations: gens.length,
    }
  }

  admin(options: AdminOptions): Middleware {
    return createAdmin(
      {
        purge: (w) => this.purge(w),
        explain: (r) => this.explain(r),
        stats: () => this.stats(),
        prometheus: () => this.prometheus(),
      },
      options,
    ) as Middleware
  }

  explain(req: ExplainRequest): Explanation {
    return explain(this.#rt.policies.current, this.name, req)
  }

  metrics(): Readonly<Metrics> {
    return { ...this.#rt.metrics }
  }

  stats(): CacheStats {
    const rt = this.#rt
    return snapshot(this.name, rt.policies.current, rt.counters, this.store)
  }

  prometheus(): string
  prometheus(options: { registry: PromRegistry }): void
  prometheus(options?: { registry: PromRegistry }): string | undefined {
    if (options === undefined) return toText(families([this.stats()]))
    if (typeof options !== 'object' || options === null || !('registry' in options))
      throw new TypeError(
        'prometheus() takes no argument (the text), or { registry } (a prom-client Registry)',
      )
    this.#unregister.push(register(options.registry, () => this.stats()))
    return undefined
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const u of this.#unregister.splice(0)) u()
    this.#watcher?.close()
    if (this.#reloading) await this.#reloading.catch(() => undefined)
    if (this.#owned) await this.store.close()
  }
}

/** A policy diagnostic as log fields: where, which code, which rule. */
function diagnosticFields(d: Diagnostic): {
  code: string
  severity: string
  file: string
  line: number
  col: number
  rule?: string
  message: string
} {
  return {
    code: d.code,
    severity: d.severity,
    file: d.file,
    line: d.line,
    col: d.col,
    ...(d.ruleId !== undefined ? { rule: d.ruleId } : {}),
    message: d.message,
  }
}

/** A lint finding as a log event. */
function policyWarning(d: Diagnostic): LogFields {
  return { event: 'policy-warning', ...diagnosticFields(d) }
}
