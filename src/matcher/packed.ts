/**
 * The index's memory layout: every key, every candidate list and every candidate's test in one
 * Int32Array, each list laid out right after its key, so a request reads a few consecutive cache
 * lines per probe instead of one scattered object per field (at 100k rules that scatter was most
 * of a match: ~20 cache and TLB misses for three candidates). Hash slots sit in a second array.
 *
 * node   = [flags, end, keyLen, key…]            key: ASCII, 4 bytes an int, little end first
 * record = [rule, methods, kind | rooted << 3 | guardLen << 4, host, next, guard…, extra…]
 *          extra: LEAF, DEEP: [tokenCount, tokens…]; GLOB: [glob, variant]
 * A node's records follow its key up to `end`, in ascending rule position.
 */
import { PROGRAM_DEEP, PROGRAM_GLOB, PROGRAM_LEAF, type Program } from './program.js'

/** node flag: some key `<this key>/<segment>` exists (probe the second level) */
export const HAS_CHILD = 1
/** record field offsets */
export const R_RULE = 0
export const R_MASK = 1
export const R_KIND = 2
export const R_HOST = 3
export const R_NEXT = 4
export const R_GUARD = 5
/** node field offsets */
export const N_FLAGS = 0
export const N_END = 1
export const N_KEYLEN = 2
export const N_KEY = 3

const words = (n: number) => (n + 3) >> 2

function recordSize(p: Program): number {
  const base = R_GUARD + words(p.guard.length)
  if (p.kind === PROGRAM_LEAF || p.kind === PROGRAM_DEEP) return base + 1 + p.tokens!.length
  return p.kind === PROGRAM_GLOB ? base + 2 : base
}

function writeAscii(data: Int32Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) data[at + (i >> 2)]! |= s.charCodeAt(i) << ((i & 3) << 3)
}

/** hot path: data's packed ASCII text at `at` equals s[start, start + n) */
export function packedEquals(data: Int32Array, at: number, s: string, start: number, n: number): boolean {
  for (let i = 0; i < n; i++)
    if (((data[at + (i >> 2)]! >>> ((i & 3) << 3)) & 0xff) !== s.charCodeAt(start + i)) return false
  return true
}

/** FNV-1a over the UTF-16 code units of s[start, end) */
export function hashOf(s: string, start: number, end: number): number {
  let h = 0x811c9dc5
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h
}

/** Open addressing over nodes, load factor <= 1/2: slot i is [2i] = the key's hash, [2i + 1] =
 *  node offset + 1 (0: empty). A probe for a key that is not there (most probes: a path's `a/b`,
 *  its extension) reads one slot line and never the data. */
export class Slots {
  readonly size: number
  readonly #slots: Int32Array
  readonly #mask: number

  /** the nodes of `keys` whose table is `table` (PackedBuilder) */
  constructor(keys: readonly string[], tables: readonly number[], table: number, offsets: Int32Array) {
    let size = 0
    for (let id = 0; id < keys.length; id++) if (tables[id] === table) size++
    this.size = size
    let cap = 8
    while (cap < size * 2) cap *= 2
    this.#mask = cap - 1
    this.#slots = new Int32Array(cap * 2)
    for (let id = 0; id < keys.length; id++) {
      if (tables[id] !== table) continue
      const key = keys[id]!
      const h = hashOf(key, 0, key.length)
      let slot = h & this.#mask
      while (this.#slots[2 * slot + 1] !== 0) slot = (slot + 1) & this.#mask
      this.#slots[2 * slot] = h
      this.#slots[2 * slot + 1] = offsets[id]! + 1
    }
  }

  /** hot path: the node stored under s[start, end), without making that string; -1 if none */
  find(data: Int32Array, s: string, start: number, end: number): number {
    const slots = this.#slots,
      mask = this.#mask
    const len = end - start
    const h = hashOf(s, start, end)
    let slot = h & mask
    for (;;) {
      const node = slots[2 * slot + 1]! - 1
      if (node === -1) return -1
      if (
        slots[2 * slot] === h &&
        data[node + N_KEYLEN] === len &&
        packedEquals(data, node + N_KEY, s, start, len)
      )
        return node
      slot = (slot + 1) & mask
    }
  }
}

/**
 * Lays out nodes (a key and its records) in one Int32Array. Records arrive in ascending rule
 * order, so each node's records do too. Kept in flat arrays: at 100k rules, an object and a list
 * per record and per key were most of the index build (the collector's time).
 */
export class PackedBuilder {
  readonly keys: string[] = []
  /** per node: the caller's table number (Slots picks its own) */
  readonly tables: number[] = []
  readonly #flags: number[] = []
  readonly #ids: Map<string, number>[] = []
  readonly #recNode: number[] = []
  readonly #recRule: number[] = []
  readonly #recMask: number[] = []
  readonly #recHost: number[] = []
  readonly #recProgram: Program[] = []
  readonly #recGlob: number[] = []
  readonly #recVariant: number[] = []

  /** the number of `key`'s node in `table`, made on first use */
  node(table: number, key: string): number {
    const ids = (this.#ids[table] ??= new Map())
    let id = ids.get(key)
    if (id === undefined) {
      id = this.keys.length
      ids.set(key, id)
      this.keys.push(key)
      this.tables.push(table)
      this.#flags.push(0)
    }
    return id
  }

  flag(id: number, flag: number): void {
    this.#flags[id]! |= flag
  }

  /** one record in node `id`; `glob`, `variant`: a PROGRAM_GLOB record's Glob number and variant */
  add(
    id: number,
    rule: number,
    methods: number,
    host: number,
    program: Program,
    glob: number,
    variant: number,
  ): void {
    this.#recNode.push(id)
    this.#recRule.push(rule)
    this.#recMask.push(methods)
    this.#recHost.push(host)
    this.#recProgram.push(program)
    this.#recGlob.push(glob)
    this.#recVariant.push(variant)
  }

  /** the data, and each node's offset in it by node number */
  build(): { data: Int32Array; offsets: Int32Array } {
    const n = this.keys.length
    const offsets = new Int32Array(n)
    const cursor = new Int32Array(n)
    const recs = this.#recNode.length
    for (let id = 0; id < n; id++) cursor[id] = N_KEY + words(this.keys[id]!.length)
    for (let k = 0; k < recs; k++) cursor[this.#recNode[k]!]! += recordSize(this.#recProgram[k]!)
    let total = 0
    for (let id = 0; id < n; id++) {
      const size = cursor[id]!
      offsets[id] = total
      total += size
    }
    const data = new Int32Array(total)
    for (let id = 0; id < n; id++) {
      const key = this.keys[id]!
      const node = offsets[id]!
      data[node + N_FLAGS] = this.#flags[id]!
      data[node + N_KEYLEN] = key.length
      writeAscii(data, node + N_KEY, key)
      cursor[id] = node + N_KEY + words(key.length)
    }
    for (let k = 0; k < recs; k++) {
      const id = this.#recNode[k]!
      const p = this.#recProgram[k]!
      const at = cursor[id]!
      const next = at + recordSize(p)
      data[at + R_RULE] = this.#recRule[k]!
      data[at + R_MASK] = this.#recMask[k]!
      data[at + R_KIND] = p.kind | (p.rooted ? 8 : 0) | (p.guard.length << 4)
      data[at + R_HOST] = this.#recHost[k]!
      data[at + R_NEXT] = next
      writeAscii(data, at + R_GUARD, p.guard)
      const extra = at + R_GUARD + words(p.guard.length)
      if (p.kind === PROGRAM_GLOB) {
        data[extra] = this.#recGlob[k]!
        data[extra + 1] = this.#recVariant[k]!
      } else if (p.tokens !== null) {
        data[extra] = p.tokens.length
        for (let i = 0; i < p.tokens.length; i++) data[extra + 1 + i] = p.tokens[i]!
      }
      cursor[id] = next
    }
    for (let id = 0; id < n; id++) data[offsets[id]! + N_END] = cursor[id]!
    return { data, offsets }
  }
}
