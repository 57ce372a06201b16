/** The run-time check of option names, for plain JavaScript callers (TypeScript's catch them earlier). */
import { distance } from './policy/validate.js'

/**
 * Throws a TypeError naming the first key of `given` that is not in `known`, with the closest
 * known name when one is near: a misspelt option must not be silently ignored (issue 10), the
 * way an unknown policy field is an error.
 */
export function checkOptionNames(given: object, known: readonly string[], what: string): void {
  for (const k of Object.keys(given)) {
    if (known.includes(k)) continue
    const near = closest(k, known)
    throw new TypeError(
      `unknown ${what} option ${JSON.stringify(k)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}; ` +
        `the options are ${known.join(', ')}`,
    )
  }
}

function closest(name: string, known: readonly string[]): string | undefined {
  const low = name.toLowerCase()
  let best: string | undefined
  let bestD = Math.max(2, Math.floor(name.length / 3))
  for (const k of known) {
    const d = distance(low, k.toLowerCase())
    if (d <= bestD) {
      best = k
      bestD = d - 1
    }
  }
  return best
}
