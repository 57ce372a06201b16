/**
 * Raw (schema-shaped) rules → the frozen `Rule` objects the request path reads.
 *
 * Defaults: `defaults` is merged into every rule of its file, field by field; a rule's own
 * field wins. Every field merges *as a whole value*, lists and maps too (`key`, `statuses`,
 * `tags`, `invalidate`): a rule that sets `key` gets exactly the key it spells out, none of the
 * default one, and `tags: []` drops the default tags. A partial merge would leave no way to
 * un-key a default header in one rule, and the key of a rule should be readable in one place:
 * it decides who shares an entry with whom.
 *
 * Every rule gets a `version`: a 12-hex-digit sha256 of everything that changes what is stored
 * or served (all fields except `index` and `pos`). It joins the cache key, so a reload that changes
 * a rule never serves entries stored under its old meaning (docs/threats.md T67/T68).
 */

import { hash } from 'node:crypto'
import { NORMALIZED_HEADERS } from '../key/negotiate.js'
import { compileNameGlob } from '../matcher/glob.js'
import { parseDuration, parseSize } from './duration.js'
import { METHOD_BITS, type QueryKey, type Rule, type RuleKey, type SourcePos } from './types.js'

export interface RawKey {
  query?: 'all' | 'none' | string[] | { exclude: string[] }
  headers?: string[]
  cookies?: string[]
  host?: boolean
  normalize?: Partial<Record<'accept-encoding' | 'accept-language' | 'accept', string[]>>
  varyUnordered?: string[]
}

/** The fields a rule and `defaults` share: the JSON Schema's shape, after validation. */
export interface RawRuleFields {
  host?: string
  methods?: string[]
  cache?: boolean
  ttl?: number | string
  origin?: 'respect' | 'override'
  statuses?: number[] | Record<string, number | string>
  key?: RawKey
  tags?: string[]
  tagsFromResponse?: boolean
  invalidate?: { tags: string[] }
  staleWhileRevalidate?: number | string
  staleIfError?: number | string
  staleIfUnreachable?: number | string
  otherStatuses?: 'never' | 'explicit'
  maxVariants?: number
  rangeMiss?: 'forward' | 'fetch'
  maxEntriesPerMinute?: number
  heuristic?: string
  heuristicMax?: number | string
  maxBodySize?: number | string
  targeted?: string[]
  contentTypes?: string[]
}

export interface RawRule extends RawRuleFields {
  id: string
  match: string | string[]
}

export interface RawPolicyFile {
  version: 1
  defaults?: RawRuleFields
  rules: RawRule[]
}

export const DEFAULT_METHODS: readonly string[] = Object.freeze(['GET', 'HEAD'])
/** The spec's default: RFC 9110 §15.1 "heuristically cacheable" statuses minus 206 (no range
 *  storage), 405, 414 and 501 (method- or request-shaped errors are rarely worth sharing). */
export const DEFAULT_STATUSES: readonly number[] = Object.freeze([200, 203, 204, 300, 301, 308, 404, 410])
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024
/** `maxVariants` unless a rule says otherwise */
export const DEFAULT_MAX_VARIANTS = 64
/** `heuristicMax` unless a rule says otherwise: a day */
export const DEFAULT_HEURISTIC_MAX = 24 * 3600 * 1000
/** RFC 9213 targeted fields obeyed before Cache-Control, in order of preference (lower case) */
export const DEFAULT_TARGETED: readonly string[] = Object.freeze([
  'cachet-cache-control',
  'cdn-cache-control',
])

const METHOD_ORDER = Object.keys(METHOD_BITS)

/** The rule as its file means it: `defaults` under the rule's own fields, each taken whole. */
export function mergeDefaults(defaults: RawRuleFields | undefined, rule: RawRule): RawRule {
  return defaults ? { ...defaults, ...rule } : rule
}

/**
 * A query-name entry is a glob when it uses `*` or `?`; anything else (`filter[color]`) is a
 * literal name. Name globs are their own small language (glob.ts compileNameGlob): only `*` and
 * `?` are special, and they are case-sensitive (Koa's `ctx.query` keeps names as sent), so
 * `UTM_*` does not strip `utm_source`, and no name glob can fail to compile.
 */
export function isQueryGlob(name: string): boolean {
  return name.includes('*') || name.includes('?')
}

const QUERY_ALL: QueryKey = Object.freeze({ mode: 'all' })
const QUERY_NONE: QueryKey = Object.freeze({ mode: 'none' })

export function queryKey(q: RawKey['query']): QueryKey {
  if (q === undefined || q === 'all') return QUERY_ALL
  if (q === 'none') return QUERY_NONE
  const mode = Array.isArray(q) ? 'include' : 'exclude'
  const list = Array.isArray(q) ? q : q.exclude
  return Object.freeze({
    mode,
    names: new Set(list.filter((n) => !isQueryGlob(n))),
    globs: Object.freeze(list.filter(isQueryGlob).map(compileNameGlob)),
  })
}

/**
 * Does the key see query parameter `name`? The same decision the request path makes when it
 * strips unkeyed parameters (src/key/sanitize.ts), restated here because policy code imports no
 * request-time module.
 */
export function queryKeyed(q: QueryKey, name: string): boolean {
  if (q.mode === 'all') return true
  if (q.mode === 'none') return false
  const hit = q.names.has(name) || q.globs.some((re) => re.test(name))
  return q.mode === 'include' ? hit : !hit
}

function must(n: number | undefined, what: string, id: string): number {
  // check.ts has already reported every value these parsers refuse; reaching this is a bug.
  if (n === undefined)
    throw new Error(`normalizeRule: rule "${id}" has an invalid ${what}; validate before normalising`)
  return n
}

/**
 * The parts of a Rule that most rules spell alike (the default statuses, key and methods, empty
 * tag lists), built once per distinct text and shared: at 100k rules a Map, a key object with its
 * arrays and a method list per rule were ~1 KB a rule kept alive, and as many allocations for the
 * collector to copy while a load runs (issue 12 item 8). Every shared part is read-only (frozen, or
 * a ReadonlyMap nobody writes). Bounded: past MEMO_SIZE texts a table starts over.
 */
const MEMO_SIZE = 4096
const statusMemo = new Map<string, ReadonlyMap<number, number>>()
const keyMemo = new Map<string, RuleKey>()
const listMemo = new Map<string, readonly string[]>()
const methodLists = new Map<number, readonly string[]>()
const EMPTY: readonly string[] = Object.freeze([])

/** `make(arg)` once per text (an argument, not a closure per rule: `make` is a module function) */
function memo<T, A>(table: Map<string, T>, text: string, make: (arg: A) => T, arg: A): T {
  let v = table.get(text)
  if (v === undefined) {
    v = make(arg)
    if (table.size >= MEMO_SIZE) table.clear()
    table.set(text, v)
  }
  return v
}

/** a frozen copy of a list of strings, shared with every equal one (empty: EMPTY) */
function sharedList(list: readonly string[] | undefined): readonly string[] {
  if (list === undefined || list.length === 0) return EMPTY
  return memo(listMemo, JSON.stringify(list), frozenCopy, list)
}

const frozenCopy = (list: readonly string[]): readonly string[] => Object.freeze([...list])

function statusMap(raw: RawRule): ReadonlyMap<number, number> {
  // the text decides the map: durations parse the same every time
  return memo(statusMemo, raw.statuses === undefined ? '' : JSON.stringify(raw.statuses), makeStatusMap, raw)
}

function makeStatusMap(raw: RawRule): ReadonlyMap<number, number> {
  const statuses = new Map<number, number>()
  if (raw.statuses === undefined) for (const s of DEFAULT_STATUSES) statuses.set(s, -1)
  else if (Array.isArray(raw.statuses)) for (const s of raw.statuses) statuses.set(s, -1)
  else
    for (const [s, d] of Object.entries(raw.statuses))
      statuses.set(Number(s), must(parseDuration(d), `statuses.${s}`, raw.id))
  return statuses
}

function ruleKey(k: RawKey | undefined): RuleKey {
  return Object.freeze({
    query: queryKey(k?.query),
    headers: sharedList(k?.headers?.map((h) => h.toLowerCase())),
    cookies: k?.cookies === undefined ? null : sharedList(k.cookies),
    host: k?.host ?? true,
    normalize: Object.freeze(
      NORMALIZED_HEADERS.flatMap((header) => {
        const values = k?.normalize?.[header]
        return values === undefined
          ? []
          : [Object.freeze({ header, values: Object.freeze(values.map((v) => v.toLowerCase())) })]
      }),
    ),
    varyUnordered: sharedList(k?.varyUnordered?.map((h) => h.toLowerCase()).sort()),
  })
}

/** One merged, validated raw rule → a frozen Rule. */
export function normalizeRule(raw: RawRule, index: number, pos: SourcePos): Rule {
  let methods = 0
  for (const m of raw.methods ?? DEFAULT_METHODS) methods |= METHOD_BITS[m] as number
  let methodList = methodLists.get(methods)
  if (methodList === undefined) {
    methodList = Object.freeze(METHOD_ORDER.filter((m) => (methods & (METHOD_BITS[m] as number)) !== 0))
    methodLists.set(methods, methodList)
  }
  const statuses = statusMap(raw)
  const key = memo(keyMemo, raw.key === undefined ? '' : JSON.stringify(raw.key), ruleKey, raw.key)

  const content = {
    id: raw.id,
    match: Object.freeze(Array.isArray(raw.match) ? [...raw.match] : [raw.match]),
    host: raw.host ?? null,
    methods,
    methodList,
    cache: raw.cache ?? true,
    ttl: raw.ttl === undefined ? -1 : must(parseDuration(raw.ttl), 'ttl', raw.id),
    origin: raw.origin ?? 'respect',
    statuses,
    key,
    tags: sharedList(raw.tags),
    tagsFromResponse: raw.tagsFromResponse ?? false,
    invalidateTags: sharedList(raw.invalidate?.tags),
    staleWhileRevalidate:
      raw.staleWhileRevalidate === undefined
        ? 0
        : must(parseDuration(raw.staleWhileRevalidate), 'staleWhileRevalidate', raw.id),
    staleIfError:
      raw.staleIfError === undefined ? 0 : must(parseDuration(raw.staleIfError), 'staleIfError', raw.id),
    otherStatuses: raw.otherStatuses === 'explicit',
    maxVariants: raw.maxVariants ?? DEFAULT_MAX_VARIANTS,
    rangeMiss: raw.rangeMiss === 'fetch',
    maxEntriesPerMinute: raw.maxEntriesPerMinute ?? 0,
    heuristic: raw.heuristic === undefined ? 0 : Number(raw.heuristic.slice(0, -1)) / 100,
    heuristicMax:
      raw.heuristicMax === undefined
        ? DEFAULT_HEURISTIC_MAX
        : must(parseDuration(raw.heuristicMax), 'heuristicMax', raw.id),
    staleIfUnreachable:
      raw.staleIfUnreachable === undefined
        ? 0
        : must(parseDuration(raw.staleIfUnreachable), 'staleIfUnreachable', raw.id),
    maxBodySize:
      raw.maxBodySize === undefined
        ? DEFAULT_MAX_BODY_SIZE
        : must(parseSize(raw.maxBodySize), 'maxBodySize', raw.id),
    targeted:
      raw.targeted === undefined
        ? DEFAULT_TARGETED
        : sharedList([...new Set(raw.targeted.map((f) => f.toLowerCase()))]),
    contentTypes:
      raw.contentTypes === undefined ? null : sharedList(raw.contentTypes.map((t) => t.toLowerCase())),
  }
  // Not `Object.freeze({ ...content, index, pos: Object.freeze({ ...pos }), version })`: those
  // frozen spread copies each got a map (hidden class) of their own, two per rule, ~85 MB of
  // maps at 100k rules for every full GC to walk (and a stall of its own on reload). The content
  // literal itself, given its three last fields, shares one map with every other rule; the
  // version is taken first, of the content alone, as before.
  const version = ruleVersion(content)
  return Object.freeze(
    Object.assign(content, {
      index,
      // a frozen pos is taken as it is (the loader's, shared with its duplicate-id table)
      pos: Object.isFrozen(pos) ? pos : Object.freeze({ file: pos.file, line: pos.line, col: pos.col }),
      version,
    }),
  )
}

/**
 * A stable text of a rule's content: Maps, Sets and RegExps spelled out, statuses sorted. What
 * `JSON.stringify` gave of the content with the fields below dropped or replaced (so every
 * version stays what it was: test/policy/normalize.test.ts holds the two equal), written out
 * field by field in the content's order: at 100k rules the spread copy and its stringify were
 * most of the version's cost, and the key and statuses, shared by most rules, are spelled once.
 */
function canonical(r: Omit<Rule, 'index' | 'pos' | 'version'>): string {
  let s = `{"id":${JSON.stringify(r.id)},"match":${JSON.stringify(r.match)},"host":${JSON.stringify(r.host)}`
  s += `,"methods":${num(r.methods)},"cache":${r.cache},"ttl":${num(r.ttl)},"origin":${JSON.stringify(r.origin)}`
  s += `,"statuses":${canonicalStatuses(r.statuses)},"key":${canonicalKey(r.key)}`
  s += `,"tags":${list(r.tags)},"tagsFromResponse":${r.tagsFromResponse},"invalidateTags":${list(r.invalidateTags)}`
  s += `,"staleWhileRevalidate":${num(r.staleWhileRevalidate)},"staleIfError":${num(r.staleIfError)}`
  // absent when unset or the default, so that rules written before the field existed keep their version
  if (r.otherStatuses) s += ',"otherStatuses":true'
  if (r.maxVariants !== DEFAULT_MAX_VARIANTS) s += `,"maxVariants":${num(r.maxVariants)}`
  if (r.rangeMiss) s += ',"rangeMiss":true'
  if (r.maxEntriesPerMinute !== 0) s += `,"maxEntriesPerMinute":${num(r.maxEntriesPerMinute)}`
  if (r.heuristic !== 0) s += `,"heuristic":${num(r.heuristic)},"heuristicMax":${num(r.heuristicMax)}`
  if (r.staleIfUnreachable !== 0) s += `,"staleIfUnreachable":${num(r.staleIfUnreachable)}`
  s += `,"maxBodySize":${num(r.maxBodySize)}`
  if (!sameList(r.targeted, DEFAULT_TARGETED)) s += `,"targeted":${list(r.targeted)}`
  if (r.contentTypes !== null) s += `,"contentTypes":${list(r.contentTypes)}`
  return `${s}}`
}

/** a number as JSON writes it (String() is the same for finite numbers) */
const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null')
const list = (l: readonly string[]): string => (l.length === 0 ? '[]' : JSON.stringify(l))

/**
 * The canonical texts of a rule's statuses and key, by identity: most rules share those objects
 * (the memos above), so at 100k rules sorting and spelling them out per rule was a third of the
 * canonical text's cost and ~2 KB of garbage a rule. The same values, so the same text.
 */
const statusForms = new WeakMap<ReadonlyMap<number, number>, string>()
const keyForms = new WeakMap<RuleKey, string>()

function canonicalStatuses(statuses: ReadonlyMap<number, number>): string {
  let form = statusForms.get(statuses)
  if (form === undefined) {
    form = JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))
    statusForms.set(statuses, form)
  }
  return form
}

function canonicalKey(key: RuleKey): string {
  let form = keyForms.get(key)
  if (form === undefined) {
    const q = key.query
    form = JSON.stringify({
      ...key,
      // absent when none, so that rules written before the field keep their version
      normalize: key.normalize.length === 0 ? undefined : key.normalize,
      varyUnordered: key.varyUnordered.length === 0 ? undefined : key.varyUnordered,
      query:
        q.mode === 'all' || q.mode === 'none'
          ? q.mode
          : { mode: q.mode, names: [...q.names].sort(), globs: q.globs.map((g) => g.source) },
    })
    keyForms.set(key, form)
  }
  return form
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export function ruleVersion(r: Omit<Rule, 'index' | 'pos' | 'version'>): string {
  return digest(canonical(r))
}

/** 12 hex digits of sha256: short enough for a key, long enough that collisions do not happen by accident. */
export function digest(text: string): string {
  // crypto.hash (Node >= 20.12, engines says >= 20.19): one call, no Hash object, half the cost
  // of createHash at 100k rules; the same sha256, so every version stays what it was
  return hash('sha256', text, 'hex').slice(0, 12)
}
