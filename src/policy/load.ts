/**
 * Loading a policy set: folder(s) and file(s) → validated, normalised, frozen rules, or every
 * problem found, each at file:line:col. A set is applied whole or not at all (spec "Errors"),
 * so any error anywhere gives `{ ok: false }` and no rules.
 *
 * Hostile input must not stall a reload (spec "A file"; docs/threats.md T69): files are
 * read through a bounded buffer (never more than `maxFileBytes + 1` bytes), and YAML aliases are
 * capped with yaml's `maxAliasCount`, which weighs each alias by the aliases inside its anchor,
 * so a "billion laughs" is refused after a few dozen steps while one reused anchor is fine.
 *
 * This function never throws for bad files; it throws a TypeError only for programmer misuse.
 */
import { resolve } from 'node:path'
import { type Document, isScalar, LineCounter, type Node, parseDocument, visit } from 'yaml'
import { runStepsAsync, STEP_MASK } from '../steps.js'
import { checkFileSteps } from './check.js'
import { type Found, listFiles, readBounded, reason, sizeText, wholeFile } from './files.js'
import { lintRulesAsync } from './lint.js'
import { lintFileRulesSteps } from './lint-rule.js'
import { digest, mergeDefaults, normalizeRule, type RawPolicyFile } from './normalize.js'
import { quickYamlSteps } from './quick-yaml.js'
import { type ParsedFile, type PathSegment, posAt } from './source.js'
import type { Diagnostic, LoadResult, Rule, SourcePos } from './types.js'
import { validateFileSteps } from './validate.js'

/** @default 1 MiB: the spec's limit for one policy file. */
export const MAX_FILE_BYTES = 1024 * 1024
/** @default 16: yaml's weighted alias budget per file (0 forbids aliases). */
export const MAX_ALIAS_COUNT = 16

export interface LoadOptions {
  /** Files larger than this are rejected (POLICY_TOO_LARGE). @default MAX_FILE_BYTES */
  maxFileBytes?: number
  /** yaml `toJS({ maxAliasCount })`; beyond it the file is rejected (POLICY_ALIASES). @default MAX_ALIAS_COUNT */
  maxAliasCount?: number
  /** Relative targets resolve against it, and paths in diagnostics are shown relative to it. @default process.cwd() */
  cwd?: string
}

/**
 * @internal One policy file as a load read it (its path, absolute and as displayed, and its
 * text): `cachet serve --workers` keeps the fleet's set as these and hands them to a worker that
 * replaces one that died, so that it runs what the fleet runs, not whatever the files now hold.
 */
export interface PolicySource {
  readonly abs: string
  readonly file: string
  readonly text: string
}

/** @internal Where a load takes its files: `from` (a snapshot) instead of the disk; each file read is pushed to `read`. */
export interface SourceIO {
  readonly from?: readonly PolicySource[] | undefined
  readonly read?: PolicySource[] | undefined
}

/** What `validate-policies` reports besides the result: how much it looked at. */
export interface LoadReport {
  readonly result: LoadResult
  /** every policy file found, as displayed */
  readonly files: readonly string[]
  /** rules seen in files that parsed, valid or not */
  readonly ruleCount: number
}

/** The text of the map key that starts at `offset` (yaml reports a duplicate key by its first character). */
function keyAt(doc: Document.Parsed, offset: number): string | undefined {
  let name: string | undefined
  visit(doc, {
    Pair(_k, pair) {
      const key = pair.key as Node | null
      if (key?.range?.[0] === offset) {
        name = String(isScalar(key) ? key.value : key)
        return visit.BREAK
      }
      return undefined
    },
  })
  return name
}

/**
 * Reads and parses one file into a ParsedFile, or explains why it cannot (size, UTF-8, YAML
 * syntax, duplicate keys, aliases). Policy test files are read by the same (src/policy-test/).
 */
export async function parseFile(
  found: Found,
  options: Required<Omit<LoadOptions, 'cwd'>>,
  diags: Diagnostic[],
  quick = true,
  /** @internal the file's text, read before (a snapshot); undefined: read it from disk */
  text?: string,
  /** @internal the text read is pushed here */
  record?: PolicySource[],
): Promise<ParsedFile | undefined> {
  const { abs, file } = found
  let src: string
  if (text !== undefined) src = text
  else {
    let read
    try {
      read = await readBounded(abs, options.maxFileBytes)
    } catch (err) {
      diags.push(wholeFile('POLICY_READ', file, `cannot read: ${reason(err)}`))
      return undefined
    }
    if ('tooLarge' in read) {
      diags.push(
        wholeFile(
          'POLICY_TOO_LARGE',
          file,
          `file is ${read.tooLarge} bytes, over the ${sizeText(options.maxFileBytes)} limit for a policy file`,
        ),
      )
      return undefined
    }
    try {
      src = new TextDecoder('utf-8', { fatal: true }).decode(read.bytes)
    } catch {
      diags.push(wholeFile('POLICY_READ', file, 'cannot read: not valid UTF-8'))
      return undefined
    }
  }
  record?.push({ abs, file, text: src })

  // the plain YAML policies are written in: read fast, with yaml's positions (quick-yaml.ts),
  // letting the event loop run every few thousand nodes
  const q = quick ? await runStepsAsync(quickYamlSteps(src)) : undefined
  if (q !== undefined) {
    // the same offsets, taken as they are (LineCounter.lineStarts is its public table)
    const lineCounter = new LineCounter()
    lineCounter.lineStarts = q.lineStarts as number[]
    return { file, doc: undefined, quick: q.root, lineCounter, data: q.data }
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(src, { lineCounter, uniqueKeys: true, prettyErrors: false, logLevel: 'error' })
  const at = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset)
    return { file, line: Math.max(line, 1), col: Math.max(col, 1) }
  }
  for (const e of doc.errors) {
    const p = at(e.pos[0])
    const message =
      e.code === 'DUPLICATE_KEY'
        ? `duplicate key ${JSON.stringify(keyAt(doc, e.pos[0]) ?? src.slice(e.pos[0], e.pos[1]))}: each field may appear once`
        : e.code === 'MULTIPLE_DOCS'
          ? 'invalid YAML: a policy file holds one document, found a second one'
          : `invalid YAML: ${e.message}`
    diags.push({
      code: e.code === 'DUPLICATE_KEY' ? 'DUPLICATE_KEY' : 'YAML_SYNTAX',
      severity: 'error',
      ...p,
      message,
    })
  }
  for (const w of doc.warnings) {
    diags.push({ code: 'YAML_WARNING', severity: 'warning', ...at(w.pos[0]), message: w.message })
  }
  if (doc.errors.length > 0) return undefined

  // `&a [*a]`: an alias inside the node it names makes a cyclic value, which no later stage (nor
  // JSON.stringify in a message) could walk; refuse it where the alias is.
  let cyclic: Node | undefined
  visit(doc, {
    Alias(_k, node) {
      const target = node.resolve(doc)
      const r = node.range
      const t = target?.range
      if (r && t && t[0] <= r[0] && r[1] <= t[2]) {
        cyclic = node
        return visit.BREAK
      }
      return undefined
    },
  })
  if (cyclic !== undefined) {
    diags.push({
      code: 'POLICY_ALIASES',
      severity: 'error',
      ...at(cyclic.range?.[0] ?? 0),
      message: 'a YAML alias inside the node it refers to makes a recursive value; a policy cannot hold one',
    })
    return undefined
  }

  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: options.maxAliasCount })
  } catch (err) {
    let first: Node | undefined
    visit(doc, {
      Alias(_k, node) {
        first = node
        return visit.BREAK
      },
    })
    const p = at(first?.range?.[0] ?? 0)
    const msg = err instanceof Error ? err.message : String(err)
    if (/Excessive alias count|Alias resolution is disabled/.test(msg)) {
      diags.push({
        code: 'POLICY_ALIASES',
        severity: 'error',
        ...p,
        message: `too many YAML aliases (limit ${options.maxAliasCount}): alias expansion is capped so that a policy file cannot exhaust memory`,
      })
    } else {
      diags.push({ code: 'YAML_SYNTAX', severity: 'error', ...p, message: `invalid YAML: ${msg}` })
    }
    return undefined
  }
  return { file, doc, lineCounter, data }
}

function checkOptions(target: unknown, options: LoadOptions): void {
  const ok =
    typeof target === 'string' || (Array.isArray(target) && target.every((t) => typeof t === 'string'))
  if (!ok) throw new TypeError('loadPolicies: target must be a path or a list of paths')
  const { maxFileBytes, maxAliasCount, cwd } = options
  if (maxFileBytes !== undefined && !(Number.isSafeInteger(maxFileBytes) && maxFileBytes > 0)) {
    throw new TypeError('loadPolicies: maxFileBytes option must be a positive integer')
  }
  if (maxAliasCount !== undefined && !(Number.isSafeInteger(maxAliasCount) && maxAliasCount >= 0)) {
    throw new TypeError('loadPolicies: maxAliasCount option must be a non-negative integer')
  }
  if (cwd !== undefined && typeof cwd !== 'string')
    throw new TypeError('loadPolicies: cwd option must be a string')
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

/** What the files loaded so far have given. */
interface LoadState {
  readonly diags: Diagnostic[]
  /** where each id was first defined */
  readonly firstId: Map<string, SourcePos>
  /** every file's normalised rules, in declaration order */
  readonly rules: Rule[]
  /** where each rule starts (its `-`), by Rule.index, for the cross-rule lint's warnings */
  readonly startLine: number[]
  readonly startCol: number[]
  ruleCount: number
}

/** `rules[i].id` and `rules[i]`, `i` set before each use: posAt only reads a path, and the
 *  loader asks two or three per rule (a new array and index text each time, before) */
const idPath: PathSegment[] = ['rules', 0, 'id']
const rulePath: PathSegment[] = ['rules', 0]

/**
 * One parsed file: schema, duplicate ids, checks, then (when it has no error) normalised into
 * `st.rules` and linted rule by rule. Pauses (a bare `yield`) every STEP_RULES rules of each pass.
 */
function* fileSteps(pf: ParsedFile, st: LoadState): Generator<void, void> {
  const { diags, firstId, rules, startLine, startCol } = st
  const before = diags.length
  const badRules = new Set<number>()
  const { diagnostics, structural } = yield* validateFileSteps(pf, badRules)
  diags.push(...diagnostics)
  const data = pf.data
  if (!isRecord(data) || !Array.isArray(data.rules)) return
  const list: unknown[] = data.rules
  st.ruleCount += list.length
  // A duplicate id is reported where it appears the second time, naming the first (spec "Errors").
  const skip = new Set(badRules)
  /** each rule's id position (frozen: the rule keeps it as its pos) */
  const idPos: (SourcePos | undefined)[] = []
  for (let i = 0; i < list.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    const r = list[i]
    if (!isRecord(r)) {
      skip.add(i)
      continue
    }
    if (typeof r.id !== 'string') continue
    idPath[1] = i
    const p = Object.freeze(posAt(pf, idPath))
    idPos[i] = p
    const first = firstId.get(r.id)
    if (first) {
      diags.push({
        code: 'DUPLICATE_ID',
        severity: 'error',
        ...p,
        ruleId: r.id,
        message: `duplicate id, first defined at ${first.file}:${first.line}:${first.col}`,
      })
    } else {
      firstId.set(r.id, p)
    }
  }
  diags.push(...(yield* checkFileSteps(pf, data as unknown as RawPolicyFile, skip, structural)))
  // Normalise every file without errors; lint them even when another file failed, so one run
  // shows everything (a warning about two valid rules is true whatever else is broken).
  for (let k = before; k < diags.length; k++) if (diags[k]!.severity === 'error') return
  const raw = data as unknown as RawPolicyFile
  const own: Rule[] = []
  for (let i = 0; i < raw.rules.length; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield
    idPath[1] = i
    const rule = normalizeRule(
      mergeDefaults(raw.defaults, raw.rules[i]!),
      rules.length,
      idPos[i] ?? posAt(pf, idPath),
    )
    rulePath[1] = i
    const p = posAt(pf, rulePath)
    startLine.push(p.line)
    startCol.push(p.col)
    rules.push(rule)
    own.push(rule)
  }
  // warnings about each rule alone, at the field that causes them (the YAML tree is still here)
  diags.push(...(yield* lintFileRulesSteps(pf, raw, own)))
}

/** Like {@link loadPolicies}, plus the counts `validate-policies` prints. */
export async function loadPolicySet(
  target: string | readonly string[],
  options: LoadOptions = {},
  /** @internal false: every file through yaml, none through quick-yaml (tests compare the two) */
  quick = true,
  /** @internal a snapshot to load instead of the files, and where to record the files read */
  io: SourceIO = {},
): Promise<LoadReport> {
  checkOptions(target, options)
  const cwd = resolve(options.cwd ?? process.cwd())
  const opts = {
    maxFileBytes: options.maxFileBytes ?? MAX_FILE_BYTES,
    maxAliasCount: options.maxAliasCount ?? MAX_ALIAS_COUNT,
  }
  const diags: Diagnostic[] = []
  // a snapshot holds the files a load found, in its order: the folders are not listed again
  const texts = io.from === undefined ? undefined : new Map(io.from.map((f) => [f.abs, f.text]))
  const found =
    io.from === undefined
      ? await listFiles(typeof target === 'string' ? [target] : target, cwd, diags)
      : io.from.map((f) => ({ abs: f.abs, file: f.file }))

  // One file at a time, start to finish: its YAML tree is dropped before the next is read (at
  // 100k rules, keeping every Document alive took gigabytes), and each stage lets the event loop
  // run every few hundred rules, so a reload never blocks it for long, not even for one file
  // of 10k rules (issue 12 item 8).
  const st: LoadState = { diags, firstId: new Map(), rules: [], startLine: [], startCol: [], ruleCount: 0 }
  for (const f of found) {
    const pf = await parseFile(f, opts, diags, quick, texts?.get(f.abs), io.read)
    if (pf) await runStepsAsync(fileSteps(pf, st))
  }
  const { rules, startLine, startCol, ruleCount } = st

  const files = found.map((f) => f.file)
  const errors = diags.filter((d) => d.severity === 'error')
  const warnings = diags.filter((d) => d.severity === 'warning')
  const start = (r: Rule): SourcePos => ({
    file: r.pos.file,
    line: startLine[r.index]!,
    col: startCol[r.index]!,
  })
  warnings.push(...(await lintRulesAsync(rules, start)))
  if (errors.length > 0) return { result: { ok: false, errors, warnings }, files, ruleCount }
  const version = digest(rules.map((r) => r.version).join('\n'))
  return { result: { ok: true, rules: Object.freeze(rules), files, warnings, version }, files, ruleCount }
}

/**
 * Loads a policy folder (every *.yaml / *.yml in it, by name, not recursive), a file, or a list
 * of either. Never throws for bad files: problems come back as diagnostics.
 *
 * @example
 * const result = await loadPolicies('policies')
 * if (!result.ok) console.error(formatDiagnostics(result.errors, 'text'))
 */
export async function loadPolicies(
  target: string | readonly string[],
  options?: LoadOptions,
): Promise<LoadResult> {
  return (await loadPolicySet(target, options)).result
}
