/**
 * The syntax of a tag template (`products`, `product:{path.3}`, `search:{query.q}`), checked
 * when a policy loads. The request path compiles the same templates with `compileTag`
 * (src/tags.ts), which reads every `{path.N}` and `{query.NAME}` it finds and leaves any other
 * text alone: so a stray `{` or `{path}` would silently become part of a literal tag there. The
 * loader refuses those here instead, and what it accepts compiles to exactly the placeholders
 * parsed below (test/policy/tag-template.test.ts holds the two to each other).
 */

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
      return { ok: false, problem: `unbalanced "}" in ${JSON.stringify(template)}: ${PLACEHOLDER_HELP}; braces cannot appear outside placeholders` }
    }
    if (open === -1) {
      parts.push(template.slice(i))
      break
    }
    const next = template.indexOf('{', open + 1)
    if (close === -1 || (next !== -1 && next < close)) {
      return { ok: false, problem: `unbalanced "{" in ${JSON.stringify(template)}: ${PLACEHOLDER_HELP}; braces cannot appear outside placeholders` }
    }
    if (open > i) parts.push(template.slice(i, open))
    const inner = template.slice(open + 1, close)
    const p = PATH.exec(inner)
    const q = p ? null : QUERY.exec(inner)
    if (p) parts.push({ path: Number(p[1]) })
    else if (q) parts.push({ query: q[1] as string })
    else return { ok: false, problem: `unknown placeholder "{${inner}}" in ${JSON.stringify(template)}: ${PLACEHOLDER_HELP}` }
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
