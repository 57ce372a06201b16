/**
 * Type tests of createCache's options (checked by `tsc -p test/types`, test/types/types.test.ts):
 * every documented form compiles, and each misspelling below is a type error. An
 * `@ts-expect-error` line that stops being an error fails the check ("unused directive").
 */
import { Cluster, Redis } from 'ioredis'
import { type BasicStore, type CreateCacheOptions, createCache, type Store } from '../../src/index.js'

declare const ownStore: Store
declare const basic: BasicStore

export async function documentedForms(): Promise<void> {
  await createCache()
  await createCache({ policies: 'policies', store: process.env.REDIS_URL, watch: true })
  await createCache({ policies: ['policies/a', 'policies/b.yaml'], store: 'memory' })
  await createCache({ store: { memory: { maxBytes: 32 * 1024 * 1024 } } })
  await createCache({ store: 'redis://127.0.0.1:6379/0' })
  await createCache({ store: { redis: { host: '127.0.0.1', port: 6379, enableOfflineQueue: false } } })
  await createCache({ store: { redis: { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'main' } } })
  await createCache({ store: { cluster: [{ host: '127.0.0.1', port: 7000 }, '127.0.0.1:7001', 7002] } })
  await createCache({ store: { cluster: ['127.0.0.1:7000'], options: { scaleReads: 'master' } } })
  await createCache({ store: new Redis({ lazyConnect: true }) })
  await createCache({ store: new Cluster([7000], { lazyConnect: true }) })
  await createCache({ store: ownStore })
  await createCache({ store: basic })
  const all: Required<CreateCacheOptions> = {
    policies: 'policies',
    store: 'memory',
    watch: false,
    name: 'cachet',
    readDeadlineMs: 250,
    connectDeadlineMs: 1000,
    watchDebounceMs: 100,
    logger: console,
    coalesceWaitMs: 5000,
    lockTtlMs: 10_000,
    clock: Date,
  }
  await createCache(all)
}

export async function misspelt(): Promise<void> {
  // @ts-expect-error: "polices" is not an option (policies)
  await createCache({ polices: 'policies' })
  // @ts-expect-error: "memroy" is no store form
  await createCache({ store: { memroy: { maxBytes: 1024 } } })
  // @ts-expect-error: "maxByte" is not a memory store option (maxBytes)
  await createCache({ store: { memory: { maxByte: 1024 } } })
  // @ts-expect-error: "hots" is not an ioredis option (host)
  await createCache({ store: { redis: { hots: '127.0.0.1' } } })
  // @ts-expect-error: "clusters" is no store form
  await createCache({ store: { clusters: ['127.0.0.1:7000'] } })
  // @ts-expect-error: "scaleRead" is not a ClusterOptions field (scaleReads)
  await createCache({ store: { cluster: ['127.0.0.1:7000'], options: { scaleRead: 'master' } } })
  // @ts-expect-error: a number is no store
  await createCache({ store: 6379 })
  // @ts-expect-error: a store that lacks close()
  await createCache({ store: { get: basic.get, set: basic.set, delete: basic.delete } })
  const cache = await createCache()
  // @ts-expect-error: "publicMetric" is not an admin option (publicMetrics)
  cache.admin({ token: 'a-token-of-sixteen-or-more', publicMetric: true })
  // @ts-expect-error: the admin routes need a token
  cache.admin({ path: '/_cachet' })
  // @ts-expect-error: readDeadlineMs is a number of ms
  await createCache({ readDeadlineMs: '250ms' })
}
