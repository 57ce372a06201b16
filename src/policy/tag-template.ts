/**
 * Tag templates (`products`, `product:{path.3}`, `search:{query.q}`): one grammar, parsed here
 * when a policy loads (a stray `{` or an unknown placeholder is refused with its position) and
 * compiled from the very same parse for the request path, where resolving one is a few string
 * slices.
 */
import type { Pair } from '../key/sanitize.js'

/** A piece of a template: literal text, the Nth path segment (from 1), or a query parameter. */
export type TagPart = string | { readonly path: number } | { readonly query: string }

export type ParsedTag =
  | { readonly ok: true; readonly parts: readonly TagPart[] }
  | { readonly ok: false; readonly problem: string }

export const PLACEHOLDER_HELP = 'expected {path.N} with N from 1, or {query.NAME}'

const PATH = /^path\.([1-9][0-9]*)$/
const QUERY = /^query\.(.+)$/

export function parseTagTemplate(template: string): ParsedTag {
  const parts: TagPart[] = []
  let i = 0
  while (i < template.length) {
    const open = template.indexOf('{', i)
    const close = template.indexOf('}', i)
    if (close !== -1 && (open === -1 || close < open)) {
      return {
        ok: false,
        problem: `unbalanced "}" in ${JSON.stringify(template)}: ${PLACEHOLDER_HELP}; braces cannot appear outside placeholders`,
      }
    }
    if (open === -1) {
      parts.push(template.slice(i))
      break
    }
    const next = template.indexOf('{', open + 1)
    if (close === -1 || (next !== -1 && next < close)) {
      return {
        ok: false,
        problem: `unbalanced "{" in ${JSON.stringify(template)}: ${PLACEHOLDER_HELP}; braces cannot appear outside placeholders`,
      }
    }
    if (open > i) parts.push(template.slice(i, open))
    const inner = template.slice(open + 1, close)
    const p = PATH.exec(inner)
    const q = p ? null : QUERY.exec(inner)
    if (p) parts.push({ path: Number(p[1]) })
    else if (q) parts.push({ query: q[1] as string })
    else
      return {
        ok: false,
        problem: `unknown placeholder "{${inner}}" in ${JSON.stringify(template)}: ${PLACEHOLDER_HELP}`,
      }
    i = close + 1
  }
  return { ok: true, parts }
}

/** The query parameter names a valid template reads, in order. */
export function tagQueryNames(parts: readonly TagPart[]): string[] {
  const out: string[] = []
  for (const p of parts) if (typeof p !== 'string' && 'query' in p) out.push(p.query)
  return out
}

/** A compiled template: the tag for a request's path segments and keyed query pairs. */
export type TagTemplate = (segments: readonly string[], query: readonly Pair[]) => string

/** Compiles a template the loader accepted; throws on one it would have refused. */
export function compileTag(template: string): TagTemplate {
  const parsed = parseTagTemplate(template)
  if (!parsed.ok) throw new TypeError(parsed.problem)
  const parts = parsed.parts
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const literal = parts[0]
    return () => literal
  }
  if (parts.length === 0) return () => ''
  return (segments, query) => {
    let s = ''
    for (const p of parts) {
      if (typeof p === 'string') s += p
      else if ('path' in p) s += segments[p.path] ?? ''
      else {
        // the first value: what `ctx.query.NAME` gives for a single value; absent → empty
        for (const [n, v] of query)
          if (n === p.query) {
            s += v
            break
          }
      }
    }
    return s
  }
}

/** Path segments from 1: `/products/42` → ['', 'products', '42'], so segments[2] === '42'. */
export function pathSegments(path: string): string[] {
  return path.split('/')
}
