/**
 * Where cachet's own events go. The `logger` option is either a plain logger, whose methods take
 * one message string (console, or today's default: stderr), or a pino-compatible one (pino,
 * bunyan, anything with `child()`), whose methods take an object first: it gets one structured
 * object per event, `{ event, cache, rule?, outcome?, … }`, and the same text as its message.
 * The choice is made once, in createCache; the call sites only say the message and the fields.
 */
import { debuglog } from 'node:util'
import type { Logger, LogLevel, StructuredLogger } from './options.js'

const debug = debuglog('cachet')

export const defaultLogger: Logger = {
  error: (m) => {
    process.stderr.write(`cachet: error: ${m}\n`)
  },
  warn: (m) => {
    process.stderr.write(`cachet: warning: ${m}\n`)
  },
  info: (m) => debug('%s', m),
  debug: (m) => debug('%s', m),
}

/** What one event says besides its message: `event` names its kind (README "Logs" lists them). */
export interface LogFields {
  readonly event: string
  readonly [field: string]: unknown
}

/** One level: the message as the plain logger prints it, and the fields a structured one gets. */
export type LogFn = (message: string, fields?: LogFields) => void

/** cachet's internal logger: every call is one event (never the hit path). */
export interface Log {
  readonly error: LogFn
  readonly warn: LogFn
  readonly info: LogFn
  readonly debug: LogFn
  /** true when the application's logger takes objects (then fields are worth building) */
  readonly structured: boolean
}

export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['error', 'warn', 'info', 'debug'])

/** A logger with `child()` is taken as pino-compatible: its methods are called `(object, message)`. */
export function isStructured(logger: Logger | StructuredLogger): logger is StructuredLogger {
  return typeof (logger as { child?: unknown }).child === 'function'
}

/**
 * The `logger` option, checked (a TypeError names the missing method, at createCache rather
 * than at the first store error) and adapted: `cache` goes into every structured event.
 */
export function toLog(logger: Logger | StructuredLogger | undefined, cache: string): Log {
  const l = logger ?? defaultLogger
  if (typeof l !== 'object' || l === null)
    throw new TypeError(
      `logger option must be an object with error, warn, info and debug methods, got ${typeof l}`,
    )
  const missing = LOG_LEVELS.filter(
    (level) => typeof (l as unknown as Record<string, unknown>)[level] !== 'function',
  )
  if (missing.length > 0)
    throw new TypeError(
      `logger option must have error, warn, info and debug methods; missing: ${missing.join(', ')}`,
    )
  if (isStructured(l)) {
    // called as methods: pino's read `this`
    const at =
      (level: LogLevel): LogFn =>
      (message, fields) =>
        l[level]({ event: 'message', cache, ...fields }, message)
    return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), structured: true }
  }
  const plain = l as Logger
  return {
    error: (m) => plain.error(m),
    warn: (m) => plain.warn(m),
    info: (m) => plain.info(m),
    debug: (m) => plain.debug(m),
    structured: false,
  }
}

/** An error's message, for a log field. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Logs the first failure at once, then at most one line per interval: a dead store must not flood
 * the log. The line that ends a quiet interval says how many were left out (`suppressed`).
 */
export function rateLimited<F>(
  log: (m: string, suppressed: number, fields: F | undefined) => void,
  intervalMs = 10_000,
): (m: string, fields?: F) => void {
  let last = 0
  let suppressed = 0
  return (m, fields) => {
    const now = Date.now()
    if (now - last < intervalMs) {
      suppressed++
      return
    }
    log(suppressed > 0 ? `${m} (and ${suppressed} more since the last report)` : m, suppressed, fields)
    last = now
    suppressed = 0
  }
}
