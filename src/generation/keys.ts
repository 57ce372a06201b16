/**
 * Tags and generation keys. A tag template (`product:{path.2}`, `search:{query.q}`) is compiled
 * once per policy load; resolving it per request is a few string slices.
 *
 * Generation keys (see README "How purge works"): every entry depends on
 *   <name>:g:a            the whole namespace      purge({ all: true })
 *   <name>:g:r:<rule>     its rule                  purge({ rules })
 *   <name>:g:u:<digest>   its URL (path + keyed query, any host): purge({ urls }), unsafe methods
 *   <name>:g:t:<digest>   each of its tags          purge({ tags }), invalidate.tags
 * User-controlled text (paths, tags) only ever appears inside a digest, so no request can form a
 * Redis `{hash tag}` or an over-long key.
 */
import type { Pair } from '../key/sanitize.js'
import { digest } from '../key/compose.js'

/** A compiled template: literal pieces interleaved with placeholders. */
export type TagTemplate = (segments: readonly string[], query: readonly Pair[]) => string

const PLACEHOLDER = /\{(path)\.(\d+)\}|\{(query)\.([^{}]+)\}/g

export function compileTag(template: string): TagTemplate {
  if (!template.includes('{')) return () => template
  const parts: (string | { path: number } | { query: string })[] = []
  let last = 0
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(template.slice(last, m.index))
    parts.push(m[1] ? { path: Number(m[2]) } : { query: m[4]! })
    last = m.index + m[0].length
  }
  if (last < template.length) parts.push(template.slice(last))
  return (segments, query) => {
    let s = ''
    for (const p of parts) {
      if (typeof p === 'string') s += p
      else if ('path' in p) s += segments[p.path] ?? ''
      else {
        // the first value: what `ctx.query.NAME` gives for a single value; absent → empty
        for (const [n, v] of query) if (n === p.query) { s += v; break }
      }
    }
    return s
  }
}

/** Path segments from 1: `/products/42` → ['', 'products', '42'], so segments[2] === '42'. */
export function pathSegments(path: string): string[] {
  return path.split('/')
}

export function allGen(name: string): string {
  return `${name}:g:a`
}
export function ruleGen(name: string, ruleId: string): string {
  return `${name}:g:r:${ruleId}`
}
export function tagGen(name: string, tag: string): string {
  return `${name}:g:t:${digest(tag)}`
}
/**
 * `path` percent-decoded as globs see it (sanitize.ts matchPath), so `/products/%34%32` and
 * `/products/42` are one URL to purge; `query` the keyed pairs, in the key's normalised order.
 */
export function urlGen(name: string, path: string, query: readonly Pair[]): string {
  let s = `${path.length}:${path}`
  for (const [n, v] of query.length > 1 ? [...query].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) : query) s += `${n.length}:${n}${v.length}:${v}`
  return `${name}:g:u:${digest(s)}`
}
