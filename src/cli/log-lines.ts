/**
 * `cachet serve`'s log: one JSON object per line (the default), or the text lines of old
 * (`--log-format text`). The JSON logger is pino-compatible (`child()`, methods taking an
 * object first, or a message alone), so the cache gives it structured events (log.ts).
 *
 *   {"time":"2026-12-03T14:00:00.000Z","level":"info","event":"reload","cache":"cachet",…,"msg":"…"}
 */
import type { Logger, LogLevel, StructuredLogger } from '../options.js'

const RANK: Record<LogLevel, number> = { error: 50, warn: 40, info: 30, debug: 20 }
export const LOG_LEVEL_NAMES: readonly LogLevel[] = ['error', 'warn', 'info', 'debug']

export type JsonLogger = StructuredLogger & Logger

/** Errors as their message (JSON.stringify would give `{}`), bigints as strings. */
function replacer(_key: string, v: unknown): unknown {
  if (v instanceof Error) return { type: v.name, message: v.message }
  if (typeof v === 'bigint') return String(v)
  return v
}

/**
 * A logger writing one JSON line per call at `level` and above: `time`, `level`, the bindings
 * (child()), the object's fields, then `msg`. A field that cannot be serialised (a cycle) is
 * replaced by a line saying so: logging never throws.
 */
export function jsonLogger(
  write: (line: string) => void,
  level: LogLevel = 'info',
  bindings: Readonly<Record<string, unknown>> = {},
  now: () => Date = () => new Date(),
): JsonLogger {
  const min = RANK[level]
  const at =
    (l: LogLevel) =>
    (a: object | string, msg?: string): void => {
      if (RANK[l] < min) return
      const fields = typeof a === 'string' ? {} : a
      const message = typeof a === 'string' ? a : msg
      const record = { time: now().toISOString(), level: l, ...bindings, ...fields, msg: message ?? '' }
      let line: string
      try {
        line = JSON.stringify(record, replacer)
      } catch (err) {
        line = JSON.stringify({ time: record.time, level: l, msg: message ?? '', logError: String(err) })
      }
      write(`${line}\n`)
    }
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (more) => jsonLogger(write, level, { ...bindings, ...more }, now),
  }
}

/** The access log's fields: one entry per request, once its response has gone out (or the client left). */
export interface AccessEntry {
  readonly method: string
  /** the path without the query (a query may carry tokens) */
  readonly path: string
  /** the request's HTTP version, e.g. "1.1" */
  readonly httpVersion: string
  /** the client's address, as the socket saw it (null once the socket is gone) */
  readonly remoteAddress: string | null
  readonly status: number
  /** the response's Content-Length; null when it had none (chunked) or for a HEAD */
  readonly bytes: number | null
  /** stats' outcome (hit, stale, miss, revalidated, collapsed, stale-if-error, bypass); null: no rule matched */
  readonly outcome: string | null
  /** the bypass reason, when the outcome is bypass */
  readonly reason: string | null
  readonly rule: string | null
  /** the response's Cache-Status field as sent, or null */
  readonly cacheStatus: string | null
  /** from the request reaching cachet serve to the response's end, ms (3 decimals) */
  readonly durationMs: number
  /** false: the connection closed before the response was complete */
  readonly completed: boolean
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (n: number) => (n < 10 ? `0${n}` : String(n))

/** Common Log Format's time: `[03/Dec/2026:14:24:13 +0000]` (UTC). */
export function clfTime(d: Date): string {
  return `[${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000]`
}

/**
 * The text form of an access entry: Common Log Format (what Apache, nginx and varnishncsa
 * write, so log tools read it as is), then the cache's fields:
 *
 *   127.0.0.1 - - [03/Dec/2026:14:24:13 +0000] "GET /products/42 HTTP/1.1" 200 945 hit rule=products 1.234ms
 *
 * A worker of `cachet serve --workers N` names itself after the rule, as the JSON line's
 * `worker` field does: `… hit rule=products worker=2 1.234ms`.
 */
export function accessLine(e: AccessEntry, at: Date = new Date(), worker?: number): string {
  const outcome = e.outcome === null ? '-' : e.reason !== null ? `${e.outcome}(${e.reason})` : e.outcome
  return `${e.remoteAddress ?? '-'} - - ${clfTime(at)} "${e.method} ${e.path} HTTP/${e.httpVersion}" ${e.status} ${e.bytes === null || e.bytes === 0 ? '-' : e.bytes} ${outcome} rule=${e.rule ?? '-'}${worker === undefined ? '' : ` worker=${worker}`} ${e.durationMs}ms${e.completed ? '' : ' aborted'}`
}
