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
import { runSteps } from '../steps.js'
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

/** PackedBuilder's record chunks: 64Ki ints (256 KiB) each */
const CHUNK_BITS = 16
const CHUNK = 1 << CHUNK_BITS
const CHUNK_MASK = CHUNK - 1
/** build() pauses every this many nodes or records of a pass (a few ms of copying) */
const BUILD_MASK = (1 << 14) - 1

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

  constructor(slots: Int32Array, size: number) {
    this.size = size
    this.#slots = slots
    this.#mask = (slots.length >> 1) - 1
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

/** twice the slots, the same entries */
function grow(old: Int32Array): Int32Array {
  const slots = new Int32Array(old.length * 2)
  const mask = (slots.length >> 1) - 1
  for (let i = 0; i < old.length; i += 2) {
    if (old[i + 1] === 0) continue
    let slot = old[i]! & mask
    while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask
    slots[2 * slot] = old[i]!
    slots[2 * slot + 1] = old[i + 1]!
  }
  return slots
}

/**
 * Lays out nodes (a key and its records) in one Int32Array. Records arrive in ascending rule
 * order, so each node's records do too. Kept in flat arrays: at 100k rules, an object and a list
 * per record and per key were most of the index build (the collector's time).
 */
export class PackedBuilder {
  readonly keys: string[] = []
  readonly #flags: number[] = []
  readonly #table: number[] = []
  /** per table: open addressing as in Slots, holding node numbers + 1 until build() */
  readonly #slots: Int32Array[] = []
  readonly #sizes: number[] = []
  /**
   * records as they arrive, already packed (their R_NEXT holds their size until build()), in
   * chunks of CHUNK ints: record `at` is chunk `at >>> CHUNK_BITS`, offset `at & CHUNK_MASK`.
   * Chunks, not one array doubled as it fills: at 100k rules each doubling copied megabytes in one
   * stretch, and the last copies were the longest pauses of a reload's compile.
   */
  readonly #chunks: Int32Array[] = []
  /** the next free int, as a stream position */
  #used = 0
  readonly #recNode: number[] = []
  readonly #recAt: number[] = []

  /** the number of `key`'s node in `table`, made on first use (a JS Map here, and hashing
   *  every key again for the Slots, was a third of the index build at 100k rules) */
  node(table: number, key: string): number {
    let slots = this.#slots[table]
    if (slots === undefined) {
      slots = this.#slots[table] = new Int32Array(16)
      this.#sizes[table] = 0
    }
    const h = hashOf(key, 0, key.length)
    let mask = (slots.length >> 1) - 1
    let slot = h & mask
    for (;;) {
      const id = slots[2 * slot + 1]! - 1
      if (id === -1) break
      if (slots[2 * slot] === h && this.keys[id] === key) return id
      slot = (slot + 1) & mask
    }
    const id = this.keys.length
    this.keys.push(key)
    this.#flags.push(0)
    this.#table.push(table)
    const size = ++this.#sizes[table]!
    if (size * 2 > mask + 1) {
      slots = this.#slots[table] = grow(slots)
      mask = (slots.length >> 1) - 1
      slot = h & mask
      while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask
    }
    slots[2 * slot] = h
    slots[2 * slot + 1] = id + 1
    return id
  }

  /** table's Slots over the built data (call after build()) */
  slots(table: number, offsets: Int32Array): Slots {
    const slots = this.#slots[table]
    if (slots === undefined) return new Slots(new Int32Array(2), 0)
    for (let i = 1; i < slots.length; i += 2) if (slots[i] !== 0) slots[i] = offsets[slots[i]! - 1]! + 1
    return new Slots(slots, this.#sizes[table]!)
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
    p: Program,
    glob: number,
    variant: number,
  ): void {
    const size = recordSize(p)
    // a record never straddles two chunks (records are far smaller than a chunk: a glob is at
    // most MAX_GLOB_LENGTH characters)
    let off = this.#used & CHUNK_MASK
    if (off + size > CHUNK) {
      this.#used += CHUNK - off
      off = 0
    }
    // a chunk is made when the record starts past the last one: also when the records before
    // filled it exactly (`off` is then 0 with no room left; that case wrote over the chunk's
    // first record and pointed past the chunks, and compiling the set threw)
    const chunk = this.#used >>> CHUNK_BITS
    if (chunk === this.#chunks.length) this.#chunks.push(new Int32Array(CHUNK))
    const data = this.#chunks[chunk]!
    this.#recNode.push(id)
    this.#recAt.push(this.#used)
    this.#used += size
    const at = off
    data[at + R_RULE] = rule
    data[at + R_MASK] = methods
    data[at + R_KIND] = p.kind | (p.rooted ? 8 : 0) | (p.guard.length << 4)
    data[at + R_HOST] = host
    data[at + R_NEXT] = size
    writeAscii(data, at + R_GUARD, p.guard)
    const extra = at + R_GUARD + words(p.guard.length)
    if (p.kind === PROGRAM_GLOB) {
      data[extra] = glob
      data[extra + 1] = variant
    } else if (p.tokens !== null) {
      data[extra] = p.tokens.length
      for (let i = 0; i < p.tokens.length; i++) data[extra + 1 + i] = p.tokens[i]!
    }
  }

  /** the data, and each node's offset in it by node number; table `late`'s nodes go last */
  build(late: number): { data: Int32Array; offsets: Int32Array } {
    return runSteps(this.buildSteps(late))
  }

  /** build(), pausing (a bare `yield`) every BUILD_STEP nodes or records of each pass */
  *buildSteps(late: number): Generator<void, { data: Int32Array; offsets: Int32Array }> {
    const n = this.keys.length
    const offsets = new Int32Array(n)
    const cursor = new Int32Array(n)
    const recs = this.#recNode.length
    const chunks = this.#chunks
    const recNode = this.#recNode
    const recAt = this.#recAt
    const sizeAt = (at: number) => chunks[at >>> CHUNK_BITS]![(at & CHUNK_MASK) + R_NEXT]!
    for (let id = 0; id < n; id++) cursor[id] = N_KEY + words(this.keys[id]!.length)
    for (let k = 0; k < recs; k++) {
      if ((k & BUILD_MASK) === BUILD_MASK) yield
      cursor[recNode[k]!]! += sizeAt(recAt[k]!)
    }
    // the nodes of table `late` go last: the others (one-segment keys, extensions, residual:
    // few, and met by many requests) then sit together, and stay in the caches
    let total = 0
    for (const last of [false, true])
      for (let id = 0; id < n; id++) {
        if ((this.#table[id] === late) !== last) continue
        const size = cursor[id]!
        offsets[id] = total
        total += size
      }
    yield
    const data = new Int32Array(total)
    for (let id = 0; id < n; id++) {
      if ((id & BUILD_MASK) === BUILD_MASK) yield
      const key = this.keys[id]!
      const node = offsets[id]!
      data[node + N_FLAGS] = this.#flags[id]!
      data[node + N_KEYLEN] = key.length
      writeAscii(data, node + N_KEY, key)
      cursor[id] = node + N_KEY + words(key.length)
    }
    for (let k = 0; k < recs; k++) {
      if ((k & BUILD_MASK) === BUILD_MASK) yield
      const id = recNode[k]!
      const from = recAt[k]!
      const chunk = chunks[from >>> CHUNK_BITS]!
      const off = from & CHUNK_MASK
      const size = chunk[off + R_NEXT]!
      const at = cursor[id]!
      for (let i = 0; i < size; i++) data[at + i] = chunk[off + i]!
      data[at + R_NEXT] = at + size
      cursor[id] = at + size
    }
    for (let id = 0; id < n; id++) data[offsets[id]! + N_END] = cursor[id]!
    chunks.length = 0
    return { data, offsets }
  }
}
