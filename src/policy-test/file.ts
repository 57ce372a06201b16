/**
 * Reading one policy test file (`*.test.yaml`): the loader's reader (bounded read, UTF-8, yaml
 * `parseDocument` + `LineCounter`, duplicate keys, alias cap), then the JSON Schema
 * (schemas/policy-test.schema.json, compiled once), then what the schema cannot say; every problem
 * a Diagnostic at file:line:col, never a throw. What comes out keeps, for each expectation, where
 * it is written, so that a failure is reported at the line that states it.
 */
import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import { parseDuration } from '../policy/duration.js'
import type { Found } from '../policy/files.js'
import { MAX_ALIAS_COUNT, MAX_FILE_BYTES, parseFile } from '../policy/load.js'
import { type ParsedFile, type PathSegment, pointerToPath, posAt } from '../policy/source.js'
import type { Diagnostic, SourcePos } from '../policy/types.js'
import { distance, pick, render } from '../policy/validate.js'
import type { ExplainRequest, ExplainResponse } from '../request/explain.js'

interface SchemaShape {
  properties: Record<string, unknown>
  $defs: Record<string, { properties?: Record<string, unknown> }>
}

/** Read beside the package root, like the policy schema: the file editors use is the one we validate with. */
export const POLICY_TEST_SCHEMA: SchemaShape = JSON.parse(
  readFileSync(new URL('../../schemas/policy-test.schema.json', import.meta.url), 'utf8'),
)
// A first pass stops at the first error, so a valid file (the common case) pays for one pass only;
// a file that fails is validated again for all its errors (ajv's allErrors, as validate.ts explains).
const validFast = new Ajv2020({ allErrors: false, strict: true }).compile(POLICY_TEST_SCHEMA)
const validateSchema = new Ajv2020({ allErrors: true, strict: true }).compile(POLICY_TEST_SCHEMA)

const fieldsOf = (def: string) => Object.keys(POLICY_TEST_SCHEMA.$defs[def]?.properties ?? {})
const ROOT_FIELDS = Object.keys(POLICY_TEST_SCHEMA.properties)
const CASE_FIELDS = fieldsOf('case')
const EXPECT_FIELDS = fieldsOf('expect')
const RESPONSE_FIELDS = fieldsOf('response')
const REQUEST_FIELDS = ['method', 'url', 'headers']
const REMOVED_FIELDS = ['query', 'cookies', 'headers']

/** One value of a test file and where it is written. */
export interface At<T> {
  readonly value: T
  readonly pos: SourcePos
}

export interface TestRequest extends ExplainRequest {
  readonly method: string
  readonly url: string
  /** as written: `GET /x`, for messages */
  readonly text: string
  readonly pos: SourcePos
}

export interface Expectations {
  readonly rule?: At<string | null>
  readonly decision?: At<'lookup' | 'bypass' | 'method' | 'pass'>
  readonly bypass?: At<string>
  readonly sameKey?: readonly TestRequest[]
  readonly differentKey?: readonly TestRequest[]
  readonly removed?: {
    readonly query?: At<readonly string[]>
    readonly cookies?: At<readonly string[]>
    readonly headers?: At<readonly string[]>
  }
  readonly tags?: At<readonly string[]>
  /** true / false, or the freshness in ms */
  readonly stored?: At<boolean | number>
  readonly notStored?: At<string>
}

export interface TestCase {
  readonly name: string
  /** where the case starts */
  readonly pos: SourcePos
  readonly request: TestRequest
  readonly response?: ExplainResponse
  readonly expect: Expectations
}

export interface TestFile {
  readonly file: string
  readonly cases: readonly TestCase[]
}

type Kind = { expect: string; code?: string; fields?: readonly string[] }

const REQUEST: Kind = {
  expect: 'a request like "GET /path?query", or a map with method, url and headers',
  fields: REQUEST_FIELDS,
}

function requestKind(rest: readonly string[]): Kind | undefined {
  const [a, b] = rest
  if (a === undefined) return REQUEST
  if (a === 'method') return { expect: 'an HTTP method like GET' }
  if (a === 'url') return { expect: 'a path like "/products/1?page=2" or an absolute URL' }
  if (a === 'headers') return headersKind(b)
  return undefined
}

function headersKind(name: string | undefined): Kind {
  return name === undefined
    ? { expect: 'a map of header names to values' }
    : { expect: 'a header value: a string, a number or a list of strings' }
}

/** What the value at `path` (from the document root) should be, for messages. */
function kindOf(path: readonly string[], data: unknown): Kind | undefined {
  const [a, , c, d, e] = path
  if (path.length === 0)
    return { expect: 'a test file map with "version: 1" and "cases"', fields: ROOT_FIELDS }
  if (a === 'version') return { expect: '1', code: 'VERSION_UNSUPPORTED' }
  if (a !== 'cases') return undefined
  if (path.length === 1) return { expect: 'a non-empty list of test cases' }
  if (c === undefined)
    return { expect: 'a test case (a map with name, request and expect)', fields: CASE_FIELDS }
  if (c === 'name') return { expect: 'a name: a sentence of 1 to 200 characters' }
  if (c === 'request') return requestKind(path.slice(3))
  if (c === 'response') {
    if (d === undefined)
      return { expect: 'a response: a map with status and headers', fields: RESPONSE_FIELDS }
    if (d === 'status') return { expect: 'a status code from 100 to 999' }
    if (d === 'headers') return headersKind(e)
    return undefined
  }
  if (c !== 'expect') return undefined
  switch (d) {
    case undefined:
      return { expect: `a map of expectations (${EXPECT_FIELDS.join(', ')})`, fields: EXPECT_FIELDS }
    case 'rule':
      return { expect: 'a rule id, or null when no rule matches' }
    case 'decision':
    case 'bypass':
      return { expect: allowed(d) }
    case 'stored':
      return { expect: 'true, false or a duration like "5m", "30s" or a number of seconds' }
    case 'notStored':
      return { expect: `a reason a response is not stored: ${allowed(d)}` }
    case 'tags':
      return e === undefined ? { expect: 'a list of tags' } : { expect: 'a tag (1 to 256 characters)' }
    case 'removed':
      if (e === undefined) return { expect: 'a map with query, cookies or headers', fields: REMOVED_FIELDS }
      return path.length === 5 ? { expect: 'a list of names' } : { expect: 'a name (1 to 256 characters)' }
    case 'sameKey':
    case 'differentKey': {
      const list = Array.isArray(pick(data, path.slice(0, 4)))
      if (e === undefined)
        return list || typeof pick(data, path) !== 'object'
          ? { expect: 'a request, or a non-empty list of requests' }
          : REQUEST
      return list ? requestKind(path.slice(5)) : requestKind(path.slice(4))
    }
  }
  return undefined
}

/** The field a misspelt name most likely meant: same letters but case and `-`/`_`, else at most 2 edits away. */
function suggest(name: string, fields: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '')
  const same = fields.find((f) => squash(f) === squash(name))
  if (same) return same
  let best: string | undefined
  let bestD = name.length < 4 ? 2 : 3
  for (const f of fields) {
    const d = distance(name.toLowerCase(), f.toLowerCase())
    if (d < bestD) {
      best = f
      bestD = d
    }
  }
  return best
}

/** The values an `enum` of the expect map allows, from the schema. */
function allowed(field: string): string {
  const p = POLICY_TEST_SCHEMA.$defs.expect?.properties?.[field] as { enum?: string[] } | undefined
  const values = p?.enum ?? []
  return `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`
}

/** `cases[2].expect.removed.query`: how a path reads in a message. */
function display(path: readonly string[]): string {
  return path.reduce((out, s) => (/^\d+$/.test(s) ? `${out}[${s}]` : out === '' ? s : `${out}.${s}`), '')
}

function caseName(data: unknown, path: readonly string[]): string | undefined {
  if (path[0] !== 'cases' || path[1] === undefined) return undefined
  const n = pick(data, ['cases', path[1], 'name'])
  return typeof n === 'string' && n !== '' ? n : undefined
}

/** The ajv errors of one file as diagnostics: one per place, the deepest place of a union only. */
function schemaDiagnostics(pf: ParsedFile, errors: readonly ErrorObject[]): Diagnostic[] {
  const data = pf.data
  const out: Diagnostic[] = []
  const emit = (code: string, path: readonly string[], message: string, pos: SourcePos) => {
    const name = caseName(data, path)
    // inside a named case, the path starts at the case: `case "x": expect.stored: …`
    const field = name === undefined ? display(path) : display(path.slice(2))
    const text = field === '' ? message : `${field}: ${message}`
    out.push({
      code,
      severity: 'error',
      ...pos,
      message: name === undefined ? text : `case "${name}": ${text}`,
    })
  }
  const groups = new Map<string, ErrorObject[]>()
  for (const e of errors) {
    const g = groups.get(e.instancePath)
    if (g) g.push(e)
    else groups.set(e.instancePath, [e])
  }
  const deeper = new Set<string>()
  for (const p of groups.keys())
    for (let i = p.lastIndexOf('/'); i >= 0; i = p.lastIndexOf('/', i - 1)) {
      deeper.add(p.slice(0, i))
      if (i === 0) break
    }
  for (const [pointer, errs] of groups) {
    const path = pointerToPath(pointer)
    const kind = kindOf(path, data)
    const found = pick(data, path)
    // fields of a map that is one: the most precise words there are
    const fieldErrs = errs.filter((e) => e.keyword === 'additionalProperties' || e.keyword === 'required')
    for (const e of fieldErrs) {
      if (e.keyword === 'additionalProperties') {
        const name = String(e.params.additionalProperty)
        const fields = kind?.fields ?? []
        const hint = suggest(name, fields)
        emit(
          'UNKNOWN_FIELD',
          path,
          hint
            ? `unknown field "${name}" (did you mean "${hint}"?)`
            : `unknown field "${name}"; expected one of: ${fields.join(', ')}`,
          posAt(pf, [...path, name], 'key'),
        )
      } else {
        emit(
          'MISSING_FIELD',
          path,
          `missing required field "${String(e.params.missingProperty)}"`,
          posAt(pf, path),
        )
      }
    }
    const names = errs.filter((e) => e.keyword === 'propertyNames')
    for (const e of names) {
      const name = String(e.params.propertyName)
      emit(
        'POLICY_TEST_SCHEMA',
        path,
        `expected a header name (an HTTP token), got ${JSON.stringify(name)}`,
        posAt(pf, [...path, name], 'key'),
      )
    }
    if (fieldErrs.length > 0 || names.length > 0 || deeper.has(pointer)) continue
    const e = errs[0]!
    const expect = kind?.expect ?? e.message ?? 'a valid value'
    emit(
      kind?.code ?? 'POLICY_TEST_SCHEMA',
      path,
      `expected ${expect}, got ${render(found)}`,
      posAt(pf, path),
    )
  }
  return out
}

function toRequest(pf: ParsedFile, raw: unknown, path: readonly PathSegment[]): TestRequest {
  const pos = posAt(pf, path)
  if (typeof raw === 'string') {
    const sp = raw.indexOf(' ')
    const method = raw.slice(0, sp).toUpperCase()
    const url = raw.slice(sp + 1)
    return { method, url, headers: {}, text: `${method} ${url}`, pos }
  }
  const r = raw as { method?: string; url: string; headers?: Record<string, string | number | string[]> }
  const method = (r.method ?? 'GET').toUpperCase()
  const headers: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(r.headers ?? {}))
    headers[k.toLowerCase()] = typeof v === 'number' ? String(v) : v
  return { method, url: r.url, headers, text: `${method} ${r.url}`, pos }
}

function toRequests(pf: ParsedFile, raw: unknown, path: readonly PathSegment[]): TestRequest[] {
  return Array.isArray(raw) ? raw.map((r, i) => toRequest(pf, r, [...path, i])) : [toRequest(pf, raw, path)]
}

interface RawCase {
  name: string
  request: unknown
  response?: { status?: number; headers?: Record<string, string | number | string[]> }
  expect: Record<string, unknown>
}

/** A schema-valid case in its working form; what the schema cannot check is reported into `diags`. */
function toCase(pf: ParsedFile, raw: RawCase, i: number, diags: Diagnostic[]): TestCase | undefined {
  const base = ['cases', i] as const
  const at = <T>(field: string, value: T): At<T> => ({ value, pos: posAt(pf, [...base, 'expect', field]) })
  const x = raw.expect
  const bad = (field: string, message: string) => {
    diags.push({
      code: 'POLICY_TEST_SCHEMA',
      severity: 'error',
      ...posAt(pf, [...base, 'expect', field], 'key'),
      message: `case "${raw.name}": expect.${field}: ${message}`,
    })
  }
  const before = diags.length
  for (const f of ['stored', 'notStored'])
    if (x[f] !== undefined && raw.response === undefined)
      bad(f, 'needs a response to judge (response: { status, headers })')
  if (x.bypass !== undefined && x.decision !== undefined && x.decision !== 'bypass')
    bad('bypass', `says the request bypasses, but decision says ${String(x.decision)}`)
  if (x.notStored !== undefined && x.stored !== undefined && x.stored !== false)
    bad('notStored', `says the response is not stored, but stored says ${render(x.stored)}`)
  if (diags.length > before) return undefined

  const expect: { -readonly [K in keyof Expectations]: Expectations[K] } = {}
  if ('rule' in x) expect.rule = at('rule', x.rule as string | null)
  if (x.decision !== undefined) expect.decision = at('decision', x.decision as 'lookup')
  if (x.bypass !== undefined) expect.bypass = at('bypass', x.bypass as string)
  if (x.sameKey !== undefined) expect.sameKey = toRequests(pf, x.sameKey, [...base, 'expect', 'sameKey'])
  if (x.differentKey !== undefined)
    expect.differentKey = toRequests(pf, x.differentKey, [...base, 'expect', 'differentKey'])
  if (x.removed !== undefined) {
    const r = x.removed as Record<string, string[]>
    const one = (f: string) =>
      r[f] === undefined ? undefined : { value: r[f]!, pos: posAt(pf, [...base, 'expect', 'removed', f]) }
    expect.removed = { query: one('query'), cookies: one('cookies'), headers: one('headers') }
  }
  if (x.tags !== undefined) expect.tags = at('tags', x.tags as string[])
  if (x.stored !== undefined)
    expect.stored = at('stored', typeof x.stored === 'boolean' ? x.stored : parseDuration(x.stored)!)
  if (x.notStored !== undefined) expect.notStored = at('notStored', x.notStored as string)
  const response: ExplainResponse | undefined =
    raw.response === undefined
      ? undefined
      : {
          status: raw.response.status ?? 200,
          headers: Object.fromEntries(
            Object.entries(raw.response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
          ),
        }
  return {
    name: raw.name,
    pos: posAt(pf, base),
    request: toRequest(pf, raw.request, [...base, 'request']),
    ...(response === undefined ? {} : { response }),
    expect,
  }
}

/**
 * Reads one test file. `file` is undefined when it could not be read, parsed or validated: a
 * file with any error runs no case (like a policy file, it is taken whole or not at all).
 */
export async function readTestFile(found: Found): Promise<{ file?: TestFile; diagnostics: Diagnostic[] }> {
  const diagnostics: Diagnostic[] = []
  const pf = await parseFile(
    found,
    { maxFileBytes: MAX_FILE_BYTES, maxAliasCount: MAX_ALIAS_COUNT },
    diagnostics,
  )
  if (pf === undefined) return { diagnostics }
  if (!validFast(pf.data) && !validateSchema(pf.data)) {
    diagnostics.push(...schemaDiagnostics(pf, validateSchema.errors ?? []))
    return { diagnostics }
  }
  const raw = pf.data as { cases: RawCase[] }
  const cases: TestCase[] = []
  // a report names a case by its name: two cases of one name would be told apart by line only
  const seen = new Map<string, SourcePos>()
  raw.cases.forEach((c, i) => {
    const tc = toCase(pf, c, i, diagnostics)
    if (tc) cases.push(tc)
    const pos = posAt(pf, ['cases', i, 'name'])
    const first = seen.get(c.name)
    if (first)
      diagnostics.push({
        code: 'POLICY_TEST_SCHEMA',
        severity: 'error',
        ...pos,
        message: `case "${c.name}": duplicate case name, first at ${first.file}:${first.line}:${first.col}`,
      })
    else seen.set(c.name, pos)
  })
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics }
  return { file: { file: pf.file, cases }, diagnostics }
}
