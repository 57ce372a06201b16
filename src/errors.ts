/**
 * Two kinds of errors, kept apart: programmer misuse throws a TypeError naming the option;
 * policy files produce collected Diagnostics, wrapped in one PolicyError when they must be thrown
 * (createCache with an invalid initial policy set).
 */
import type { Diagnostic } from './policy/types.js'

export class CachetError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CachetError'
    this.code = code
  }
}

/** The initial policy set is invalid. `diagnostics` holds every error and warning, with file:line:col. */
export class PolicyError extends CachetError {
  readonly diagnostics: readonly Diagnostic[]
  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error')
    super('POLICY_INVALID', `invalid cache policies:\n${errors.map(formatOne).join('\n')}`)
    this.name = 'PolicyError'
    this.diagnostics = diagnostics
  }
}

/**
 * A store command overran its deadline (ours or the client's `commandTimeout`). A read is then
 * treated as a miss by the middleware; a purge rejects with it.
 */
export class StoreTimeoutError extends CachetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_TIMEOUT', message, options)
    this.name = 'StoreTimeoutError'
  }
}

export function formatOne(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file
  const rule = d.ruleId ? `rule "${d.ruleId}": ` : ''
  return `${where}: ${d.severity}: ${rule}${d.message}`
}

const warned = new Set<string>()
/** Warn once per code, for risky but legal setups (lru-cache's LRU_CACHE_UNBOUNDED pattern). */
export function warnOnce(code: string, message: string): void {
  if (warned.has(code)) return
  warned.add(code)
  process.emitWarning(message, { type: 'CachetWarning', code })
}

/**
 * Counts `code` as already warned in this process: a `cachet serve --workers` worker that does
 * not write the fleet's startup warnings, so that a fleet warns once, as one process does.
 */
export function alreadyWarned(code: string): void {
  warned.add(code)
}
