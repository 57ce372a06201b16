/**
 * A URL flood straight into a store, shaped like the middleware's writes, and the process's memory
 * figures around it. Used by test/regressions/issue-12-memory-bound.test.ts (in a child process
 * started with `--expose-gc`) and by bench/memory-flood.ts.
 *
 * Run as a script it floods a fresh MemoryStore and prints the figures as one JSON line:
 *   node --expose-gc --import tsx test/store/flood.ts '{"urls":200000,"maxBytes":8388608}'
 */
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { encodeEntry } from '../../src/request/entry.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'

export interface MemoryFigures {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

/** `process.memoryUsage()`, after two full collections when `collect` (needs `--expose-gc`). */
export function memoryFigures(collect: boolean): MemoryFigures {
  if (collect) {
    const gc = (globalThis as { gc?: () => void }).gc
    if (typeof gc !== 'function') throw new Error('memoryFigures(true) needs node --expose-gc')
    // two passes: the first may only schedule finalisers (ArrayBuffer backing stores)
    gc()
    gc()
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
  return { rss, heapUsed, external, arrayBuffers }
}

export interface StoreFloodOptions {
  /** distinct URLs, each written once. @default 200_000 */
  urls?: number
  /** response body bytes. @default 256 */
  bodyBytes?: number
}

const digest = (s: string) => createHash('sha256').update(s).digest('base64url')

/**
 * What one miss on a new URL writes: its URL generation token (`tokens`), then the encoded entry
 * under `<name>:<rule>:<digest>` (both key shapes as src/key/compose.ts and
 * src/generation/keys.ts build them, encoded by the real `encodeEntry`).
 */
export async function floodStore(store: Store, opts: StoreFloodOptions = {}): Promise<void> {
  const urls = opts.urls ?? 200_000
  const body = Buffer.alloc(opts.bodyBytes ?? 256, 'x')
  const headers = ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'public, max-age=300']
  const now = Date.now()
  for (let i = 0; i < urls; i++) {
    const d = digest(`/flood/${i.toString(36)}`)
    const tokens = await store.tokens(['flood:g:a', 'flood:g:r:flood', `flood:g:u:${d}`], 86_400_000)
    const value = encodeEntry({
      kind: 'response',
      status: 200,
      headers,
      storedAt: now,
      expires: now + 300_000,
      initialAge: 0,
      variant: null,
      varyNames: null,
      nullBody: false,
      tokens,
      headerTags: [],
      headerTokens: [],
      swr: 0,
      sie: 0,
      siu: 0,
      body,
    })
    await store.set(`flood:flood-v1:${d}`, value, 300_000)
  }
}

export interface StoreFloodResult {
  maxBytes: number
  before: MemoryFigures
  after: MemoryFigures
  store: { entries: number; bytes: number }
}

/** A fresh MemoryStore of `maxBytes`, flooded; figures after gc (needs `--expose-gc`). */
export async function floodMemoryStore(
  maxBytes: number,
  opts: StoreFloodOptions = {},
): Promise<StoreFloodResult> {
  const store = new MemoryStore({ maxBytes })
  // warm up first (JIT code, lru-cache's first arrays), so that `before` is the steady baseline
  await floodStore(new MemoryStore({ maxBytes: 1 << 20 }), { ...opts, urls: 2000 })
  const before = memoryFigures(true)
  await floodStore(store, opts)
  const after = memoryFigures(true)
  const { entries, bytes } = store.stats
  return { maxBytes, before, after, store: { entries, bytes } }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = JSON.parse(process.argv[2] ?? '{}') as StoreFloodOptions & { maxBytes?: number }
  const r = await floodMemoryStore(o.maxBytes ?? 8 * 1024 * 1024, o)
  process.stdout.write(`${JSON.stringify(r)}\n`)
}
