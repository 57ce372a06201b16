/**
 * One worker of `cachet serve --workers N` (workers.ts is the primary). A worker is the same
 * `cachet serve` as a single process, less the admin listener (the primary's), with:
 *
 * - a fleet memory store (without `--redis`): its own memory store whose purges (`bump`, which
 *   every purge path ends in: `cache.purge`, the admin endpoint, RFC 9111 §4.4 invalidation after
 *   an unsafe method) are relayed through the primary to every other worker, and resolve only
 *   once each has acknowledged, so that a purge that resolves holds for the whole server;
 * - the policy set it starts from asked of the primary first (`start`): a worker that replaces
 *   one that died loads the fleet's set (the files as the fleet loaded them), not what the files
 *   hold now, which may be an edit the fleet refused, or one not reloaded yet; and every set it
 *   loads is reported when the primary asks, so that the primary keeps the fleet's set;
 * - its log lines bound to `worker: <slot>`; a reload's line withheld and handed to the primary,
 *   which writes one for the fleet; the startup and reload warnings (policy lint) written by one
 *   worker only, the one the primary names (N copies of each said nothing more);
 * - the primary's requests answered over IPC: reload, stats, explain, purge, stop.
 *
 * SIGTERM and SIGINT sent to the worker itself (Ctrl-C reaches the whole process group) drain it
 * as the primary's `stop` does; SIGHUP is the primary's to relay, and is ignored here.
 */
import cluster from 'node:cluster'
import type { Cache, PolicySourcesHook } from '../create-cache.js'
import { alreadyWarned, formatOne } from '../errors.js'
import type { PurgeRequest } from '../generation/purge.js'
import type { Logger } from '../options.js'
import type { ExplainRequest } from '../request/explain.js'
import { MemoryStore } from '../store/memory.js'
import { EVICTION_WARNING_CODE } from '../store/redis.js'
import {
  answerRequest,
  BUMP_DEADLINE_MS,
  Calls,
  type FleetPolicies,
  type FleetReply,
  isCachetMessage,
  type PrimaryMessage,
  WORKER_ENV,
  type WorkerMessage,
  type WorkerReload,
  type WorkerStart,
} from './fleet-ipc.js'
import { EXIT_OK } from './io.js'

/** This process's slot (1…N) when a `cachet serve --workers N` primary forked it; else undefined. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined
  const v = process.env[WORKER_ENV]
  return v !== undefined && /^[1-9]\d*$/.test(v) ? Number(v) : undefined
}

/**
 * A memory store whose purges reach every worker: this one's tokens first, then the others'
 * through the primary. It rejects when any other worker did not acknowledge in time (or the
 * primary is gone): the purge is then reported failed, never as a success it was not.
 */
export class FleetMemoryStore extends MemoryStore {
  readonly #relay: (gens: readonly string[], ttlMs: number) => Promise<void>

  constructor(relay: (gens: readonly string[], ttlMs: number) => Promise<void>) {
    super()
    this.#relay = relay
  }

  override async bump(gens: readonly string[], ttlMs: number): Promise<void> {
    await super.bump(gens, ttlMs)
    await this.#relay(gens, ttlMs)
  }

  /** A purge relayed from another worker: this store's tokens only. */
  bumpHere(gens: readonly string[], ttlMs: number): Promise<void> {
    return super.bump(gens, ttlMs)
  }
}

/** What the worker serves: startServe's answer, as much of it as the worker uses. */
export interface WorkerServing {
  readonly url: string
  readonly cache: Cache
  stop(): Promise<void>
}

function send(m: WorkerMessage): void {
  // the channel closes when the primary goes: node:cluster then ends the worker itself
  if (process.connected) process.send?.(m, undefined, undefined, () => {})
}

/**
 * Which warnings a worker drops: none; every one (starting up, when another worker writes them
 * for the fleet); or the policy lint's (reloading, when another one writes them).
 */
type Mute = 'none' | 'all' | 'policy'

/** Whether a JSON log line (jsonLogger's: `time`, then `level`) is a warning `mute` drops. */
function mutedLine(mute: Mute, line: string): boolean {
  if (mute === 'none' || !line.startsWith('"level":"warn"', line.indexOf(',') + 1)) return false
  return mute === 'all' || line.includes('"event":"policy-warning"')
}

/** Whether a plain warning (the text log's) is one `mute` drops: a policy's reads `<where>: warning: …`. */
function mutedText(mute: Mute, message: string): boolean {
  return mute === 'all' || (mute === 'policy' && message.includes(': warning: '))
}

/** What a worker does when the primary cannot say (it went): the files, and its own warnings. */
const ALONE: WorkerStart = { policies: null, report: false, warn: true }

/** Whether a JSON log line is the cache's `reload` event. */
function isReloadLine(line: string): boolean {
  if (!line.includes('"reload"')) return false
  try {
    return (JSON.parse(line) as { event?: unknown }).event === 'reload'
  } catch {
    return false
  }
}

export class FleetWorker {
  readonly slot: number
  /** the store to serve from without --redis (created before anything can be stored) */
  readonly store: FleetMemoryStore
  readonly #calls = new Calls()
  #serving: WorkerServing | undefined
  #reloadLines: string[] | undefined
  #start: WorkerStart = ALONE
  #mute: Mute = 'none'
  /** the files of the set last loaded, until they are sent (or known not to be wanted) */
  #loaded: FleetPolicies | undefined
  #stopRequested = false
  #stop: (() => void) | undefined

  /** Attaches the IPC handler and says hello: from now on purges are relayed to this worker. */
  constructor(slot: number) {
    this.slot = slot
    this.store = new FleetMemoryStore((gens, ttlMs) => this.#relay(gens, ttlMs))
    process.on('message', this.#onMessage)
    send({ cachet: 'hello' })
  }

  /**
   * Asks the primary what to start from (before anything is loaded): the fleet's policy set or
   * the files, whether to report the files loaded, whether to write the startup warnings.
   */
  async begin(): Promise<void> {
    try {
      this.#start = (await this.#calls.call(
        (m) => process.send?.(m),
        (id) => ({ cachet: 'start', id }),
        BUMP_DEADLINE_MS,
        'the primary did not say what to start from',
      )) as WorkerStart
    } catch {
      this.#start = ALONE
    }
    this.#mute = this.#start.warn ? 'none' : 'all'
    // the process warnings a store writes on connecting (Redis that does not evict) come from
    // every worker's own store: the worker that writes the fleet's warnings writes them once
    if (!this.#start.warn) alreadyWarned(EVICTION_WARNING_CODE)
  }

  /** The cache's policy hook: the first set from the fleet's, when the primary gave one. */
  policySources(): PolicySourcesHook {
    return {
      initial: this.#start.policies?.files,
      loaded: (files, version) => {
        this.#loaded = { version, files }
      },
    }
  }

  /** The JSON log's write: a `reload` line is withheld while a reload the primary asked for runs. */
  logWrite(out: { write(s: string): unknown }): (line: string) => void {
    return (line) => {
      if (mutedLine(this.#mute, line)) return
      if (this.#reloadLines !== undefined && isReloadLine(line)) this.#reloadLines.push(line)
      else out.write(line)
    }
  }

  /** `logger`'s (the text log's), its warnings dropped while muted. */
  textLogger(logger: Logger): Logger {
    return {
      error: (m) => logger.error(m),
      warn: (m) => (mutedText(this.#mute, m) ? undefined : logger.warn(m)),
      info: (m) => logger.info(m),
      debug: (m) => logger.debug(m),
    }
  }

  /** Whether the command's own warnings (its `say`) are dropped now: while starting, unless this worker warns for the fleet. */
  get muted(): boolean {
    return this.#mute === 'all'
  }

  /** startServe failed: the primary reports it (once for the fleet) and exits with `code`. */
  failed(code: number, message: string): number {
    send({ cachet: 'failed', code, message })
    this.#end()
    return code
  }

  /** Serves until the primary's `stop` (or SIGTERM / SIGINT), drains, and answers the exit code. */
  async serve(s: WorkerServing): Promise<number> {
    this.#serving = s
    const sources = this.#start.report ? this.#loaded : undefined
    this.#loaded = undefined
    this.#mute = 'none'
    send({
      cachet: 'listening',
      url: s.url,
      store: s.cache.store.kind,
      version: s.cache.version,
      ...(sources !== undefined ? { sources } : {}),
    })
    const ignore = () => {}
    process.on('SIGHUP', ignore)
    await new Promise<void>((res) => {
      this.#stop = res
      process.once('SIGTERM', res)
      process.once('SIGINT', res)
      if (this.#stopRequested) res()
    })
    await s.stop()
    process.off('SIGHUP', ignore)
    await this.store.close()
    this.#end()
    return EXIT_OK
  }

  #end(): void {
    process.off('message', this.#onMessage)
    this.#calls.endAll(new Error('the worker stopped'))
    // closes the IPC channel: with nothing else open the process exits, with process.exitCode
    if (cluster.worker?.isConnected()) cluster.worker.disconnect()
  }

  #relay(gens: readonly string[], ttlMs: number): Promise<void> {
    if (!process.connected)
      return Promise.reject(
        new Error('the cachet serve primary is gone: the purge could not reach the other workers'),
      )
    return this.#calls
      .call(
        (m) => process.send?.(m),
        (id) => ({ cachet: 'bump', id, gens, ttlMs }),
        BUMP_DEADLINE_MS + 1000,
        'the primary did not confirm that every worker recorded the purge',
      )
      .then(() => undefined)
  }

  readonly #onMessage = (m: unknown): void => {
    if (!isCachetMessage(m)) return
    const msg = m as PrimaryMessage
    switch (msg.cachet) {
      case 'reply':
        this.#calls.settle(msg)
        return
      case 'stop':
        this.#stopRequested = true
        this.#stop?.()
        return
      case 'bump':
        // the store exists from the start: a relayed purge is recorded even before listening
        void this.#answer(msg.id, () => this.store.bumpHere(msg.gens, msg.ttlMs).then(() => null))
        return
      default: {
        const s = this.#serving
        if (s === undefined) {
          void this.#answer(msg.id, () => {
            throw new Error(`worker ${this.slot} is not listening yet`)
          })
          return
        }
        if (msg.cachet === 'reload')
          void this.#answer(msg.id, () => this.#reload(s.cache, msg.sources === true))
        else if (msg.cachet === 'stats') void this.#answer(msg.id, () => s.cache.stats())
        else if (msg.cachet === 'explain')
          void this.#answer(msg.id, () => s.cache.explain(msg.req as ExplainRequest))
        else if (msg.cachet === 'purge')
          void this.#answer(msg.id, () => s.cache.purge(msg.what as PurgeRequest))
      }
    }
  }

  async #answer(id: number, run: () => unknown): Promise<void> {
    const reply: FleetReply = await answerRequest(id, run)
    send(reply)
  }

  /** `lead`: this worker reports the files loaded and writes the reload's warnings for the fleet. */
  async #reload(cache: Cache, lead: boolean): Promise<WorkerReload> {
    const lines: string[] = []
    this.#reloadLines = lines
    this.#mute = lead ? 'none' : 'policy'
    this.#loaded = undefined
    try {
      const r = await cache.reload()
      const sources = lead && r.ok ? this.#loaded : undefined
      return {
        ok: r.ok,
        changed: r.ok && r.changed,
        version: r.version,
        errors: r.ok ? [] : r.errors.map(formatOne),
        ...(lines[0] !== undefined ? { line: lines[0] } : {}),
        ...(sources !== undefined ? { sources } : {}),
      }
    } finally {
      this.#reloadLines = undefined
      this.#loaded = undefined
      this.#mute = 'none'
    }
  }
}
