/**
 * One suite per store: the same tests against the memory store and a real redis-server (started
 * by the harness, LRU eviction, stopped after the suite), each test on a fresh site serving
 * `policy` with the routes `app` sets.
 */
import { suite, type Test } from 'uvu'
import { type Site, siteTracker } from './origin.js'
import { policyDir } from './policies.js'
import { type RedisProc, startRedis } from './redis-server.js'

export type StoreKind = 'memory' | 'redis'

export function onBothStores(
  title: string,
  policy: string,
  app: (site: Site) => void,
  define: (s: Test, start: () => Promise<Site>, kind: StoreKind) => void,
): void {
  for (const kind of ['memory', 'redis'] as const) {
    const s = suite(`${title} (${kind} store)`)
    const sites = siteTracker()
    let redis: RedisProc | undefined
    s.before(async () => {
      if (kind === 'redis')
        redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
    })
    s.after.each(() => sites.closeAll())
    s.after(async () => {
      await redis?.stop()
    })
    const start = async () => {
      const site = await sites.start({ policies: policyDir(policy), store: redis?.url })
      app(site)
      return site
    }
    define(s, start, kind)
    s.run()
  }
}
