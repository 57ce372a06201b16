/**
 * A user's own store with only get/set/delete/close over a Map with expiry times: the least a
 * user might write (README "Library API"). It answers after a macrotask, as a networked store
 * would, so concurrent callers really interleave. `data` and `until` let a test look inside.
 */
import type { BasicStore } from '../../src/store/create.js'

export interface MapStore extends BasicStore {
  readonly data: Map<string, { value: Buffer; until: number }>
  /** when `key` expires (epoch ms), or undefined when it is absent or expired */
  until(key: string): number | undefined
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

export function mapStore(): MapStore {
  const data = new Map<string, { value: Buffer; until: number }>()
  let closed = false
  const live = (key: string) => {
    const e = data.get(key)
    if (e && e.until <= Date.now()) {
      data.delete(key)
      return undefined
    }
    return e
  }
  return {
    kind: 'map',
    data,
    until: (key) => live(key)?.until,
    get ready() {
      return !closed
    },
    async get(key) {
      await tick()
      return live(key)?.value
    },
    async set(key, value, ttlMs) {
      await tick()
      if (ttlMs > 0) data.set(key, { value, until: Date.now() + ttlMs })
      else data.delete(key)
    },
    async delete(keys) {
      await tick()
      let n = 0
      for (const k of keys) if (live(k) && data.delete(k)) n++
      return n
    },
    async close() {
      closed = true
      data.clear()
    },
  }
}
