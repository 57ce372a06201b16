/**
 * `cache.stats()`: the counters (counters.ts) read into one JSON-ready CacheStats (stats.ts).
 * Built on demand, off the request path; the Prometheus text is written from the same snapshot.
 */
import type { PolicySet } from '../policy-set.js'
import type { Store } from '../store/types.js'
import {
  BYPASS_REASONS,
  type CacheCounters,
  type Histogram,
  NOT_STORED_REASONS,
  OUTCOMES,
} from './counters.js'
import type { CacheStats, HistogramSnapshot, Outcome, RuleStats } from './stats.js'

export function snapshot(name: string, set: PolicySet, c: CacheCounters, store: Store): CacheStats {
  const rules: RuleStats[] = []
  for (const r of set.rules) {
    const k = set.counters[r.index]!
    // read(): a rule that never counted has no tables, and reading them must not make them
    const t = k.read()
    const outcomes = {} as Record<Outcome, number>
    for (let i = 0; i < OUTCOMES.length; i++) outcomes[OUTCOMES[i]!] = t.outcomes[i]!
    rules.push({
      id: r.id,
      file: r.pos.file,
      line: r.pos.line,
      outcomes,
      bypass: nonZero(BYPASS_REASONS, t.bypass),
      notStored: nonZero(NOT_STORED_REASONS, t.notStored),
      stored: k.stored,
      bytesServed: k.bytesServed,
      refreshes: k.refreshes,
    })
  }
  const mem = memoryStats(store)
  return {
    name,
    at: new Date().toISOString(),
    policy: { version: set.version, files: set.files, rules: set.rules.length },
    rules,
    unmatched: c.unmatched,
    store: {
      kind: store.kind,
      up: store.ready && !c.readFailing,
      errors: c.storeErrors,
      timeouts: c.storeTimeouts,
      unavailable: c.storeUnavailable,
      read: histogram(c.read),
      ...(mem === undefined ? {} : { entries: mem.entries, bytes: mem.bytes }),
      ...nearStats(store),
    },
    reloads: {
      ok: c.reloadsApplied + c.reloadsUnchanged,
      failed: c.reloadsFailed,
      applied: c.reloadsApplied,
      unchanged: c.reloadsUnchanged,
      lastError: c.lastReloadError === null ? null : { ...c.lastReloadError },
    },
    purges: c.purges,
  }
}

/** The reasons counted at least once (a rule that never bypassed has an empty record). */
function nonZero(names: readonly string[], counts: Float64Array): Record<string, number> {
  const out: Record<string, number> = {}
  for (let i = 0; i < names.length; i++) if (counts[i]! > 0) out[names[i]!] = counts[i]!
  return out
}

function histogram(h: Histogram): HistogramSnapshot {
  const buckets: { le: number | null; count: number }[] = []
  let cumulative = 0
  for (let i = 0; i < h.counts.length; i++) {
    cumulative += h.counts[i]!
    buckets.push({ le: i < h.bounds.length ? h.bounds[i]! : null, count: cumulative })
  }
  return { count: h.count, sumSeconds: h.sum, buckets }
}

/** The near cache's counters (`NearStore.near`), when the store has one. */
function nearStats(store: Store): { near?: NonNullable<CacheStats['store']['near']> } {
  const n = (store as { near?: unknown }).near as NonNullable<CacheStats['store']['near']> | undefined
  return n !== undefined && typeof n === 'object' && typeof n.tracking === 'boolean'
    ? {
        near: {
          tracking: n.tracking,
          hits: n.hits,
          misses: n.misses,
          bypassed: n.bypassed,
          entries: n.entries,
          bytes: n.bytes,
          invalidations: n.invalidations,
          flushes: n.flushes,
        },
      }
    : {}
}

/** The memory store's entries and bytes (`MemoryStore.stats`); undefined for other stores. */
function memoryStats(store: Store): { entries: number; bytes: number } | undefined {
  if (store.kind !== 'memory') return undefined
  const s = (store as { stats?: unknown }).stats as { entries?: unknown; bytes?: unknown } | undefined
  return s !== undefined && typeof s.entries === 'number' && typeof s.bytes === 'number'
    ? { entries: s.entries, bytes: s.bytes }
    : undefined
}
