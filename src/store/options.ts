/** Option checks shared by the stores (misuse throws a TypeError naming the option). */

/**
 * A deadline or a count that must be a positive finite number: `dflt` when not given, a TypeError
 * naming the option otherwise.
 */
export function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt
  if (!Number.isFinite(v) || v <= 0) {
    throw new TypeError(`${name} option must be a positive number, got ${String(v)}`)
  }
  return v
}
