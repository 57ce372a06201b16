/**
 * Durations and sizes as policy files write them. Pure functions, table-tested
 * (test/policy/duration.test.ts). The JSON Schema checks the *shape* with the same patterns;
 * these turn a valid shape into a number and refuse results that would not be exact
 * (beyond Number.MAX_SAFE_INTEGER), so a typo of extra digits cannot wrap into a short TTL.
 */

/** `90s`, `5m`, `1h30m`, `1d`, `250ms`: one or more `<integer><unit>` parts. */
export const DURATION_PATTERN = /^(\d+(ms|s|m|h|d))+$/
/** `512kb`, `1.5mb`, `10B`: `<number><unit>`, units in powers of 1024, case-insensitive. */
export const SIZE_PATTERN = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i

const DURATION_PART = /(\d+)(ms|s|m|h|d)/g

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
})

const UNIT_BYTES: Readonly<Record<string, number>> = Object.freeze({
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
})

/**
 * A duration in milliseconds: an integer is seconds, a string sums its parts
 * (`1h30m` = 5,400,000). Returns undefined for anything else, including negatives,
 * fractions and results too large to represent exactly.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return undefined
    return exact(value * 1000)
  }
  if (typeof value !== 'string') return undefined
  // most rules of a large policy share a few texts (`1m`, `1h`): each is parsed once (a load
  // parses every rule's durations twice, in the checks and in normalising)
  const short = value.length <= MEMO_TEXT
  const known = short ? durations.get(value) : undefined
  if (known !== undefined) return known === NOT_A_DURATION ? undefined : known
  let total: number | undefined
  if (DURATION_PATTERN.test(value)) {
    total = 0
    for (const m of value.matchAll(DURATION_PART)) {
      total += Number(m[1]) * (UNIT_MS[m[2] as string] as number)
    }
    total = exact(total)
  }
  if (short) {
    // bounded: past DURATION_MEMO texts the table starts over
    if (durations.size >= DURATION_MEMO) durations.clear()
    durations.set(value, total ?? NOT_A_DURATION)
  }
  return total
}

/** parseDuration's results by text (NOT_A_DURATION: undefined), at most DURATION_MEMO of them */
const DURATION_MEMO = 1024
/** Only texts this short are kept: a longer one could be V8's slice of a whole policy file's text
 *  (a sliced string is 13 characters or more), which the table would then keep alive. */
const MEMO_TEXT = 12
const NOT_A_DURATION = -1
const durations = new Map<string, number>()

/**
 * A size in bytes: an integer is bytes, a string is `<number><unit>` with powers of 1024
 * (`1.5mb` = 1,572,864); a fractional byte count is rounded down. Returns undefined for
 * anything else, including results too large to represent exactly.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  if (typeof value !== 'string') return undefined
  const m = SIZE_PATTERN.exec(value)
  if (!m) return undefined
  return exact(Math.floor(Number(m[1]) * (UNIT_BYTES[(m[2] as string).toLowerCase()] as number)))
}

function exact(n: number): number | undefined {
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * ms → the policy duration syntax, largest units first: `300000` → `5m`, `5400000` → `1h30m`,
 * `90500` → `1m30s500ms`, `0` → `0s` (parseDuration reads it back).
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  let out = ''
  let left = ms
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(left / size)
    if (n > 0) out += `${n}${unit}`
    left -= n * size
  }
  return out
}
