/**
 * A parsed policy file and the one walk that turns a JSON path into a place in it.
 * Offsets stay in the yaml nodes; line:col is computed here, at the edge.
 * yaml v2's `doc.getIn` compares map keys by value (`'200' !== 200`), so status-map keys
 * would not resolve: we walk YAMLMap / YAMLSeq ourselves and compare keys as strings.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml'
import type { QuickNode, QuickPair } from './quick-yaml.js'
import type { SourcePos } from './types.js'

export interface ParsedFile {
  /** the path as shown to the user (relative to the working directory when inside it) */
  readonly file: string
  /** yaml's Document, or undefined when quick-yaml read the file (then `quick` is its root) */
  readonly doc: Document.Parsed | undefined
  /** quick-yaml's root node, with the offsets yaml's nodes would have */
  readonly quick?: QuickNode | undefined
  readonly lineCounter: LineCounter
  /** `doc.toJS()`: what the schema validates */
  readonly data: unknown
}

export type PathSegment = string | number

interface Located {
  /** the value node at the path (undefined when the path runs past the document) */
  node: Node | undefined
  /** the key node of the last step, when the last step went through a map */
  keyNode: Node | undefined
  /** the deepest node reached, for a fallback position */
  nearest: Node | undefined
}

/** Walks `segments` from the document root; follows aliases to their anchors. */
export function locate(pf: ParsedFile, segments: readonly PathSegment[]): Located {
  if (pf.doc === undefined) throw new TypeError('locate: a quick-yaml file has no yaml nodes')
  let node: Node | undefined = pf.doc.contents ?? undefined
  let keyNode: Node | undefined
  let nearest = node
  for (const seg of segments) {
    if (node && isAlias(node)) node = node.resolve(pf.doc) ?? undefined
    keyNode = undefined
    if (node && isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg))
      keyNode = (pair?.key ?? undefined) as Node | undefined
      node = (pair?.value ?? undefined) as Node | undefined
    } else if (node && isSeq(node)) {
      node = (node.items[Number(seg)] ?? undefined) as Node | undefined
    } else {
      node = undefined
    }
    if (!node && !keyNode) break
    nearest = node ?? keyNode ?? nearest
  }
  return { node, keyNode, nearest }
}

/** The 1-based position of an offset; offsets past the end land on the last character. */
export function posOf(pf: ParsedFile, offset: number): SourcePos {
  const { line, col } = pf.lineCounter.linePos(offset)
  return { file: pf.file, line: Math.max(line, 1), col: Math.max(col, 1) }
}

/**
 * Where to point for `segments`: the value node, or with `at: 'key'` the key that names it
 * (unknown fields, misplaced fields). Falls back to the nearest node that exists, then 1:1.
 */
export function posAt(
  pf: ParsedFile,
  segments: readonly PathSegment[],
  at: 'value' | 'key' = 'value',
): SourcePos {
  if (pf.quick !== undefined) return posOf(pf, quickOffset(pf.quick, segments, at))
  const { node, keyNode, nearest } = locate(pf, segments)
  const target = at === 'key' ? (keyNode ?? node) : (node ?? keyNode)
  // An empty value (`ttl:`) is a null scalar with an empty range: point at its key instead.
  const chosen =
    target?.range && !(isScalar(target) && target.value === null && target.range[0] === target.range[1])
      ? target
      : (keyNode ?? nearest)
  return posOf(pf, chosen?.range?.[0] ?? 0)
}

/** posAt's choice, made on quick-yaml's nodes: the same walk and the same fallbacks. */
function quickOffset(root: QuickNode, segments: readonly PathSegment[], at: 'value' | 'key'): number {
  let node: QuickNode | undefined = root
  let key: number | undefined
  let nearest = root.start
  for (const seg of segments) {
    key = undefined
    if (node?.pairs) {
      const pair = pairNamed(node.pairs, String(seg))
      key = pair?.keyStart
      node = pair?.value
    } else if (node?.items) node = node.items[Number(seg)]
    else node = undefined
    if (node === undefined && key === undefined) break
    nearest = node?.start ?? key ?? nearest
  }
  // a key is never an empty null; an empty value (`ttl:`) points at its key, as in posAt
  if (at === 'key' && key !== undefined) return key
  if (node === undefined) return key ?? nearest
  return node.empty ? (key ?? nearest) : node.start
}

/** The first pair of a quick-yaml map with key `name` (a loop, not a closure per step of a walk). */
function pairNamed(pairs: readonly QuickPair[], name: string): QuickPair | undefined {
  for (let i = 0; i < pairs.length; i++) if (pairs[i]!.key === name) return pairs[i]
  return undefined
}

/** JSON Pointer (ajv's instancePath) → segments; numeric segments stay strings. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === '') return []
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}
