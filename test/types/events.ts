/**
 * Type tests of a Cache's events (checked by `tsc -p test/types`): the two documented events
 * with their listeners' arguments, and any other name is a type error.
 */
import { type Cache, createCache, type PolicyError, type ReloadEvent } from '../../src/index.js'

export async function events(): Promise<Cache> {
  const cache = await createCache()
  cache.on('reload', (e: ReloadEvent) => {
    const version: string = e.version
    const changed: boolean = e.changed
    void version
    void changed
  })
  cache.on('error', (err: PolicyError) => {
    for (const d of err.diagnostics) void `${d.file}:${d.line}:${d.col} ${d.code}`
  })
  cache.once('reload', ({ version }) => void version)
  const onError = (err: PolicyError) => void err.message
  cache.off('error', onError)

  // @ts-expect-error: "relaod" is not an event (reload)
  cache.on('relaod', () => {})
  // @ts-expect-error: "reloaded" is not an event
  cache.once('reloaded', () => {})
  // @ts-expect-error: "change" is not an event
  cache.addListener('change', () => {})
  // @ts-expect-error: a reload listener gets a ReloadEvent, not a string
  cache.on('reload', (version: string) => void version)
  // @ts-expect-error: ReloadEvent has no "rules"
  cache.on('reload', (e) => void e.rules)
  return cache
}
