/**
 * A reader for the plain YAML that policy files are written in, about ten times faster than the
 * `yaml` parser and with a fraction of its garbage (issue 12 item 8: at 100k rules, `yaml`'s
 * Documents were most of the load's time, and the collector most of the rest).
 *
 * It reads block maps and sequences, one-line flow collections (`[a, "b"]`, `{ 200: 5m }`),
 * plain, single- and double-quoted (without escapes) scalars and comments, and keeps where
 * every node starts, the offsets `yaml` gives its nodes, so positions (and so every diagnostic's
 * file:line:col) are the same either way (test/policy/quick-yaml.test.ts compares both on every
 * node of the example policies and of seeded generated files).
 *
 * Anything else (anchors, aliases, tags, block scalars, escapes, multi-line scalars, tabs, CR,
 * duplicate keys, documents markers, a key that is not a plain word, any scalar whose type
 * could be read two ways) makes it give up: `quickYaml` returns undefined and the loader parses
 * the file with `yaml`, which also reports what is wrong. It never accepts what `yaml` would
 * read differently; when in doubt, it gives up.
 *
 * `quickYamlSteps` reads the root map and its block sequences (`rules:`) as a generator that
 * pauses (a bare `yield`, src/steps.ts) between items every STEP_NODES block nodes, so that a
 * reload reading a 1 MiB file of 10k rules lets the event loop run every few milliseconds instead
 * of holding it for the whole file (issue 12 item 8). Below the root's sequences the readers are
 * plain functions: a generator per rule map cost a third more time.
 */
import { runSteps } from '../steps.js'

/** A node, where yaml's Node would start (`range[0]`). */
export interface QuickNode {
  readonly start: number
  /** a null scalar with no text (`ttl:`): positions point at its key, as for yaml's empty range */
  readonly empty: boolean
  /** a map's pairs (in order) */
  readonly pairs: readonly QuickPair[] | null
  /** a sequence's items */
  readonly items: readonly QuickNode[] | null
}

export interface QuickPair {
  readonly key: string
  readonly keyStart: number
  readonly value: QuickNode
}

export interface QuickDocument {
  readonly root: QuickNode
  /** what yaml's `doc.toJS()` gives */
  readonly data: unknown
  /** the offsets where lines start, as yaml's LineCounter records them */
  readonly lineStarts: readonly number[]
}

/** thrown (one shared object, no stack) when the text leaves the subset */
const GIVE_UP: unique symbol = Symbol('quick-yaml: not in the subset')

/** a key: a plain word (no quoting, no type other than a string or a canonical integer) */
const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$|^(?:0|[1-9][0-9]{0,14})$/
/** YAML 1.2 core schema plain scalars other than strings (yaml's `core` tags) */
const NULL = /^(?:~|[Nn]ull|NULL)$/
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/
const INT = /^[-+]?[0-9]+$/
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/
/** other core forms (octal, hex, .inf, .nan): given up, not guessed */
const OTHER = /^(?:[-+]?0o|0x|[-+]?\.(?:inf|Inf|INF)$|\.(?:nan|NaN|NAN)$)/
/** cannot start a plain scalar here (or would start something this reader does not read) */
const INDICATOR = /[-?:,[\]{}#&*!|>'"%@`]/

/** deeper nesting than this is left to yaml */
const MAX_DEPTH = 64

/** block map pairs and sequence items read between two pauses (~4 a rule: a few ms) */
export const STEP_NODES = 2048
/** lines scanned between two pauses, less one (a mask) */
const STEP_LINES = 16383

/** `null:` and `True:` are keys yaml turns into '' and 'true': given up */
const keyWords = (s: string): boolean => s !== '__proto__' && KEY.test(s) && !NULL.test(s) && !BOOL.test(s)

function plainValue(s: string): unknown {
  const c = s.charCodeAt(0)
  // only words that start like a number, `~`, n/N, t/T, f/F or `.` can be other than a string
  if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) {
    if (OTHER.test(s)) throw GIVE_UP
    if (INT.test(s)) {
      const n = Number(s)
      if (!Number.isSafeInteger(n)) throw GIVE_UP
      return n
    }
    if (FLOAT.test(s)) return Number(s)
    return s
  }
  if (NULL.test(s)) return null
  if (BOOL.test(s)) return s.charCodeAt(0) === 116 || s.charCodeAt(0) === 84 // t, T
  return s
}

const scalarNode = (start: number, empty = false): QuickNode => ({ start, empty, pairs: null, items: null })

class Reader {
  readonly src: string
  /** significant lines (not blank, not only a comment): start offset and indent */
  readonly lineAt: number[] = []
  readonly indentOf: number[] = []
  readonly endOf: number[] = []
  line = 0
  depth = 0
  /** block nodes read since the last pause */
  nodes = 0
  /** the key pairKey read */
  key = ''

  constructor(src: string) {
    this.src = src
  }

  /** the significant lines' tables, from the offsets where lines start */
  *scan(lineStarts: readonly number[]): Generator<void, void> {
    const src = this.src
    for (let k = 0; k < lineStarts.length; k++) {
      if ((k & STEP_LINES) === STEP_LINES) yield
      const start = lineStarts[k]!
      let end = src.indexOf('\n', start)
      if (end === -1) end = src.length
      let i = start
      while (i < end && src.charCodeAt(i) === 32) i++
      if (i === end || src.charCodeAt(i) === 35 /* # */) continue
      this.lineAt.push(start)
      this.indentOf.push(i - start)
      this.endOf.push(end)
    }
  }

  get done(): boolean {
    return this.line >= this.lineAt.length
  }

  /** the first character of the current line's content */
  contentStart(): number {
    return this.lineAt[this.line]! + this.indentOf[this.line]!
  }

  isDash(at: number): boolean {
    const c = this.src.charCodeAt(at + 1)
    return this.src.charCodeAt(at) === 45 && (c === 32 || at + 1 === this.endOf[this.line])
  }

  /** a block node whose first line is the current one, at `indent` */
  block(indent: number, out: { v: unknown }): QuickNode {
    const at = this.contentStart()
    return this.isDash(at) ? this.seq(indent, out) : this.map(indent, at, out)
  }

  /** after a node ends on the current line: the rest is spaces and maybe a comment */
  endLine(at: number): void {
    const src = this.src
    const end = this.endOf[this.line]!
    const from = at
    while (at < end && src.charCodeAt(at) === 32) at++
    if (at < end && !(src.charCodeAt(at) === 35 && at > from)) throw GIVE_UP
    this.line++
  }

  /** lines after a complete node: the next is at `indent` (go on) or less (done), never deeper */
  next(indent: number): boolean {
    if (this.done) return false
    const n = this.indentOf[this.line]!
    if (n > indent) throw GIVE_UP
    return n === indent
  }

  seq(indent: number, out: { v: unknown }): QuickNode {
    const start = this.contentStart()
    const items: QuickNode[] = []
    const values: unknown[] = []
    this.enter()
    do this.item(items, values)
    while (this.moreItems(indent))
    this.depth--
    out.v = values
    return { start, empty: false, pairs: null, items }
  }

  /** seq, pausing between items every STEP_NODES block nodes */
  *seqSteps(indent: number, out: { v: unknown }): Generator<void, QuickNode> {
    const start = this.contentStart()
    const items: QuickNode[] = []
    const values: unknown[] = []
    this.enter()
    do {
      this.item(items, values)
      if (this.nodes >= STEP_NODES) {
        this.nodes = 0
        yield
      }
    } while (this.moreItems(indent))
    this.depth--
    out.v = values
    return { start, empty: false, pairs: null, items }
  }

  /** the sequence item (`- …`) on the current line */
  item(items: QuickNode[], values: unknown[]): void {
    this.nodes++
    let at = this.contentStart() + 1
    const end = this.endOf[this.line]!
    while (at < end && this.src.charCodeAt(at) === 32) at++
    if (at === end || this.isDash(at)) throw GIVE_UP // `-` alone (its item below), `- - a`
    const v = { v: undefined as unknown }
    items.push(
      this.isPairStart(at) ? this.map(at - this.lineAt[this.line]!, at, v) : this.inline(at, v, true),
    )
    values.push(v.v)
  }

  /** a line at this indent that is not a `-` ends the sequence (`rules:` then `- …` at the same
   *  indent as `rules`, then the next key) */
  moreItems(indent: number): boolean {
    return this.next(indent) && this.isDash(this.contentStart())
  }

  /** nesting is capped (a file of `[[[[…` must not overflow the stack): deeper goes to yaml */
  enter(): void {
    if (++this.depth > MAX_DEPTH) throw GIVE_UP
  }

  /** `key:` followed by a space or the line's end, at `at` */
  isPairStart(at: number): boolean {
    const src = this.src
    const end = this.endOf[this.line]!
    const c = src.charCodeAt(at)
    if (c === 34 || c === 39 || c === 91 || c === 123) return false
    const colon = this.find(58, at, end)
    return colon !== -1 && (colon + 1 === end || src.charCodeAt(colon + 1) === 32)
  }

  /** a block map whose first key is at `first` on the current line; its keys are at `indent` */
  map(indent: number, first: number, out: { v: unknown }): QuickNode {
    const pairs: QuickPair[] = []
    const obj: Record<string, unknown> = {}
    let at = first
    this.enter()
    for (;;) {
      const v = this.pairKey(at, obj)
      const key = this.key
      const box = { v: null as unknown }
      const below = v === -1 ? this.below(indent) : -1
      const value =
        v !== -1
          ? this.inline(v, box, true)
          : below !== -1
            ? this.block(below, box)
            : scalarNode(this.emptyAt, true)
      pairs.push({ key, keyStart: at, value })
      obj[key] = box.v
      at = this.nextKey(indent)
      if (at === -1) break
    }
    this.depth--
    out.v = obj
    return { start: first, empty: false, pairs, items: null }
  }

  /** the root map (the same as map), its block sequences read with seqSteps */
  *rootSteps(first: number, out: { v: unknown }): Generator<void, QuickNode> {
    const pairs: QuickPair[] = []
    const obj: Record<string, unknown> = {}
    let at = first
    this.enter()
    for (;;) {
      const v = this.pairKey(at, obj)
      const key = this.key
      const box = { v: null as unknown }
      const below = v === -1 ? this.below(0) : -1
      const value =
        v !== -1
          ? this.inline(v, box, true)
          : below === -1
            ? scalarNode(this.emptyAt, true)
            : this.isDash(this.contentStart())
              ? yield* this.seqSteps(below, box)
              : this.map(below, this.contentStart(), box)
      pairs.push({ key, keyStart: at, value })
      obj[key] = box.v
      at = this.nextKey(0)
      if (at === -1) break
    }
    this.depth--
    out.v = obj
    return { start: first, empty: false, pairs, items: null }
  }

  /** where `key:`'s empty value is (its key, for positions) */
  emptyAt = 0

  /**
   * The key of the pair at `at` on the current line, checked, into `this.key`; returns where its
   * value starts on this line, or -1 when the line ends after the colon (maybe with a comment:
   * a block below, or a null), having moved to the next line.
   */
  pairKey(at: number, obj: Record<string, unknown>): number {
    const src = this.src
    this.nodes++
    const end = this.endOf[this.line]!
    const colon = this.find(58, at, end)
    if (colon === -1) throw GIVE_UP
    const key = src.slice(at, colon)
    if (!keyWords(key) || Object.hasOwn(obj, key)) throw GIVE_UP
    if (colon + 1 < end && src.charCodeAt(colon + 1) !== 32) throw GIVE_UP
    let v = colon + 1
    while (v < end && src.charCodeAt(v) === 32) v++
    this.key = key
    if (v === end || src.charCodeAt(v) === 35) {
      this.emptyAt = v
      this.line++
      return -1
    }
    return v
  }

  /** after `key:` and its line's end: the indent of the block below (deeper, or a sequence at
   *  the map's own indent), or -1 for none (the value is a null) */
  below(indent: number): number {
    if (this.done) return -1
    const n = this.indentOf[this.line]!
    if (n > indent) return n
    return n === indent && this.isDash(this.contentStart()) ? indent : -1
  }

  /** after a pair: where the map's next key is, or -1 when the map ends */
  nextKey(indent: number): number {
    if (!this.next(indent)) return -1
    const at = this.contentStart()
    if (this.isDash(at)) throw GIVE_UP
    return at
  }

  /** a value that starts at `at` and ends on this line; moves to the next line */
  inline(at: number, out: { v: unknown }, block: boolean): QuickNode {
    const r = this.flowValue(at, out, block)
    this.endLine(r.end)
    return r.node
  }

  /** a scalar or flow collection from `at` on the current line */
  flowValue(at: number, out: { v: unknown }, block: boolean): { node: QuickNode; end: number } {
    const src = this.src
    const end = this.endOf[this.line]!
    if (at >= end) throw GIVE_UP
    const c = src.charCodeAt(at)
    if (c === 34 /* " */) {
      const close = this.find(34, at + 1, end)
      if (close === -1) throw GIVE_UP
      const s = src.slice(at + 1, close)
      if (s.includes('\\')) throw GIVE_UP
      out.v = s
      return { node: scalarNode(at), end: close + 1 }
    }
    if (c === 39 /* ' */) {
      let i = at + 1
      let s = ''
      for (;;) {
        const close = this.find(39, i, end)
        if (close === -1) throw GIVE_UP
        s += src.slice(i, close)
        if (src.charCodeAt(close + 1) === 39) {
          s += "'"
          i = close + 2
          continue
        }
        out.v = s
        return { node: scalarNode(at), end: close + 1 }
      }
    }
    if (c === 91 /* [ */ || c === 123 /* { */) {
      this.enter()
      const r = c === 91 ? this.flowSeq(at, out) : this.flowMap(at, out)
      this.depth--
      return r
    }
    if (INDICATOR.test(src[at]!)) throw GIVE_UP
    // plain: to a ` #`, the line's end, or (in a flow) a `,` `]` `}`
    let i = at
    if (block) {
      i = at
      while (i < end && !(src.charCodeAt(i) === 35 && src.charCodeAt(i - 1) === 32)) i++
      if (i < end) i--
    } else {
      while (i < end) {
        const d = src.charCodeAt(i)
        if (d === 44 || d === 93 || d === 125) break
        if (d === 35 || d === 58 || d === 91 || d === 123) throw GIVE_UP // # : [ {
        i++
      }
    }
    let j = i
    while (j > at && src.charCodeAt(j - 1) === 32) j--
    const s = src.slice(at, j)
    // `a: b` on one line is an error in yaml; brackets inside a block plain scalar are legal but
    // read by hand too easily as a flow: both left to yaml
    if (block && (s.includes(': ') || s.endsWith(':') || /[[\]{}]/.test(s))) throw GIVE_UP
    out.v = plainValue(s)
    return { node: scalarNode(at), end: i }
  }

  /** the first `code` in [at, end), or -1 (a loop: indexOf would scan on to the file's end) */
  find(code: number, at: number, end: number): number {
    const src = this.src
    for (let i = at; i < end; i++) if (src.charCodeAt(i) === code) return i
    return -1
  }

  skipSpaces(at: number): number {
    const end = this.endOf[this.line]!
    while (at < end && this.src.charCodeAt(at) === 32) at++
    return at
  }

  flowSeq(open: number, out: { v: unknown }): { node: QuickNode; end: number } {
    const src = this.src
    const items: QuickNode[] = []
    const values: unknown[] = []
    let at = this.skipSpaces(open + 1)
    if (src.charCodeAt(at) === 93) {
      out.v = values
      return { node: { start: open, empty: false, pairs: null, items }, end: at + 1 }
    }
    for (;;) {
      const box = { v: null as unknown }
      const r = this.flowValue(at, box, false)
      items.push(r.node)
      values.push(box.v)
      at = this.skipSpaces(r.end)
      const c = src.charCodeAt(at)
      if (c === 93) break
      if (c !== 44) throw GIVE_UP
      at = this.skipSpaces(at + 1)
      const d = src.charCodeAt(at)
      if (d === 93 || d === 44 || at >= this.endOf[this.line]!) throw GIVE_UP // `[a,]`, `[a,,b]`, line ends
    }
    out.v = values
    return { node: { start: open, empty: false, pairs: null, items }, end: at + 1 }
  }

  flowMap(open: number, out: { v: unknown }): { node: QuickNode; end: number } {
    const src = this.src
    const end = this.endOf[this.line]!
    const pairs: QuickPair[] = []
    const obj: Record<string, unknown> = {}
    let at = this.skipSpaces(open + 1)
    if (src.charCodeAt(at) === 125) {
      out.v = obj
      return { node: { start: open, empty: false, pairs, items: null }, end: at + 1 }
    }
    for (;;) {
      const colon = this.find(58, at, end)
      if (colon === -1 || src.charCodeAt(colon + 1) !== 32) throw GIVE_UP
      const key = src.slice(at, colon)
      if (!keyWords(key) || Object.hasOwn(obj, key)) throw GIVE_UP
      const v = this.skipSpaces(colon + 1)
      const c0 = src.charCodeAt(v)
      if (v >= end || c0 === 44 || c0 === 125) throw GIVE_UP
      const box = { v: null as unknown }
      const r = this.flowValue(v, box, false)
      pairs.push({ key, keyStart: at, value: r.node })
      obj[key] = box.v
      at = this.skipSpaces(r.end)
      const c = src.charCodeAt(at)
      if (c === 125) break
      if (c !== 44) throw GIVE_UP
      at = this.skipSpaces(at + 1)
      const d = src.charCodeAt(at)
      if (d === 125 || d === 44 || at >= end) throw GIVE_UP
    }
    out.v = obj
    return { node: { start: open, empty: false, pairs, items: null }, end: at + 1 }
  }
}

/** What may not appear anywhere: tabs, CR, control and non-characters, a BOM. */
function hasOddCharacters(src: string): boolean {
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i)
    if (
      c < 32
        ? c !== 10
        : c >= 127 && (c <= 159 || c === 0xfeff || c >= 0xfffe || (c >= 0xd800 && c <= 0xdfff))
    )
      return true
  }
  return false
}

/**
 * The file's data and node positions, or undefined when it is not in the subset (then parse it
 * with `yaml`). The root must be a block map.
 */
export function quickYaml(src: string): QuickDocument | undefined {
  return runSteps(quickYamlSteps(src))
}

/** quickYaml, pausing (a bare `yield`) every STEP_NODES block nodes: run it with runStepsAsync. */
export function* quickYamlSteps(src: string): Generator<void, QuickDocument | undefined> {
  if (src.length === 0 || hasOddCharacters(src)) return undefined
  const lineStarts = [0]
  for (let i = src.indexOf('\n'); i !== -1 && i + 1 < src.length; i = src.indexOf('\n', i + 1))
    lineStarts.push(i + 1)
  yield
  const r = new Reader(src)
  yield* r.scan(lineStarts)
  if (r.done || r.indentOf[0] !== 0) return undefined
  try {
    const out = { v: undefined as unknown }
    const at = r.contentStart()
    if (r.isDash(at)) return undefined
    const root = yield* r.rootSteps(at, out)
    if (!r.done) return undefined
    return { root, data: out.v, lineStarts }
  } catch (err) {
    if (err === GIVE_UP) return undefined
    throw err
  }
}
