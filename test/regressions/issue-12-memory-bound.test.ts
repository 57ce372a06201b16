/**
 * Issue 12, item 9: memory beyond the bound. The memory store counted key and value bytes only,
 * so its 64 MiB let a flood of 600k URLs grow the process by ~300 MB: every entry also costs V8
 * string and Buffer headers, lru-cache's bookkeeping, and each small value was a view into one of
 * Node's shared 8 KiB pool slabs, which it kept alive with the garbage around it.
 *
 * What must hold: after a flood many times larger than `maxBytes`, the store's own accounting is
 * within `maxBytes`, and what the process holds live (heap + ArrayBuffers, after a full gc) grew
 * by at most LIVE_FACTOR x maxBytes. The flood runs in a child process started with
 * `--expose-gc`, so that its heap is measured alone and after a real collection (test/store/flood.ts).
 * Before the fix the live growth was 2.1x maxBytes here; after it, 0.9x.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreFloodResult } from '../store/flood.js'

const test = suite('regression: the memory store bounds what the process holds (issue 12.9)')

const FLOOD = fileURLToPath(new URL('../store/flood.ts', import.meta.url))
const MiB = 1024 * 1024
/** README "Stores": live memory stays within about maxBytes; allow for the runtime's own noise */
const LIVE_FACTOR = 1.25

function flood(opts: { urls: number; maxBytes: number; bodyBytes: number }): Promise<StoreFloodResult> {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', '--import', 'tsx', FLOOD, JSON.stringify(opts)]
    execFile(process.execPath, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`flood failed: ${err.message}\n${stderr}`))
        return
      }
      resolve(JSON.parse(stdout) as StoreFloodResult)
    })
  })
}

test('60k URLs (7x the bound) into an 8 MiB store: accounting <= maxBytes, live growth <= 1.25x', async () => {
  const maxBytes = 8 * MiB
  const r = await flood({ urls: 60_000, maxBytes, bodyBytes: 256 })
  assert.ok(r.store.bytes <= maxBytes, `store accounting ${r.store.bytes} > maxBytes ${maxBytes}`)
  assert.ok(r.store.bytes > maxBytes * 0.9, `the flood filled the store (${r.store.bytes} bytes)`)
  const live = r.after.heapUsed + r.after.arrayBuffers - r.before.heapUsed - r.before.arrayBuffers
  const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`
  assert.ok(
    live <= LIVE_FACTOR * maxBytes,
    `live growth ${mb(live)} (heap ${mb(r.after.heapUsed - r.before.heapUsed)}, ` +
      `ArrayBuffers ${mb(r.after.arrayBuffers - r.before.arrayBuffers)}) > ${LIVE_FACTOR} x ${mb(maxBytes)}, ` +
      `${r.store.entries} entries`,
  )
})

test.run()
