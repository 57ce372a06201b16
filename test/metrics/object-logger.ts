/**
 * A pino-compatible logger that keeps what it is given instead of writing it: methods taking an
 * object first (or a message alone), `child(bindings)` merging its bindings into every record, and
 * methods that read `this` as pino's do, so that a caller that detaches them (`const w = l.warn`)
 * fails here as it would with pino.
 */
export interface LogRecord {
  readonly level: 'error' | 'warn' | 'info' | 'debug'
  /** the bindings of child() loggers, then the object given */
  readonly obj: Record<string, unknown>
  readonly msg: string | undefined
}

const kRecords = Symbol('records')
const kBindings = Symbol('bindings')

export class ObjectLogger {
  readonly [kRecords]: LogRecord[]
  readonly [kBindings]: Record<string, unknown>

  constructor(records: LogRecord[] = [], bindings: Record<string, unknown> = {}) {
    this[kRecords] = records
    this[kBindings] = bindings
  }

  /** every record, of this logger and its children */
  get records(): LogRecord[] {
    return this[kRecords]
  }

  /** the records of one event kind */
  events(event: string): LogRecord[] {
    return this[kRecords].filter((r) => r.obj.event === event)
  }

  child(bindings: Record<string, unknown>): ObjectLogger {
    return new ObjectLogger(this[kRecords], { ...this[kBindings], ...bindings })
  }

  #push(level: LogRecord['level'], a: object | string, msg?: string): void {
    if (typeof a === 'string') this[kRecords].push({ level, obj: { ...this[kBindings] }, msg: a })
    else this[kRecords].push({ level, obj: { ...this[kBindings], ...a }, msg })
  }

  error(a: object | string, msg?: string): void {
    this.#push('error', a, msg)
  }
  warn(a: object | string, msg?: string): void {
    this.#push('warn', a, msg)
  }
  info(a: object | string, msg?: string): void {
    this.#push('info', a, msg)
  }
  debug(a: object | string, msg?: string): void {
    this.#push('debug', a, msg)
  }
}
