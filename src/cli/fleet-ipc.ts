/**
 * The messages between `cachet serve --workers N`'s primary (workers.ts) and its workers
 * (worker.ts), over node:cluster's IPC channel (JSON serialisation), and the one request/reply
 * helper both sides use. Every message carries `cachet: <kind>`, so that it is never mistaken
 * for node:cluster's own.
 *
 * worker → primary: `hello` (its store and handler exist: purges may be relayed to it from now
 * on), `start` (what to load: the fleet's policy set, for a worker that replaces one),
 * `listening`, `failed` (startServe threw), `bump` (relay a purge to the other workers),
 * `reply`. primary → worker: `bump` (a purge relayed from another worker), `reload`, `stats`,
 * `explain`, `purge`, `stop`, `reply`.
 */
import type { PolicySource } from '../policy/load.js'

/** The environment variable that makes a forked `cachet serve` a worker, with its slot (1…N). */
export const WORKER_ENV = 'CACHET_SERVE_WORKER'

/** Longest wait for every other worker to acknowledge a relayed purge, ms: past it the purge fails. */
export const BUMP_DEADLINE_MS = 5000

export type FleetRequest =
  | { readonly cachet: 'bump'; readonly id: number; readonly gens: readonly string[]; readonly ttlMs: number }
  /** `sources`: answer with the files of the set loaded (the primary keeps the fleet's set) */
  | { readonly cachet: 'reload'; readonly id: number; readonly sources?: boolean }
  | { readonly cachet: 'start'; readonly id: number }
  | { readonly cachet: 'stats'; readonly id: number }
  | { readonly cachet: 'explain'; readonly id: number; readonly req: unknown }
  | { readonly cachet: 'purge'; readonly id: number; readonly what: unknown }

export type FleetReply =
  | { readonly cachet: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly cachet: 'reply'
      readonly id: number
      readonly ok: false
      readonly error: string
      /** "TypeError": the request was malformed (the admin answers 400, not 503) */
      readonly type: string
    }

export type WorkerMessage =
  | { readonly cachet: 'hello' }
  | {
      readonly cachet: 'listening'
      readonly url: string
      readonly store: string
      readonly version: string
      /** the files of the set it loaded, when the primary's `start` answer asked for them */
      readonly sources?: FleetPolicies
    }
  | { readonly cachet: 'failed'; readonly code: number; readonly message: string }
  | FleetRequest
  | FleetReply

export type PrimaryMessage = FleetRequest | FleetReply | { readonly cachet: 'stop' }

/** The fleet's policy set, as the files one worker loaded it from (names and contents). */
export interface FleetPolicies {
  readonly version: string
  readonly files: readonly PolicySource[]
}

/** What the primary answers to `start`. */
export interface WorkerStart {
  /** load these instead of the files (a replacement: the fleet's last good set); null: the files */
  readonly policies: FleetPolicies | null
  /** send the files loaded with `listening` (the primary keeps them as the fleet's set) */
  readonly report: boolean
  /** log the startup warnings (policy lint, limits): one worker does, for the fleet */
  readonly warn: boolean
}

/** What a worker answers to `reload`: the cache's ReloadResult, plus the log line it withheld. */
export interface WorkerReload {
  readonly ok: boolean
  readonly changed: boolean
  readonly version: string
  /** the errors formatted (file:line:col: message) */
  readonly errors: readonly string[]
  /** the JSON `reload` line the worker's cache wrote, withheld so that the primary writes it once */
  readonly line?: string
  /** the files of the set now in force, when the request asked (and the reload succeeded) */
  readonly sources?: FleetPolicies
}

export function isCachetMessage(m: unknown): m is { cachet: string } {
  return typeof m === 'object' && m !== null && typeof (m as { cachet?: unknown }).cachet === 'string'
}

/** A reply's error as the caller sees it: a TypeError stays one (a malformed request). */
export function replyError(r: Extract<FleetReply, { ok: false }>): Error {
  return r.type === 'TypeError' ? new TypeError(r.error) : new Error(r.error)
}

/** The reply to request `id`: the value, or the error (its type kept: a TypeError is the caller's mistake). */
export async function answerRequest(id: number, run: () => unknown): Promise<FleetReply> {
  try {
    return { cachet: 'reply', id, ok: true, value: await run() }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    return { cachet: 'reply', id, ok: false, error: e.message, type: e.name }
  }
}

/**
 * Requests sent over one channel, each settled by the reply carrying its id or rejected after
 * its deadline (a late reply is then dropped), or all at once when the channel goes away.
 */
export class Calls {
  #next = 1
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>()

  /** Sends `make(id)` with `send` and resolves with the reply's value; `late` names what did not come. */
  call(
    send: (m: FleetRequest) => boolean | undefined,
    make: (id: number) => FleetRequest,
    timeoutMs: number,
    late: string,
  ): Promise<unknown> {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${late} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, { resolve, reject, timer })
      try {
        send(make(id))
      } catch (err) {
        this.settle({ cachet: 'reply', id, ok: false, error: (err as Error).message, type: 'Error' })
      }
    })
  }

  /** Settles the call the reply answers; false when none waits for it (late, or not ours). */
  settle(r: FleetReply): boolean {
    const p = this.#pending.get(r.id)
    if (p === undefined) return false
    this.#pending.delete(r.id)
    clearTimeout(p.timer)
    if (r.ok) p.resolve(r.value)
    else p.reject(replyError(r))
    return true
  }

  /** Rejects every call in flight (the channel closed), or resolves them with `value` when given. */
  endAll(err: Error, value?: { readonly value: unknown }): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id)
      clearTimeout(p.timer)
      if (value !== undefined) p.resolve(value.value)
      else p.reject(err)
    }
  }
}
