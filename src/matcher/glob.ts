/**
 * The only module that imports micromatch. Every glob is compiled here, once per policy load,
 * with the same options, so the matcher, the lint and `explain` agree on what a glob means.
 *
 * - `dot: true`: `*` and `**` also match dot segments (`/account/**` covers `/account/.env`).
 *   A deny rule must cover everything under it; picomatch's default would let `/.x` slip past.
 * - `nocase: true`: paths and hosts match case-insensitively, as most routers route them
 *   (@koa/router's `sensitive` defaults to false), so `/ACCOUNT/x` cannot escape an
 *   `/account/**` bypass rule. Keys keep the exact case, so no two paths share an entry.
 * - `strictBrackets`: an unclosed `[` is an error, not a literal.
 */
import micromatch from 'micromatch'

export const GLOB_OPTIONS = Object.freeze({ dot: true, nocase: true, strictBrackets: true })

/** Brace sets larger than this stay unexpanded (`{1..1000}` would explode). */
export const MAX_BRACE_VARIANTS = 64

/** Compiles one glob; throws an Error whose message says what is wrong with it. */
export function compileGlob(glob: string): RegExp {
  return micromatch.makeRe(glob, GLOB_OPTIONS)
}

/** Expands `{a,b}` sugar into plain variants (at most MAX_BRACE_VARIANTS; otherwise the glob itself). */
export function expandBraces(glob: string): string[] {
  if (!glob.includes('{')) return [glob]
  try {
    const out = micromatch.braces(glob, { expand: true })
    return out.length > 0 && out.length <= MAX_BRACE_VARIANTS ? out : [glob]
  } catch {
    return [glob]
  }
}

/** The literal directory part before the first glob character: `/products/**` → `/products`. */
export function literalBase(glob: string): { base: string; isGlob: boolean } {
  const s = micromatch.scan(glob)
  return { base: s.base, isGlob: s.isGlob }
}
