/**
 * Schema validation of one parsed policy file, with every finding placed at file:line:col.
 *
 * The schema (schemas/policy.schema.json) is compiled once, at module scope, as ajv's guide
 * asks ("compile only once, when the application starts"). ajv's own errors are data
 * (`instancePath`, `keyword`, `params`): we map each path to the yaml node it names
 * (src/policy/source.ts), and replace ajv's wording with what a policy author needs: the
 * field, what was expected and what was found.
 *
 * Union-typed fields (durations, sizes, `match`, `statuses`, `key.query`) make ajv report one
 * error per failed branch plus the `oneOf`/`anyOf` itself. We collapse those: one message per
 * field, and when a deeper error exists (`match[1]` is not a string) only the deeper one.
 *
 * What the schema cannot say (tag template syntax, which query parameters a tag may read, which
 * fields a rule's methods make meaningful) is checked afterwards, in check.ts.
 */
import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import { runSteps, STEP_MASK } from '../steps.js'
import { type ParsedFile, pointerToPath, posAt } from './source.js'
import type { Diagnostic } from './types.js'

interface SchemaShape {
  properties: Record<string, unknown>
  $defs: {
    rule: { properties: Record<string, unknown> }
    key: { properties: Record<string, unknown> }
    invalidate: { properties: Record<string, unknown> }
  }
}

// Read beside the package root (src/policy → ../../schemas, and dist/policy the same), so the
// file users point their editors at is exactly the one we validate with.
export const POLICY_SCHEMA: SchemaShape = JSON.parse(
  readFileSync(new URL('../../schemas/policy.schema.json', import.meta.url), 'utf8'),
)

// The document is validated in parts: the top level without rule items, then each rule alone
// (`rules` is `{ type: array, items: rule }` and nothing else at the top refers to a rule, so the
// parts pass exactly when the whole does). In parts, a 1 MiB file of 10k rules pauses between
// rules (a reload must not hold the event loop for the whole file), and errors stay linear: ajv
// appends each `$ref`'d sub-validator's errors with `concat`, which is quadratic in the error
// count under allErrors (a file of 20,000 bad rules took a minute whole). A first pass stops at
// each part's first error (valid files, the common case, pay nothing more); only the parts that
// fail are validated again with allErrors.
const ROOT_ONLY_ID = `${(POLICY_SCHEMA as unknown as { $id: string }).$id}/top-level`
const ROOT_ONLY = {
  ...POLICY_SCHEMA,
  $id: ROOT_ONLY_ID,
  properties: { ...POLICY_SCHEMA.properties, rules: { type: 'array' } },
}
const first = new Ajv2020({ allErrors: false, strict: true })
const isTopLevel = first.compile(ROOT_ONLY)
const isRule = first.getSchema(`${ROOT_ONLY_ID}#/$defs/rule`)!
const ajv = new Ajv2020({ allErrors: true, strict: true })
const validateTopLevel = ajv.compile(ROOT_ONLY)
const validateRule = ajv.getSchema(`${ROOT_ONLY_ID}#/$defs/rule`)!

/** ajv's errors for `data`, in parts (see above); instancePaths are relative to the document. */
function* schemaErrors(data: unknown): Generator<void, ErrorObject[]> {
  const out: ErrorObject[] = []
  if (!isTopLevel(data) && !validateTopLevel(data)) out.push(...(validateTopLevel.errors ?? []))
  const rules = pick(data, ['rules'])
  if (!Array.isArray(rules)) return out
  for (let i = 0; i < rules.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    const rule = rules[i]
    if (isRule(rule) || validateRule(rule)) continue
    for (const e of validateRule.errors ?? [])
      out.push({ ...e, instancePath: `/rules/${i}${e.instancePath}` })
  }
  return out
}

const ROOT_FIELDS = Object.keys(POLICY_SCHEMA.properties)
const RULE_FIELDS = Object.keys(POLICY_SCHEMA.$defs.rule.properties)
const DEFAULT_FIELDS = RULE_FIELDS.filter((f) => f !== 'id' && f !== 'match')
const KEY_FIELDS = Object.keys(POLICY_SCHEMA.$defs.key.properties)
const INVALIDATE_FIELDS = Object.keys(POLICY_SCHEMA.$defs.invalidate.properties)

export const EXPECT = Object.freeze({
  duration: 'a duration like "30s", "5m" or a number of seconds',
  tag: 'a tag like "products" or "product:{path.2}" (1 to 256 characters)',
  size: 'a size like "512kb", "1mb" or a number of bytes',
  glob: 'a glob like "/products/*"',
})

interface ValueKind {
  kind: 'value'
  expect: string
  code: string
}
interface ObjectKind {
  kind: 'object'
  expect: string
  fields: readonly string[]
}
type Kind = ValueKind | ObjectKind

const value = (expect: string, code = 'POLICY_SCHEMA'): ValueKind => ({ kind: 'value', expect, code })

/** What the field at `rest` (a path inside a rule or `defaults`) holds. */
function ruleFieldKind(rest: readonly string[], statuses: unknown): Kind | undefined {
  const [a, b, c, d] = rest
  switch (a) {
    case undefined:
      return undefined
    case 'id':
      return value('an id of lower-case letters, digits, ".", "_" or "-", starting with a letter or digit')
    case 'match':
      return b === undefined ? value(`${EXPECT.glob} or a non-empty list of globs`) : value(EXPECT.glob)
    case 'host':
      return value('a host name glob like "*.example.com"')
    case 'methods':
      return b === undefined
        ? value('a non-empty list of methods')
        : value('one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
    case 'cache':
      return value('true or false')
    case 'ttl':
      return value(EXPECT.duration, 'DURATION_FORMAT')
    case 'origin':
      return value('respect or override')
    case 'statuses':
      if (b === undefined)
        return value('a list of status codes or a map of status to duration like { 200: 5m, 404: 30s }')
      return Array.isArray(statuses)
        ? value('a status code from 100 to 999')
        : value(EXPECT.duration, 'DURATION_FORMAT')
    case 'maxBodySize':
      return value(EXPECT.size, 'SIZE_FORMAT')
    case 'staleWhileRevalidate':
    case 'staleIfError':
    case 'staleIfUnreachable':
    case 'heuristicMax':
      return value(EXPECT.duration, 'DURATION_FORMAT')
    case 'otherStatuses':
      return value('never or explicit')
    case 'rangeMiss':
      return value('forward or fetch')
    case 'maxVariants':
      return value('a whole number from 1 to 4096')
    case 'maxEntriesPerMinute':
      return value('a whole number of entries, 1 or more')
    case 'heuristic':
      return value('a share of the time since Last-Modified, like 10%')
    case 'tagsFromResponse':
      return value('true or false')
    case 'contentTypes':
      return b === undefined
        ? value('a non-empty list of media types like [text/html, "image/*"]')
        : value('a media type like "text/css" or "image/*" (without parameters)')
    case 'tags':
      return b === undefined ? value('a list of at most 32 tags') : value(EXPECT.tag)
    case 'invalidate':
      if (b === undefined)
        return {
          kind: 'object',
          expect: 'a map with tags, like { tags: [products] }',
          fields: INVALIDATE_FIELDS,
        }
      if (b === 'tags')
        return c === undefined ? value('a non-empty list of at most 32 tags') : value(EXPECT.tag)
      return undefined
    case 'key':
      switch (b) {
        case undefined:
          return { kind: 'object', expect: 'a map with query, headers, cookies or host', fields: KEY_FIELDS }
        case 'query':
          if (c === undefined)
            return value('all, none, a list of names or globs, or { exclude: [names or globs] }')
          if (c === 'exclude' && d === undefined)
            return value('a non-empty list of query parameter names or globs')
          return value('a query parameter name or glob like "utm_*"')
        case 'headers':
          return c === undefined
            ? value('a list of header names')
            : value('a header name (an HTTP token such as "accept-language")')
        case 'cookies':
          return c === undefined
            ? value('a list of cookie names')
            : value('a cookie name (an HTTP token such as "locale")')
        case 'host':
          return value('true or false')
      }
  }
  return undefined
}

interface Where {
  kind: Kind | undefined
  ruleIndex?: number
  scope: string[]
  rest: string[]
}

function classify(path: readonly string[], data: unknown): Where {
  const [a, b] = path
  if (path.length === 0)
    return {
      kind: { kind: 'object', expect: 'a policy map with "version: 1" and "rules"', fields: ROOT_FIELDS },
      scope: [],
      rest: [],
    }
  if (a === 'version' && path.length === 1)
    return { kind: value('1', 'VERSION_UNSUPPORTED'), scope: [], rest: ['version'] }
  if (a === 'rules') {
    if (b === undefined) return { kind: value('a list of rules'), scope: [], rest: ['rules'] }
    const rest = path.slice(2)
    const rule = pick(data, ['rules', b])
    const kind =
      rest.length === 0
        ? { kind: 'object' as const, expect: 'a rule (a map with id and match)', fields: RULE_FIELDS }
        : ruleFieldKind(rest, pick(rule, ['statuses']))
    return { kind, ruleIndex: Number(b), scope: ['rules', b], rest }
  }
  if (a === 'defaults') {
    const rest = path.slice(1)
    const kind =
      rest.length === 0
        ? { kind: 'object' as const, expect: 'a map of rule fields', fields: DEFAULT_FIELDS }
        : ruleFieldKind(rest, pick(data, ['defaults', 'statuses']))
    return { kind, scope: ['defaults'], rest }
  }
  return { kind: undefined, scope: [], rest: [...path] }
}

/** Walks plain data (what ajv saw). */
export function pick(data: unknown, path: readonly (string | number)[]): unknown {
  let v = data
  for (const seg of path) {
    if (Array.isArray(v)) v = v[Number(seg)]
    else if (v !== null && typeof v === 'object') v = (v as Record<string, unknown>)[String(seg)]
    else return undefined
  }
  return v
}

/** `key.headers[0]`, `statuses.404`: how a path reads in a message. */
export function displayPath(data: unknown, base: readonly string[], rest: readonly string[]): string {
  let out = ''
  let parent = pick(data, base)
  for (const seg of rest) {
    out += Array.isArray(parent) ? `[${seg}]` : out === '' ? seg : `.${seg}`
    parent = pick(parent, [seg])
  }
  return out
}

/** How a found value reads in a message: `"5 minutes"`, `-1`, `nothing`, `[]`. */
export function render(v: unknown): string {
  if (v === null || v === undefined) return 'nothing'
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** Levenshtein distance, small inputs only (field names). */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length] as number
}

function suggest(name: string, fields: readonly string[], inRule: boolean): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '')
  const exact = fields.find((f) => squash(f) === squash(name))
  if (exact) return exact
  if (inRule && KEY_FIELDS.includes(name)) return `key.${name}`
  let best: string | undefined
  let bestD = name.length < 4 ? 1 : 2
  for (const f of fields) {
    const d = distance(name.toLowerCase(), f.toLowerCase())
    if (d <= bestD) {
      best = f
      bestD = d - 1
    }
  }
  return best
}

/** `/a/b/c` → `/a/b`, `/a`, ``. */
function ancestorsOf(pointer: string): string[] {
  const out: string[] = []
  for (let i = pointer.lastIndexOf('/'); i >= 0; i = pointer.lastIndexOf('/', i - 1)) {
    out.push(pointer.slice(0, i))
    if (i === 0) break
  }
  return out
}

export interface Validated {
  diagnostics: Diagnostic[]
  /** an error outside the rules (the top level, `defaults`) */
  structural: boolean
}

/** A file's schema errors as diagnostics. `badRules` collects the indices of rules with errors. */
export function validateFile(pf: ParsedFile, badRules?: Set<number>): Validated {
  return runSteps(validateFileSteps(pf, badRules))
}

/** validateFile, pausing (a bare `yield`) every few hundred rules or errors. */
export function* validateFileSteps(pf: ParsedFile, badRules?: Set<number>): Generator<void, Validated> {
  const errors = (yield* schemaErrors(pf.data)).map((e) => ({ e, path: pointerToPath(e.instancePath) }))
  if (errors.length === 0) return { diagnostics: [], structural: false }
  const data = pf.data
  const out: Diagnostic[] = []
  let structural = false

  const ruleIdOf = (i: number | undefined) => {
    const id = i === undefined ? undefined : pick(data, ['rules', i, 'id'])
    return typeof id === 'string' && id !== '' ? id : undefined
  }
  const emit = (
    code: string,
    where: Where,
    field: string,
    message: string,
    pos: ReturnType<typeof posAt>,
  ) => {
    const ruleId = ruleIdOf(where.ruleIndex)
    if (where.ruleIndex !== undefined) badRules?.add(where.ruleIndex)
    else structural = true
    // A rule without a usable id is named by its place in the list (`rules[2].ttl`).
    const scope = where.scope.length === 0 || ruleId !== undefined ? '' : displayPath(data, [], where.scope)
    const full = [scope, field].filter((s) => s !== '').join('.')
    out.push({
      code,
      severity: 'error',
      file: pf.file,
      line: pos.line,
      col: pos.col,
      ...(ruleId !== undefined ? { ruleId } : {}),
      message: full ? `${full}: ${message}` : message,
    })
  }

  const groups = new Map<string, { path: string[]; errs: ErrorObject[] }>()
  let n = 0
  for (const { e, path } of errors) {
    if ((++n & STEP_MASK) === 0) yield
    const where = classify(path, data)
    const field = displayPath(data, where.scope, where.rest)
    if (where.kind?.kind === 'object') {
      const k = where.kind
      if (e.keyword === 'additionalProperties') {
        const name = String(e.params.additionalProperty)
        const hint = suggest(name, k.fields, where.scope.length > 0 && where.rest.length === 0)
        emit(
          'UNKNOWN_FIELD',
          where,
          field,
          hint
            ? `unknown field "${name}" (did you mean "${hint}"?)`
            : `unknown field "${name}"; expected one of: ${k.fields.join(', ')}`,
          posAt(pf, [...path, name], 'key'),
        )
      } else if (e.keyword === 'required') {
        emit(
          'MISSING_FIELD',
          where,
          field,
          `missing required field "${String(e.params.missingProperty)}"`,
          posAt(pf, path),
        )
      } else {
        emit(
          'POLICY_SCHEMA',
          where,
          field,
          `expected ${k.expect}, got ${render(pick(data, path))}`,
          posAt(pf, path),
        )
      }
      continue
    }
    const g = groups.get(e.instancePath)
    if (g) g.errs.push(e)
    else groups.set(e.instancePath, { path, errs: [e] })
  }

  // Pointers that have a deeper error below them: a Set, so a file of 50,000 bad rules stays linear.
  const hasDeeper = new Set<string>()
  for (const pointer of groups.keys()) for (const a of ancestorsOf(pointer)) hasDeeper.add(a)
  for (const [pointer, { path, errs }] of groups) {
    if ((++n & STEP_MASK) === 0) yield
    const where = classify(path, data)
    const field = displayPath(data, where.scope, where.rest)
    const found = pick(data, path)
    // Bad map keys and repeated items are problems of their own, whatever else is wrong inside.
    const names = errs.filter((e) => e.keyword === 'propertyNames')
    for (const e of names) {
      const name = String(e.params.propertyName)
      emit(
        'POLICY_SCHEMA',
        where,
        field,
        `expected status codes from 100 to 999 as keys, got ${JSON.stringify(name)}`,
        posAt(pf, [...path, name], 'key'),
      )
    }
    const dup = errs.find((e) => e.keyword === 'uniqueItems')
    if (dup && Array.isArray(found)) {
      const j = Math.max(Number(dup.params.i), Number(dup.params.j))
      emit(
        'POLICY_SCHEMA',
        where,
        field,
        `${render(found[j])} is listed twice`,
        posAt(pf, [...path, String(j)]),
      )
    }
    // A deeper error names the exact element; the union noise about its container goes.
    if (names.length > 0 || dup || hasDeeper.has(pointer)) continue
    if (where.kind?.kind === 'value') {
      emit(
        where.kind.code,
        where,
        field,
        `expected ${where.kind.expect}, got ${render(found)}`,
        posAt(pf, path),
      )
    } else {
      // Not a path the table knows (a schema change without a message here): ajv's words.
      const e = errs[0] as ErrorObject
      emit(
        'POLICY_SCHEMA',
        where,
        field,
        `${e.message ?? 'is invalid'}, got ${render(found)}`,
        posAt(pf, path),
      )
    }
  }
  return { diagnostics: out, structural }
}
