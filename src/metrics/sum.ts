/**
 * One CacheStats for several processes serving as one cache (`cachet serve --workers N`): what
 * the admin listener's `/stats` and `/metrics` report, so that a scrape counts the whole server,
 * not whichever worker answered. Counters and held bytes and entries are summed; `store.up` and
 * `near.tracking` hold only when they hold in every worker; the policy is the first worker's
 * (a reload reaches all of them); reload counters are the largest (one SIGHUP reloads every
 * worker once: summing would count it N times) and `lastError` the first one reported.
 *
 * Workers that died leave their counters behind (`retire`): the primary adds them in
 * (`withRetired`), so that the fleet's counters never go backwards when a worker is replaced,
 * as Prometheus counters must not (a decrease reads as a restart, and rate() over it is wrong).
 * What a dead worker held (entries, bytes) is gone with it, and is not added.
 */
import type { CacheStats, HistogramSnapshot, Outcome, RuleStats } from './stats.js'

function addRecord(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const k in from) into[k] = (into[k] ?? 0) + from[k]!
}

function sumHistogram(a: HistogramSnapshot, b: HistogramSnapshot): HistogramSnapshot {
  return {
    count: a.count + b.count,
    sumSeconds: a.sumSeconds + b.sumSeconds,
    // every process has the same bounds (metrics/counters.ts)
    buckets: a.buckets.map((x, i) => ({ le: x.le, count: x.count + (b.buckets[i]?.count ?? 0) })),
  }
}

/** The stats of `all` (at least one) as one cache's; rules merged by id, in the first's order. */
export function sumStats(all: readonly CacheStats[], at: Date = new Date()): CacheStats {
  const first = all[0]
  if (first === undefined) throw new TypeError('sumStats needs at least one CacheStats')
  const rules = new Map<
    string,
    {
      r: RuleStats
      outcomes: Record<string, number>
      bypass: Record<string, number>
      notStored: Record<string, number>
      stored: number
      bytesServed: number
      refreshes: number
    }
  >()
  let store = first.store
  let unmatched = 0
  let purges = 0
  const reloads = { ok: 0, failed: 0, applied: 0, unchanged: 0 }
  let lastError: CacheStats['reloads']['lastError'] = null
  for (const st of all) {
    for (const r of st.rules) {
      let acc = rules.get(r.id)
      if (acc === undefined) {
        acc = { r, outcomes: {}, bypass: {}, notStored: {}, stored: 0, bytesServed: 0, refreshes: 0 }
        rules.set(r.id, acc)
      }
      addRecord(acc.outcomes, r.outcomes)
      addRecord(acc.bypass, r.bypass)
      addRecord(acc.notStored, r.notStored)
      acc.stored += r.stored
      acc.bytesServed += r.bytesServed
      acc.refreshes += r.refreshes
    }
    unmatched += st.unmatched
    purges += st.purges
    reloads.ok = Math.max(reloads.ok, st.reloads.ok)
    reloads.failed = Math.max(reloads.failed, st.reloads.failed)
    reloads.applied = Math.max(reloads.applied, st.reloads.applied)
    reloads.unchanged = Math.max(reloads.unchanged, st.reloads.unchanged)
    lastError ??= st.reloads.lastError
    if (st !== first) store = sumStore(store, st.store)
  }
  return {
    name: first.name,
    at: at.toISOString(),
    policy: first.policy,
    rules: [...rules.values()].map((a) => ({
      id: a.r.id,
      file: a.r.file,
      line: a.r.line,
      outcomes: a.outcomes as Record<Outcome, number>,
      bypass: a.bypass,
      notStored: a.notStored,
      stored: a.stored,
      bytesServed: a.bytesServed,
      refreshes: a.refreshes,
    })),
    unmatched,
    store,
    reloads: { ...reloads, lastError },
    purges,
  }
}

function sumStore(a: CacheStats['store'], b: CacheStats['store']): CacheStats['store'] {
  const near =
    a.near !== undefined && b.near !== undefined
      ? {
          tracking: a.near.tracking && b.near.tracking,
          hits: a.near.hits + b.near.hits,
          misses: a.near.misses + b.near.misses,
          bypassed: a.near.bypassed + b.near.bypassed,
          entries: a.near.entries + b.near.entries,
          bytes: a.near.bytes + b.near.bytes,
          invalidations: a.near.invalidations + b.near.invalidations,
          flushes: a.near.flushes + b.near.flushes,
        }
      : (a.near ?? b.near)
  return {
    kind: a.kind,
    up: a.up && b.up,
    errors: a.errors + b.errors,
    timeouts: a.timeouts + b.timeouts,
    unavailable: a.unavailable + b.unavailable,
    read: sumHistogram(a.read, b.read),
    ...(a.entries !== undefined || b.entries !== undefined
      ? { entries: (a.entries ?? 0) + (b.entries ?? 0) }
      : {}),
    ...(a.bytes !== undefined || b.bytes !== undefined ? { bytes: (a.bytes ?? 0) + (b.bytes ?? 0) } : {}),
    ...(near !== undefined ? { near } : {}),
  }
}

/**
 * A dead worker's contribution to the sum from now on: its counters (the last ones the primary
 * read of it) added to `prev`'s, its gauges zeroed (its store is gone) and its health neutral
 * (`up` and `tracking` true, no `lastError`), so that only the live workers decide those.
 */
export function retire(prev: CacheStats | undefined, dead: CacheStats): CacheStats {
  const counters: CacheStats = {
    ...dead,
    rules: dead.rules.map((r) => ({ ...r, stored: 0 })),
    store: {
      ...dead.store,
      up: true,
      ...(dead.store.entries !== undefined ? { entries: 0 } : {}),
      ...(dead.store.bytes !== undefined ? { bytes: 0 } : {}),
      ...(dead.store.near !== undefined
        ? { near: { ...dead.store.near, tracking: true, entries: 0, bytes: 0 } }
        : {}),
    },
    reloads: { ...dead.reloads, lastError: null },
  }
  return prev === undefined ? counters : sumStats([prev, counters])
}

/**
 * `live` (at least one) summed with the counters `retired` workers left, for the rules the live
 * ones still have: a rule a reload removed is gone from the sum, as from one process's stats.
 */
export function withRetired(
  live: readonly CacheStats[],
  retired: CacheStats | undefined,
  at: Date = new Date(),
): CacheStats {
  if (retired === undefined) return sumStats(live, at)
  const ids = new Set(live.flatMap((st) => st.rules.map((r) => r.id)))
  // last: the policy, the name and the rules' order are the live workers'
  return sumStats([...live, { ...retired, rules: retired.rules.filter((r) => ids.has(r.id)) }], at)
}
